//! A listed forsendelse as the agent works with it, whichever SvarInn API
//! listed it: V1 ([`crate::svarinn::Forsendelse`]) and V2
//! ([`crate::svarinn_v2::Forsendelse`]) both map into [`Listed`], so the
//! checks, the download, the unzip and the journal are the same for both;
//! only the wire differs. The raw JSON is kept as received, for
//! `inn/<id>/forsendelse.json` (the fagsystem sees its API's own shape).
//! [`parse_page`] reads either API's list body item by item into it.

use time::OffsetDateTime;

use crate::svarinn::{self, FORSENDELSE_TYPE_DIGISOS, SvarInnError};
use crate::svarinn_v2;

/// Which SvarInn API a forsendelse came from (and is acknowledged through). Read from
/// the config as `"v1"` or `"v2"`; V1 when absent (configs and agents from before V2).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum SvarInnApi {
    #[default]
    V1,
    V2,
}

impl SvarInnApi {
    /// `v1` or `v2`, as in the config and in metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            SvarInnApi::V1 => "v1",
            SvarInnApi::V2 => "v2",
        }
    }
}

/// One listed forsendelse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub api: SvarInnApi,
    /// The forsendelse's UUID, as listed (not yet checked).
    pub id: String,
    pub tittel: String,
    pub avsender_navn: Option<String>,
    /// `nav.digisos` for søknader from NAV Digisos.
    pub forsendelse_type: Option<String>,
    /// When SvarUt received it; `None` when absent or unreadable.
    pub sendt_at: Option<OffsetDateTime>,
    /// The plaintext files (for a ZIP, its entries).
    pub files: Vec<ListedFile>,
    /// Where the encrypted file is; the agent follows it only on the configured origin.
    pub download_url: String,
    /// The forsendelse's JSON exactly as received.
    pub raw_json: String,
}

/// One plaintext file of a listed forsendelse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedFile {
    pub name: String,
    pub mime_type: String,
    /// Hex SHA-256 of the content, as listed.
    pub sha256_hex: String,
    /// Bytes; `None` when SvarInn does not know (it lists 0).
    pub size: Option<u64>,
}

impl ListedFile {
    /// The declared SHA-256; upper- and lower-case hex are both accepted.
    pub fn sha256(&self) -> Result<[u8; 32], SvarInnError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(self.sha256_hex.trim(), &mut out)
            .map_err(|_| SvarInnError::Sha256(self.sha256_hex.clone()))?;
        Ok(out)
    }
}

impl Listed {
    /// From V1's item and the raw JSON it was parsed from.
    pub fn from_v1(f: &svarinn::Forsendelse, raw_json: &str) -> Self {
        Listed {
            api: SvarInnApi::V1,
            id: f.id.clone(),
            tittel: f.tittel.clone(),
            avsender_navn: f.avsender.as_ref().and_then(|a| a.navn.clone()),
            forsendelse_type: f.forsendelse_type.clone(),
            sendt_at: f.date.as_ref().and_then(|d| d.to_offset_date_time().ok()),
            files: f
                .filmetadata
                .iter()
                .map(|m| ListedFile {
                    name: m.filnavn.clone(),
                    mime_type: m.mimetype.clone(),
                    sha256_hex: m.sha256hash.clone(),
                    size: m.declared_size(),
                })
                .collect(),
            download_url: f.download_url.clone(),
            raw_json: raw_json.to_owned(),
        }
    }

    /// From V2's item and the raw JSON it was parsed from.
    pub fn from_v2(f: &svarinn_v2::Forsendelse, raw_json: &str) -> Self {
        Listed {
            api: SvarInnApi::V2,
            id: f.id.clone(),
            tittel: f.tittel.clone(),
            avsender_navn: f
                .avsender
                .as_ref()
                .and_then(|a| a.navn().map(str::to_owned)),
            forsendelse_type: f.forsendelse_type.clone(),
            sendt_at: f.dato.as_ref().and_then(|d| d.to_offset_date_time().ok()),
            files: f
                .filer
                .iter()
                .map(|m| ListedFile {
                    name: m.filnavn.clone(),
                    mime_type: m.mime_type.clone(),
                    sha256_hex: m.hash.clone(),
                    size: (m.storrelse != 0).then_some(m.storrelse),
                })
                .collect(),
            download_url: f.nedlastingslenke.clone(),
            raw_json: raw_json.to_owned(),
        }
    }

    /// True for søknader from NAV Digisos (the ZIP holds `forsendelseMetadata.json`).
    pub fn is_digisos(&self) -> bool {
        self.forsendelse_type.as_deref() == Some(FORSENDELSE_TYPE_DIGISOS)
    }

    /// The declared size of the files together, when SvarInn knows every one.
    pub fn declared_size(&self) -> Option<u64> {
        let sizes: Vec<u64> = self.files.iter().filter_map(|f| f.size).collect();
        (!sizes.is_empty()).then(|| sizes.iter().sum())
    }
}

impl SvarInnApi {
    /// The other one (a row recorded under one API may be worked on after a switch).
    pub fn other(self) -> SvarInnApi {
        match self {
            SvarInnApi::V1 => SvarInnApi::V2,
            SvarInnApi::V2 => SvarInnApi::V1,
        }
    }
}

/// One forsendelse's JSON (as listed by `api`, or recorded from such a list) in the
/// common model.
pub fn parse_item(api: SvarInnApi, raw: &str) -> Result<Listed, serde_json::Error> {
    match api {
        SvarInnApi::V1 => {
            serde_json::from_str::<svarinn::Forsendelse>(raw).map(|f| Listed::from_v1(&f, raw))
        }
        SvarInnApi::V2 => {
            serde_json::from_str::<svarinn_v2::Forsendelse>(raw).map(|f| Listed::from_v2(&f, raw))
        }
    }
}

/// One item of a list read by [`parse_page`].
#[derive(Debug)]
pub struct PageItem {
    /// The item's JSON exactly as received (lossily UTF-8).
    pub raw: String,
    /// The item's `id` if it has a string one, even when the rest does not parse.
    pub id: Option<String>,
    /// The item in the common model, or why it does not match its API's.
    pub listed: Result<Listed, serde_json::Error>,
}

/// A list read by [`parse_page`]: the first [`svarinn::MAX_PAGE`] items, and how many more.
#[derive(Debug)]
pub struct Page {
    pub items: Vec<PageItem>,
    /// Items past the first [`svarinn::MAX_PAGE`]: counted, never parsed (not the API).
    pub ignored: usize,
}

/// Read a list body of either API item by item (as [`svarinn::parse_list_lenient`]), so
/// one malformed forsendelse never blocks the others. Fails only when the body is not a
/// JSON array.
pub fn parse_page(api: SvarInnApi, body: &[u8]) -> Result<Page, SvarInnError> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: Option<String>,
    }
    let (items, total) = svarinn::split_list_first(body, svarinn::MAX_PAGE)?;
    Ok(Page {
        ignored: total - items.len(),
        items: items
            .into_iter()
            .map(|bytes| {
                let raw = String::from_utf8_lossy(bytes).into_owned();
                let listed = match api {
                    SvarInnApi::V1 => serde_json::from_slice::<svarinn::Forsendelse>(bytes)
                        .map(|f| Listed::from_v1(&f, &raw)),
                    SvarInnApi::V2 => serde_json::from_slice::<svarinn_v2::Forsendelse>(bytes)
                        .map(|f| Listed::from_v2(&f, &raw)),
                };
                PageItem {
                    id: serde_json::from_slice::<IdOnly>(bytes)
                        .ok()
                        .and_then(|i| i.id),
                    listed,
                    raw,
                }
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_of_either_api_keep_the_good_items_and_count_the_excess() {
        let v2_item = |id: &str| {
            format!(
                r#"{{"id":"{id}","tittel":"t","filer":[],"nedlastingslenke":"https://x/{id}"}}"#
            )
        };
        let mut items: Vec<String> = (0..svarinn::MAX_PAGE + 3)
            .map(|i| v2_item(&format!("id-{i}")))
            .collect();
        items[1] = r#"{"id":"bad","filer":"ikke en liste"}"#.into();
        let body = format!("[{}]", items.join(","));
        let page = parse_page(SvarInnApi::V2, body.as_bytes()).unwrap();
        assert_eq!((page.items.len(), page.ignored), (svarinn::MAX_PAGE, 3));
        let first = page.items[0].listed.as_ref().unwrap();
        assert_eq!((first.api, first.id.as_str()), (SvarInnApi::V2, "id-0"));
        assert_eq!(page.items[0].raw, items[0]);
        assert_eq!(page.items[1].id.as_deref(), Some("bad"));
        assert!(page.items[1].listed.is_err());
        // A V2 item is not a V1 one.
        let as_v1 = parse_page(SvarInnApi::V1, body.as_bytes()).unwrap();
        assert!(as_v1.items.iter().all(|i| i.listed.is_err()));
        assert!(parse_page(SvarInnApi::V2, b"{}").is_err());
    }

    const SHA: &str = "82275bb0c47c7e5fe81e3f58242d44e3ca2f5ea438cea0013d9bfdeec736c910";

    #[test]
    fn the_same_forsendelse_from_v1_and_v2_is_the_same_listed_apart_from_its_api() {
        let v1 = format!(
            r#"{{"id":"f11f5cba-68ad-422f-ad2c-922cd6060f46","tittel":"Søknad",
            "date":1705430351000,"avsender":{{"navn":"Storevik kommune"}},
            "mottaker":{{"navn":"NAV Frogn"}},"status":"Klar for mottak","niva":"4",
            "filmetadata":[{{"filnavn":"soknad.pdf","mimetype":"application/pdf",
                "sha256hash":"{SHA}","size":15324}}],
            "forsendelseType":"nav.digisos","downloadUrl":"https://svarut.ks.no/d/1"}}"#
        );
        let v2 = format!(
            r#"{{"id":"f11f5cba-68ad-422f-ad2c-922cd6060f46","tittel":"Søknad",
            "dato":"2024-01-16T18:39:11Z",
            "avsender":{{"postadresse":{{"navn":"Storevik kommune"}}}},
            "mottaker":{{"navn":"NAV Frogn"}},"sikkerhetsniva":"HOYESTE",
            "filer":[{{"filnavn":"soknad.pdf","mimeType":"application/pdf",
                "hash":"{SHA}","storrelse":15324}}],
            "type":"nav.digisos","nedlastingslenke":"https://svarut.ks.no/d/1"}}"#
        );
        let a = Listed::from_v1(
            &svarinn::Forsendelse::from_json(v1.as_bytes()).unwrap(),
            &v1,
        );
        let b = Listed::from_v2(
            &svarinn_v2::Forsendelse::from_json(v2.as_bytes()).unwrap(),
            &v2,
        );
        assert_eq!((a.api, b.api), (SvarInnApi::V1, SvarInnApi::V2));
        assert_eq!(a.raw_json, v1, "the raw JSON is kept as received");
        let same = |l: &Listed| {
            (
                l.id.clone(),
                l.tittel.clone(),
                l.avsender_navn.clone(),
                l.forsendelse_type.clone(),
                l.sendt_at,
                l.files.clone(),
                l.download_url.clone(),
            )
        };
        assert_eq!(same(&a), same(&b));
        assert!(b.is_digisos());
        assert_eq!(b.declared_size(), Some(15324));
        assert_eq!(b.files[0].sha256().unwrap()[0], 0x82);
    }

    #[test]
    fn an_unknown_size_and_a_bad_hash_say_so() {
        let f = ListedFile {
            name: "a".into(),
            mime_type: "x".into(),
            sha256_hex: "not hex".into(),
            size: None,
        };
        assert!(matches!(f.sha256(), Err(SvarInnError::Sha256(_))));
        let l = Listed {
            api: SvarInnApi::V2,
            id: "a".into(),
            tittel: "t".into(),
            avsender_navn: None,
            forsendelse_type: None,
            sendt_at: None,
            files: vec![f],
            download_url: String::new(),
            raw_json: String::new(),
        };
        assert_eq!(l.declared_size(), None);
        assert!(!l.is_digisos());
    }
}
