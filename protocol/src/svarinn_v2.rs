//! SvarInn V2, KS's current mottaksservice (`/api/svarinn/v2`, KS's
//! `svarinn-api-v2.json`, see `../shared/reference/fiks-2026.md` Q1 point 5):
//! paths, the forsendelse JSON and the status PATCH body.
//!
//! Auth and encryption are V1's (HTTP Basic with the mottakersystem's id and
//! service password; CMS to its key). What differs is the wire: renamed and
//! retyped fields ([`Forsendelse`]), ISO-8601 dates, a download that is always
//! a ZIP, and one `PATCH …/status` ([`Statusoppdatering`]) for both the
//! acknowledgement and a failure. KS's two stored spec versions disagree on
//! addresses (a nested `postadresse` or flat fields): [`Part`] reads both.
//! Optional fields may be absent or `null`; unknown fields are ignored.
//! Both versions map into [`crate::listed::Listed`], so the agent's steps after
//! the list are the same for either.

use serde::{Deserialize, Deserializer, Serialize};

use crate::svarinn::{Entry, SvarInnDate, SvarInnError, encode_segment};

/// Every V2 path starts with this; append it to the configured `svarinn_url`.
pub const V2_PREFIX: &str = "/api/svarinn/v2";
/// GET: up to [`crate::svarinn::MAX_PAGE`] forsendelser not yet acknowledged.
pub const LIST_PATH: &str = "/api/svarinn/v2/forsendelser";
/// GET: the encrypted ZIP. Route template (axum 0.8 syntax); use [`download_path`].
/// The agent follows each item's `nedlastingslenke` instead (on the configured origin).
pub const DOWNLOAD_PATH_TEMPLATE: &str = "/api/svarinn/v2/forsendelser/{id}";
/// PATCH, [`Statusoppdatering`] body. Route template; use [`status_path`].
pub const STATUS_PATH_TEMPLATE: &str = "/api/svarinn/v2/forsendelser/{id}/status";

/// `/api/svarinn/v2/forsendelser/{id}`, the id percent-encoded.
pub fn download_path(id: &str) -> String {
    format!("{LIST_PATH}/{}", encode_segment(id))
}

/// `/api/svarinn/v2/forsendelser/{id}/status`, the id percent-encoded.
pub fn status_path(id: &str) -> String {
    format!("{LIST_PATH}/{}/status", encode_segment(id))
}

/// One item of the V2 list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Forsendelse {
    /// The forsendelse's UUID.
    pub id: String,
    pub tittel: String,
    /// When SvarUt received it (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dato: Option<SvarInnDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avsender: Option<Part>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mottaker: Option<Part>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub svar_sendes_til: Option<Part>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_fra_avleverende_system: Option<MetadataFraAvleverendeSystem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_for_import: Option<MetadataForImport>,
    /// `BETYDELIG` or `HOYESTE`; see [`Forsendelse::sikkerhetsniva`].
    #[serde(
        default,
        rename = "sikkerhetsniva",
        skip_serializing_if = "Option::is_none"
    )]
    pub sikkerhetsniva_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taushetsbelagt_post: Option<bool>,
    /// The plaintext files: the ZIP's entries.
    #[serde(deserialize_with = "null_as_empty")]
    pub filer: Vec<Fil>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub svar_pa_forsendelse: Option<String>,
    /// `nav.digisos` for søknader from NAV Digisos (V1's `forsendelseType`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub forsendelse_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ekstern_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lenker: Option<Vec<Lenke>>,
    /// Where the encrypted ZIP is (V1's `downloadUrl`).
    pub nedlastingslenke: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avgivende_system: Option<String>,
}

impl Forsendelse {
    /// Parse one forsendelse object.
    pub fn from_json(bytes: &[u8]) -> Result<Self, SvarInnError> {
        Ok(serde_json::from_slice(bytes)?)
    }

    /// The security level, when it is one of the two KS names.
    pub fn sikkerhetsniva(&self) -> Option<Sikkerhetsniva> {
        match self.sikkerhetsniva_text.as_deref()? {
            "BETYDELIG" => Some(Sikkerhetsniva::Betydelig),
            "HOYESTE" => Some(Sikkerhetsniva::Hoyeste),
            _ => None,
        }
    }
}

/// `sikkerhetsniva` (V1's `niva` "3" and "4").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sikkerhetsniva {
    Betydelig,
    Hoyeste,
}

/// `avsender`, `mottaker` or `svarSendesTil`, in either of KS's two shapes:
/// the address nested under `postadresse`, or its fields beside the numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisasjonsnummer: Option<String>,
    /// Only in `svarSendesTil`, never with `organisasjonsnummer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fodselsnummer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postadresse: Option<Postadresse>,
    /// The flat shape's address fields.
    #[serde(flatten)]
    pub flat: Postadresse,
}

impl Part {
    /// The address, from whichever shape it came in (nested first).
    pub fn adresse(&self) -> &Postadresse {
        self.postadresse.as_ref().unwrap_or(&self.flat)
    }

    /// The name, from either shape.
    pub fn navn(&self) -> Option<&str> {
        self.adresse().navn.as_deref()
    }
}

/// A postal address. Every field may be absent or `null`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Postadresse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub navn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adresselinje1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adresselinje2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adresselinje3: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postnummer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poststed: Option<String>,
    /// Absent: Norway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub land: Option<String>,
}

/// One file of the forsendelse (an entry of the ZIP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fil {
    pub filnavn: String,
    pub mime_type: String,
    /// Hex SHA-256 of the file's content.
    pub hash: String,
    /// Free text, e.g. a Noark document type.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub dokument_type: Option<String>,
    /// Bytes; 0 means unknown.
    #[serde(default)]
    pub storrelse: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ekstra_metadata: Option<Vec<Entry>>,
}

/// A link attached to the forsendelse (V1's `urlLenke`/`urlTekst`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lenke {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledetekst: Option<String>,
    pub lenke: String,
    pub tekst: String,
}

/// Noark `mappeId`: an existing case folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MappeId {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mappe_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saksaar: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sakssekvensnummer: Option<i64>,
}

/// Noark `journalpostId`: an existing journal entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalpostId {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registrerings_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journalaar: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journalpostnummer: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journalsekvensnummer: Option<i64>,
}

/// Noark 5 metadata from the sending system.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataFraAvleverendeSystem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mappe_id: Option<MappeId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journalpost_id: Option<JournalpostId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journalposttype: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journalstatus: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journaldato: Option<SvarInnDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dokumentets_dato: Option<SvarInnDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tittel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saksbehandler: Option<String>,
    /// V1's `ekstraMetadata`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virksomhetsspesifikke_metadata: Option<Vec<Entry>>,
}

/// Noark 5 metadata matching the receiving system.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataForImport {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mappe_id: Option<MappeId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journalpost_id: Option<JournalpostId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journalposttype: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journalstatus: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dokumentets_dato: Option<SvarInnDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tittel: Option<String>,
}

/// Body of `PATCH …/status`: the acknowledgement, or a failure. A status
/// other than these two is refused when read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Statusoppdatering {
    /// Received: SvarInn stops offering it (V1's `kvitterMottak`).
    Mottatt,
    /// Could not be received (V1's `mottakFeilet`).
    Feilet { feil: Feil },
}

/// Why a forsendelse could not be received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feil {
    /// For a person at KS or the sender.
    pub feilmelding: String,
    /// True: KS sends it on by another channel (Altinn or print). False: it
    /// is logged and stays downloadable.
    pub permanent: bool,
}

/// `null` reads as an empty list, as an absent one would not (it is required).
fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// KS's example, with the nested addresses of spec @ b28471c2.
    const NESTED: &str = r#"{
        "id": "f11f5cba-68ad-422f-ad2c-922cd6060f46",
        "avsender": {"organisasjonsnummer": "123456789",
                     "postadresse": {"navn": "Storevik kommune", "postnummer": "0000", "poststed": "Storevik"}},
        "mottaker": {"organisasjonsnummer": "987654321", "postadresse": {"navn": "NAV Frogn"}},
        "tittel": "Søknad om økonomisk sosialhjelp",
        "dato": "2024-01-16T18:39:11Z",
        "metadataFraAvleverendeSystem": {
            "mappeId": {"mappeId": "fc051651", "saksaar": 2005, "sakssekvensnummer": 648677},
            "journalpostId": {"systemId": "7044a03d", "journalaar": 2023, "journalpostnummer": 17},
            "virksomhetsspesifikkeMetadata": [{"key": "versjon", "value": "4"}]
        },
        "sikkerhetsniva": "HOYESTE",
        "taushetsbelagtPost": true,
        "filer": [{"filnavn": "soknad.pdf", "mimeType": "application/pdf",
                   "hash": "82275bb0c47c7e5fe81e3f58242d44e3ca2f5ea438cea0013d9bfdeec736c910",
                   "type": "B", "storrelse": 15324}],
        "type": "nav.digisos",
        "lenker": [{"lenke": "https://svarut.ks.no/", "tekst": "SvarUt"}],
        "nedlastingslenke": "https://svarut.ks.no/api/svarinn/v2/forsendelser/f11f5cba-68ad-422f-ad2c-922cd6060f46",
        "avgivendeSystem": "EDIALOG",
        "somethingNew": {"ignored": true}
    }"#;

    #[test]
    fn ks_example_reads_with_nested_addresses() {
        let f = Forsendelse::from_json(NESTED.as_bytes()).unwrap();
        assert_eq!(f.id, "f11f5cba-68ad-422f-ad2c-922cd6060f46");
        assert_eq!(
            f.avsender.as_ref().and_then(Part::navn),
            Some("Storevik kommune")
        );
        assert_eq!(f.mottaker.as_ref().and_then(Part::navn), Some("NAV Frogn"));
        assert_eq!(f.sikkerhetsniva(), Some(Sikkerhetsniva::Hoyeste));
        assert_eq!(f.filer[0].mime_type, "application/pdf");
        assert_eq!(f.filer[0].storrelse, 15324);
        assert_eq!(f.forsendelse_type.as_deref(), Some("nav.digisos"));
        assert_eq!(
            f.dato
                .unwrap()
                .to_offset_date_time()
                .unwrap()
                .unix_timestamp(),
            1_705_430_351
        );
        let m = f.metadata_fra_avleverende_system.unwrap();
        assert_eq!(m.mappe_id.unwrap().saksaar, Some(2005));
        assert_eq!(m.journalpost_id.unwrap().journalpostnummer, Some(17));
    }

    #[test]
    fn flat_addresses_and_nulls_anywhere_optional() {
        let json = r#"{
            "id": "a", "tittel": "t",
            "avsender": {"navn": "Flat avsender", "adresselinje1": "Postboks 1", "postnummer": null},
            "mottaker": {"organisasjonsnummer": null, "navn": "Flat mottaker"},
            "svarSendesTil": null, "dato": null, "metadataForImport": null,
            "sikkerhetsniva": null, "taushetsbelagtPost": null, "type": null,
            "lenker": null, "avgivendeSystem": null,
            "filer": [{"filnavn": "a.pdf", "mimeType": "application/pdf", "hash": "00",
                       "type": null, "storrelse": 1, "ekstraMetadata": null}],
            "nedlastingslenke": "https://svarut.ks.no/x"
        }"#;
        let f = Forsendelse::from_json(json.as_bytes()).unwrap();
        assert_eq!(
            f.avsender.as_ref().and_then(Part::navn),
            Some("Flat avsender")
        );
        assert_eq!(
            f.avsender
                .as_ref()
                .unwrap()
                .adresse()
                .adresselinje1
                .as_deref(),
            Some("Postboks 1")
        );
        assert_eq!(
            f.mottaker.as_ref().and_then(Part::navn),
            Some("Flat mottaker")
        );
        assert_eq!((&f.dato, f.sikkerhetsniva()), (&None, None));
        let nulls = json.replace(
            r#""filer": [{"filnavn": "a.pdf", "mimeType": "application/pdf", "hash": "00",
                       "type": null, "storrelse": 1, "ekstraMetadata": null}]"#,
            r#""filer": null"#,
        );
        assert!(
            Forsendelse::from_json(nulls.as_bytes())
                .unwrap()
                .filer
                .is_empty()
        );
    }

    #[test]
    fn a_forsendelse_without_its_download_link_or_id_is_refused() {
        for missing in ["nedlastingslenke", "id", "filer"] {
            let mut v: serde_json::Value = serde_json::from_str(NESTED).unwrap();
            v.as_object_mut().unwrap().remove(missing);
            let err = Forsendelse::from_json(v.to_string().as_bytes()).unwrap_err();
            assert!(err.to_string().contains(missing), "{missing}: {err}");
        }
    }

    #[test]
    fn status_bodies_are_ks_shapes_and_an_unknown_status_is_refused() {
        assert_eq!(
            serde_json::to_string(&Statusoppdatering::Mottatt).unwrap(),
            r#"{"status":"MOTTATT"}"#
        );
        let feilet = Statusoppdatering::Feilet {
            feil: Feil {
                feilmelding: "sha256 stemmer ikke".into(),
                permanent: true,
            },
        };
        let json = serde_json::to_string(&feilet).unwrap();
        assert_eq!(
            json,
            r#"{"status":"FEILET","feil":{"feilmelding":"sha256 stemmer ikke","permanent":true}}"#
        );
        assert_eq!(
            serde_json::from_str::<Statusoppdatering>(&json).unwrap(),
            feilet
        );
        for bad in [
            r#"{"status":"LEST"}"#,
            r#"{"status":"FEILET"}"#,
            r#"{"status":"FEILET","feil":{"feilmelding":"x"}}"#,
            r#"{}"#,
        ] {
            assert!(
                serde_json::from_str::<Statusoppdatering>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn paths_escape_the_id() {
        assert_eq!(
            status_path("f11f5cba-68ad"),
            "/api/svarinn/v2/forsendelser/f11f5cba-68ad/status"
        );
        assert_eq!(
            download_path("../x?y"),
            "/api/svarinn/v2/forsendelser/..%2Fx%3Fy"
        );
    }
}
