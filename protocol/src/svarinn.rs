//! The SvarInn mottaksservice model: the forsendelse JSON and the mottakFeilet body.
//!
//! Follows KS's OpenAPI (`svarinn-api-v1.json`) and the older REST example; see
//! `shared/reference/svarinn.md` section 1. Required fields are the ones KS's OpenAPI marks
//! required; everything else is `Option` and accepts `null`. Unknown fields are ignored.
//!
//! - [`Forsendelse`] and its parts; [`SvarInnDate`] for the date fields that arrive as
//!   milliseconds or as ISO-8601 text.
//! - [`MottakFeilet`]: the body of `mottakFeilet`.
//! - [`SvarInnEndpoints`] and the `*_PATH` constants: the four operations; [`MAX_PAGE`].
//! - [`split_list`] / [`parse_list_lenient`]: one bad item in a list never hides the others,
//!   each item's raw bytes are kept for `forsendelse.json`, and at most [`MAX_PAGE`] items
//!   are parsed ([`ListPage`] counts the rest).
//! - [`DigisosForsendelseMetadata`]: `forsendelseMetadata.json` inside `nav.digisos` zips.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, UtcOffset, Weekday};

/// Most forsendelser `hentNyeForsendelser` returns in one call (KS-OAS).
pub const MAX_PAGE: usize = 200;

/// Every mottaksservice path starts with this; append it to the configured `svarinn_url`.
pub const SVARINN_PREFIX: &str = "/tjenester/svarinn";
/// GET: up to [`MAX_PAGE`] forsendelser not yet acknowledged.
pub const HENT_NYE_FORSENDELSER_PATH: &str = "/tjenester/svarinn/mottaker/hentNyeForsendelser";
/// GET: the encrypted file. Route template (axum 0.8 syntax); use [`forsendelse_path`].
pub const FORSENDELSE_PATH_TEMPLATE: &str = "/tjenester/svarinn/forsendelse/{id}";
/// POST, no body: acknowledge. Route template; use [`kvitter_mottak_path`].
pub const KVITTER_MOTTAK_PATH_TEMPLATE: &str = "/tjenester/svarinn/kvitterMottak/forsendelse/{id}";
/// POST, [`MottakFeilet`] body. Route template; use [`mottak_feilet_path`].
pub const MOTTAK_FEILET_PATH_TEMPLATE: &str = "/tjenester/svarinn/mottakFeilet/forsendelse/{id}";
/// The Content-Type KS sends with the list.
pub const LIST_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// `forsendelseType` of søknader from NAV Digisos.
pub const FORSENDELSE_TYPE_DIGISOS: &str = "nav.digisos";
/// The file inside a `nav.digisos` zip that names the case.
pub const FORSENDELSE_METADATA_FILNAVN: &str = "forsendelseMetadata.json";

/// Errors from this module.
#[derive(Debug, thiserror::Error)]
pub enum SvarInnError {
    /// The JSON did not match the model (serde's message names the field and position).
    #[error("SvarInn JSON does not match the model: {0}")]
    Json(#[from] serde_json::Error),
    /// A date field held something that is neither milliseconds nor ISO-8601.
    #[error("date {0} is neither milliseconds since the epoch nor an ISO-8601 date or date-time")]
    Date(String),
    /// A `sha256hash` that is not 64 hex digits.
    #[error("sha256hash {0:?} is not 64 hex digits")]
    Sha256(String),
}

// ---------------------------------------------------------------------------------------------
// Paths

/// `/tjenester/svarinn/forsendelse/{id}`, the id percent-encoded.
pub fn forsendelse_path(id: &str) -> String {
    format!("{SVARINN_PREFIX}/forsendelse/{}", encode_segment(id))
}

/// `/tjenester/svarinn/kvitterMottak/forsendelse/{id}`, the id percent-encoded.
pub fn kvitter_mottak_path(id: &str) -> String {
    format!(
        "{SVARINN_PREFIX}/kvitterMottak/forsendelse/{}",
        encode_segment(id)
    )
}

/// `/tjenester/svarinn/mottakFeilet/forsendelse/{id}`, the id percent-encoded.
pub fn mottak_feilet_path(id: &str) -> String {
    format!(
        "{SVARINN_PREFIX}/mottakFeilet/forsendelse/{}",
        encode_segment(id)
    )
}

/// Ids come from outside: anything but RFC 3986 unreserved characters is escaped so an id
/// can never add a path segment or a query.
pub(crate) fn encode_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    // "." and ".." are unreserved but would be resolved as dot segments.
    if out == "." || out == ".." {
        out = out.replace('.', "%2E");
    }
    out
}

/// Full URLs of the four operations for one configured `svarinn_url`
/// (`https://svarut.ks.no`, or a fake's `http://127.0.0.1:PORT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SvarInnEndpoints {
    base: String,
}

impl SvarInnEndpoints {
    /// `svarinn_url` without the `/tjenester/svarinn` part; a trailing `/` is ignored.
    pub fn new(svarinn_url: &str) -> Self {
        Self {
            base: svarinn_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The base as configured, without a trailing `/`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// URL of `hentNyeForsendelser`.
    pub fn hent_nye_forsendelser(&self) -> String {
        format!("{}{HENT_NYE_FORSENDELSER_PATH}", self.base)
    }

    /// URL of the download. Prefer the list's `downloadUrl`; this is for retries of a known id.
    pub fn forsendelse(&self, id: &str) -> String {
        format!("{}{}", self.base, forsendelse_path(id))
    }

    /// URL of `kvitterMottak`.
    pub fn kvitter_mottak(&self, id: &str) -> String {
        format!("{}{}", self.base, kvitter_mottak_path(id))
    }

    /// URL of `mottakFeilet`.
    pub fn mottak_feilet(&self, id: &str) -> String {
        format!("{}{}", self.base, mottak_feilet_path(id))
    }
}

// ---------------------------------------------------------------------------------------------
// The forsendelse

/// One item of `hentNyeForsendelser`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Forsendelse {
    /// The forsendelse's UUID.
    pub id: String,
    pub tittel: String,
    /// When SvarUt received it (ms since the epoch per KS-OAS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<SvarInnDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avsender: Option<Avsender>,
    pub mottaker: Adresse,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub svar_sendes_til: Option<Adresse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_fra_avleverende_system: Option<MetadataFraAvleverendeSystem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_for_import: Option<MetadataForImport>,
    /// Free text: "Akseptert", "Klar for mottak", ...
    pub status: String,
    /// Security level, "3" or "4".
    pub niva: String,
    /// The plaintext files; for a zip download, the zip's entries.
    pub filmetadata: Vec<FilMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub svar_pa_forsendelse: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forsendelse_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ekstern_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lenker: Option<Vec<Lenke>>,
    pub download_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avgivende_system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taushetsbelagt_post: Option<bool>,
    /// Older payloads only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kryptert: Option<bool>,
    /// Older payloads only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub krev_niva4_innlogging: Option<bool>,
}

impl Forsendelse {
    /// Parse one forsendelse object.
    pub fn from_json(bytes: &[u8]) -> Result<Self, SvarInnError> {
        Ok(serde_json::from_slice(bytes)?)
    }

    /// True for søknader from NAV Digisos (the zip holds [`FORSENDELSE_METADATA_FILNAVN`]).
    pub fn is_digisos(&self) -> bool {
        self.forsendelse_type.as_deref() == Some(FORSENDELSE_TYPE_DIGISOS)
    }
}

/// The sender (`avsender`). Note the field names differ from [`Adresse`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Avsender {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adresselinje1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adresselinje2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adresselinje3: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub navn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poststed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postnr: Option<String>,
}

/// `mottaker` and `svarSendesTil`: same shape, `navn` required. `orgnr` or `fnr`, never both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Adresse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adresse1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adresse2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adresse3: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postnr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poststed: Option<String>,
    pub navn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub land: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orgnr: Option<String>,
    /// Fødselsnummer: never log it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fnr: Option<String>,
}

/// Noark 5 metadata from the sending system (`metadataFraAvleverendeSystem`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataFraAvleverendeSystem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sakssekvensnummer: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saksaar: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journalaar: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journalsekvensnummer: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journalpostnummer: Option<i64>,
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
    pub saks_behandler: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ekstra_metadata: Option<Vec<Entry>>,
}

/// Noark 5 metadata matching the receiving system (`metadataForImport`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataForImport {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sakssekvensnummer: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saksaar: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journalposttype: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journalstatus: Option<String>,
    /// KS-OAS says ms, the KS-REST example an ISO-8601 string: both are accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dokumentets_dato: Option<SvarInnDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tittel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mappe_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registrerings_id: Option<String>,
}

/// A `{key, value}` pair of `ekstraMetadata`. KS's own example sends both as `null`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}

/// One plaintext file. For a zip download, one entry of the zip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilMetadata {
    pub filnavn: String,
    pub mimetype: String,
    /// Hex SHA-256 of the file's content.
    pub sha256hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dokument_type: Option<String>,
    /// Bytes; 0 means unknown. See [`FilMetadata::declared_size`].
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ekstra_metadata: Option<Vec<Entry>>,
}

impl FilMetadata {
    /// The size to check against, or `None` when SvarInn does not know it (`size` = 0).
    pub fn declared_size(&self) -> Option<u64> {
        (self.size != 0).then_some(self.size)
    }

    /// `sha256hash` decoded; upper- and lower-case hex are both accepted.
    pub fn sha256(&self) -> Result<[u8; 32], SvarInnError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(self.sha256hash.trim(), &mut out)
            .map_err(|_| SvarInnError::Sha256(self.sha256hash.clone()))?;
        Ok(out)
    }
}

/// A link attached to the forsendelse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lenke {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledetekst: Option<String>,
    pub url_lenke: String,
    pub url_tekst: String,
}

/// Body of `mottakFeilet`: both fields required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MottakFeilet {
    /// Human-readable; shows up in the sender's event log.
    pub feilmelding: String,
    /// `true`: SvarUt gives up on SvarInn and sends it another way.
    pub permanent: bool,
}

/// `forsendelseMetadata.json` inside a `nav.digisos` zip (the Fiks IO `no.nav.digisos.soknad.v1`
/// body). Use `digisos_id`, not the forsendelse id, for saksoppdateringer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DigisosForsendelseMetadata {
    pub ekstern_ref: String,
    pub digisos_id: String,
    /// Only on ettersendelser.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soknad_leveranse_id: Option<SoknadLeveranseId>,
}

impl DigisosForsendelseMetadata {
    /// The most bytes read of the JSON (it holds two ids, or three).
    pub const MAX_BYTES: u64 = 64 * 1024;

    /// Reads the JSON from `r`, at most [`Self::MAX_BYTES`]: `forsendelseMetadata.json` of a
    /// SvarInn forsendelse and the JSON data file of a Fiks IO message have this one shape.
    pub fn read(r: impl std::io::Read) -> Result<Self, String> {
        use std::io::Read as _;
        let mut bytes = Vec::new();
        r.take(Self::MAX_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| e.to_string())?;
        if bytes.len() as u64 > Self::MAX_BYTES {
            return Err(format!("larger than {} bytes", Self::MAX_BYTES));
        }
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    }
}

/// Which delivery an ettersendelse belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SoknadLeveranseId {
    /// `FIKS_IO` or `SVARUT`.
    pub sendt_kanal: String,
    pub id: String,
}

// ---------------------------------------------------------------------------------------------
// Lists

/// Parse a whole `hentNyeForsendelser` body; any bad item fails the lot.
/// Prefer [`parse_list_lenient`] in the agent.
pub fn parse_list(body: &[u8]) -> Result<Vec<Forsendelse>, SvarInnError> {
    Ok(serde_json::from_slice(body)?)
}

/// One item of a list parsed by [`parse_list_lenient`].
#[derive(Debug)]
pub struct ListedForsendelse<'a> {
    /// The item's bytes exactly as received (what `forsendelse.json` holds).
    pub raw: &'a [u8],
    /// The item's `id` if it has a string one, even when the rest does not parse.
    pub id: Option<String>,
    /// The parsed item, or why it does not match the model.
    pub parsed: Result<Forsendelse, serde_json::Error>,
}

/// A `hentNyeForsendelser` list parsed by [`parse_list_lenient`]: the first
/// [`MAX_PAGE`] items (what the API promises at most), and how many more there were.
#[derive(Debug)]
pub struct ListPage<'a> {
    /// The first [`MAX_PAGE`] items, in the order SvarInn sent them.
    pub items: Vec<ListedForsendelse<'a>>,
    /// Items past the first [`MAX_PAGE`]: counted, never parsed. Not SvarInn's API;
    /// the agent says so once and takes the rest at a later poll.
    pub ignored: usize,
}

/// Parse a list item by item, so one malformed forsendelse never blocks the others.
/// Only the first [`MAX_PAGE`] items are parsed (the rest are counted in
/// [`ListPage::ignored`]), so the work and what a caller reports about the items is
/// bounded whatever the list holds. Fails only when the body is not a JSON array.
pub fn parse_list_lenient(body: &[u8]) -> Result<ListPage<'_>, SvarInnError> {
    #[derive(Deserialize)]
    struct IdOnly {
        id: Option<String>,
    }
    let (items, total) = split_list_first(body, MAX_PAGE)?;
    Ok(ListPage {
        ignored: total - items.len(),
        items: items
            .into_iter()
            .map(|raw| ListedForsendelse {
                raw,
                id: serde_json::from_slice::<IdOnly>(raw)
                    .ok()
                    .and_then(|i| i.id),
                parsed: serde_json::from_slice(raw),
            })
            .collect(),
    })
}

/// Split a JSON array into its elements' raw bytes (whitespace around them trimmed).
/// The whole body is validated as JSON first.
pub fn split_list(body: &[u8]) -> Result<Vec<&[u8]>, SvarInnError> {
    split_list_first(body, usize::MAX).map(|(items, _)| items)
}

/// [`split_list`] keeping only the first `max` elements; also returns how many
/// elements the array holds in all.
pub fn split_list_first(body: &[u8], max: usize) -> Result<(Vec<&[u8]>, usize), SvarInnError> {
    // Validation first means the scanner below only ever sees well-formed JSON.
    let count = serde_json::from_slice::<Vec<IgnoredAny>>(body)?.len();
    let mut items = Vec::with_capacity(count.min(max));
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut start: Option<usize> = None;
    for (i, &b) in body.iter().enumerate() {
        if items.len() >= max {
            break;
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                if depth == 1 && start.is_none() {
                    start = Some(i);
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth == 2 && start.is_none() {
                    start = Some(i);
                }
            }
            b']' | b'}' if depth == 1 => {
                // The closing bracket of the outer array.
                if let Some(s) = start.take() {
                    items.push(trim_ascii(&body[s..i]));
                }
                depth = 0;
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 1 => {
                if let Some(s) = start.take() {
                    items.push(trim_ascii(&body[s..i]));
                }
            }
            b' ' | b'\t' | b'\n' | b'\r' => {}
            _ => {
                if depth == 1 && start.is_none() {
                    start = Some(i);
                }
            }
        }
    }
    Ok((items, count))
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

// ---------------------------------------------------------------------------------------------
// Dates

/// A SvarInn date field as it came: milliseconds since the epoch (KS-OAS) or ISO-8601 text
/// (the KS-REST example). Serialises back to the same JSON shape. Text that is not a date is
/// kept too, so one odd date never makes a forsendelse unreadable; conversion reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SvarInnDate {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    Millis(i64),
    /// The string exactly as received.
    Text(String),
}

impl SvarInnDate {
    /// From an instant, as milliseconds (the shape KS-OAS documents).
    pub fn from_offset_date_time(t: OffsetDateTime) -> Self {
        let ms = t.unix_timestamp_nanos() / 1_000_000;
        Self::Millis(i64::try_from(ms).unwrap_or(if ms < 0 { i64::MIN } else { i64::MAX }))
    }

    /// The instant. Date-only text is midnight UTC; date-time text without an offset is
    /// read as UTC; digits-only text is read as milliseconds.
    pub fn to_offset_date_time(&self) -> Result<OffsetDateTime, SvarInnError> {
        match self {
            Self::Millis(ms) => {
                millis_to_instant(*ms).ok_or_else(|| SvarInnError::Date(ms.to_string()))
            }
            Self::Text(s) => parse_text(s)
                .map(|p| p.instant())
                .ok_or_else(|| SvarInnError::Date(format!("{s:?}"))),
        }
    }

    /// The calendar date. Text with a date or an offset gives the date as written;
    /// milliseconds (and offset-less date-times) give the date in Norway (Europe/Oslo:
    /// CET, CEST under the EU rule), because KS encodes a Norwegian date as its local
    /// midnight: 1694642400000 is 2023-09-14.
    pub fn to_date(&self) -> Result<Date, SvarInnError> {
        match self {
            Self::Millis(ms) => millis_to_instant(*ms)
                .map(oslo_date)
                .ok_or_else(|| SvarInnError::Date(ms.to_string())),
            Self::Text(s) => match parse_text(s) {
                Some(Parsed::Instant(t)) => Ok(t.date()),
                Some(Parsed::Local(p)) => Ok(p.date()),
                Some(Parsed::Date(d)) => Ok(d),
                Some(Parsed::Millis(t)) => Ok(oslo_date(t)),
                None => Err(SvarInnError::Date(format!("{s:?}"))),
            },
        }
    }
}

impl From<OffsetDateTime> for SvarInnDate {
    fn from(t: OffsetDateTime) -> Self {
        Self::from_offset_date_time(t)
    }
}

impl fmt::Display for SvarInnDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Millis(ms) => write!(f, "{ms}"),
            Self::Text(s) => f.write_str(s),
        }
    }
}

impl Serialize for SvarInnDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Millis(ms) => serializer.serialize_i64(*ms),
            Self::Text(s) => serializer.serialize_str(s),
        }
    }
}

impl<'de> Deserialize<'de> for SvarInnDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DateVisitor;
        impl Visitor<'_> for DateVisitor {
            type Value = SvarInnDate;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("milliseconds since the epoch or an ISO-8601 string")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(SvarInnDate::Millis(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                i64::try_from(v)
                    .map(SvarInnDate::Millis)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(SvarInnDate::Text(v.to_owned()))
            }
        }
        deserializer.deserialize_any(DateVisitor)
    }
}

enum Parsed {
    Instant(OffsetDateTime),
    Local(PrimitiveDateTime),
    Date(Date),
    Millis(OffsetDateTime),
}

impl Parsed {
    fn instant(self) -> OffsetDateTime {
        match self {
            Self::Instant(t) | Self::Millis(t) => t,
            Self::Local(p) => p.assume_utc(),
            Self::Date(d) => d.midnight().assume_utc(),
        }
    }
}

fn millis_to_instant(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

fn parse_text(s: &str) -> Option<Parsed> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<i64>()
            .ok()
            .and_then(millis_to_instant)
            .map(Parsed::Millis);
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(Parsed::Instant(t));
    }
    // ISO-8601 beyond RFC 3339: "+0200" offsets, basic format, and so on.
    if let Ok(t) = OffsetDateTime::parse(s, &Iso8601::DEFAULT) {
        return Some(Parsed::Instant(t));
    }
    if let Ok(p) = PrimitiveDateTime::parse(s, &Iso8601::DEFAULT) {
        return Some(Parsed::Local(p));
    }
    Date::parse(s, &Iso8601::DEFAULT).ok().map(Parsed::Date)
}

/// The calendar date in Norway. Norway follows the EU rule: CEST from 01:00 UTC on the last
/// Sunday of March to 01:00 UTC on the last Sunday of October, CET otherwise.
fn oslo_date(t: OffsetDateTime) -> Date {
    let t = t.to_offset(UtcOffset::UTC);
    let year = t.year();
    let summer = match (
        last_sunday(year, Month::March),
        last_sunday(year, Month::October),
    ) {
        (Some(start), Some(end)) => {
            let start = start.midnight().assume_utc() + time::Duration::hours(1);
            let end = end.midnight().assume_utc() + time::Duration::hours(1);
            t >= start && t < end
        }
        _ => false,
    };
    let hours = if summer { 2 } else { 1 };
    (t + time::Duration::hours(hours)).date()
}

fn last_sunday(year: i32, month: Month) -> Option<Date> {
    let last = Date::from_calendar_date(year, month, month.length(year)).ok()?;
    let back = last.weekday().number_days_from_sunday();
    last.checked_sub(time::Duration::days(i64::from(back)))
        .filter(|d| d.weekday() == Weekday::Sunday)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn millis_date_is_the_norwegian_calendar_date() {
        // KS-OAS example: midnight 2023-09-14 in Oslo (CEST) is 22:00 UTC the day before.
        assert_eq!(
            SvarInnDate::Millis(1_694_642_400_000).to_date().unwrap(),
            date!(2023 - 09 - 14)
        );
        // Winter: CET, one hour.
        let winter = datetime!(2024-01-14 23:00 UTC);
        assert_eq!(
            SvarInnDate::from(winter).to_date().unwrap(),
            date!(2024 - 01 - 15)
        );
        // 23:30 UTC on the last Sunday of March 2024 is already CEST: 01:30 on the next day.
        let after_switch = datetime!(2024-03-31 23:30 UTC);
        assert_eq!(
            SvarInnDate::from(after_switch).to_date().unwrap(),
            date!(2024 - 04 - 01)
        );
        // Just before the October switch (01:00 UTC 2024-10-27) it is still +2.
        let before_end = datetime!(2024-10-27 00:30 UTC);
        assert_eq!(
            SvarInnDate::from(before_end).to_date().unwrap(),
            date!(2024 - 10 - 27)
        );
    }

    #[test]
    fn text_dates_in_several_iso_forms() {
        let t = SvarInnDate::Text("2014-10-21T09:30:13.310+02:00".into());
        assert_eq!(
            t.to_offset_date_time().unwrap(),
            datetime!(2014-10-21 07:30:13.310 UTC)
        );
        assert_eq!(t.to_date().unwrap(), date!(2014 - 10 - 21));
        let z = SvarInnDate::Text("2014-10-21T23:30:00Z".into());
        assert_eq!(z.to_date().unwrap(), date!(2014 - 10 - 21));
        let compact = SvarInnDate::Text("2014-10-21T09:30:13+0200".into());
        assert_eq!(
            compact.to_offset_date_time().unwrap(),
            datetime!(2014-10-21 07:30:13 UTC)
        );
        let local = SvarInnDate::Text("2014-10-21T09:30:13".into());
        assert_eq!(
            local.to_offset_date_time().unwrap(),
            datetime!(2014-10-21 09:30:13 UTC)
        );
        let d = SvarInnDate::Text("2014-10-21".into());
        assert_eq!(d.to_date().unwrap(), date!(2014 - 10 - 21));
        assert_eq!(
            d.to_offset_date_time().unwrap(),
            datetime!(2014-10-21 00:00 UTC)
        );
        let digits = SvarInnDate::Text("1412668736853".into());
        assert_eq!(
            digits.to_offset_date_time().unwrap(),
            SvarInnDate::Millis(1_412_668_736_853)
                .to_offset_date_time()
                .unwrap()
        );
    }

    #[test]
    fn garbage_text_is_kept_and_reported_on_conversion() {
        let d: SvarInnDate = serde_json::from_str("\"i morgen\"").unwrap();
        assert_eq!(d, SvarInnDate::Text("i morgen".into()));
        let err = d.to_date().unwrap_err().to_string();
        assert!(err.contains("i morgen"), "{err}");
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"i morgen\"");
    }

    #[test]
    fn dates_round_trip_their_shape() {
        for json in [
            "1412668736853",
            "-1000",
            "\"2014-10-21T09:30:13.310+02:00\"",
            "\"2014-10-21\"",
        ] {
            let d: SvarInnDate = serde_json::from_str(json).unwrap();
            assert_eq!(serde_json::to_string(&d).unwrap(), json);
        }
        assert!(serde_json::from_str::<SvarInnDate>("true").is_err());
        assert!(serde_json::from_str::<SvarInnDate>("1.5").is_err());
        assert!(serde_json::from_str::<SvarInnDate>("18446744073709551615").is_err());
    }

    #[test]
    fn paths_and_endpoints() {
        assert_eq!(
            forsendelse_path("abc-1"),
            "/tjenester/svarinn/forsendelse/abc-1"
        );
        assert_eq!(
            kvitter_mottak_path("x"),
            "/tjenester/svarinn/kvitterMottak/forsendelse/x"
        );
        assert_eq!(
            mottak_feilet_path("x"),
            "/tjenester/svarinn/mottakFeilet/forsendelse/x"
        );
        assert_eq!(
            forsendelse_path("../a b?c"),
            "/tjenester/svarinn/forsendelse/..%2Fa%20b%3Fc"
        );
        assert_eq!(
            forsendelse_path(".."),
            "/tjenester/svarinn/forsendelse/%2E%2E"
        );
        let e = SvarInnEndpoints::new("https://svarut.ks.no/");
        assert_eq!(
            e.hent_nye_forsendelser(),
            "https://svarut.ks.no/tjenester/svarinn/mottaker/hentNyeForsendelser"
        );
        assert_eq!(
            e.forsendelse("id1"),
            "https://svarut.ks.no/tjenester/svarinn/forsendelse/id1"
        );
        assert_eq!(
            e.kvitter_mottak("id1"),
            "https://svarut.ks.no/tjenester/svarinn/kvitterMottak/forsendelse/id1"
        );
        assert_eq!(
            e.mottak_feilet("id1"),
            "https://svarut.ks.no/tjenester/svarinn/mottakFeilet/forsendelse/id1"
        );
        // The templates and the builders describe the same paths.
        assert_eq!(
            FORSENDELSE_PATH_TEMPLATE.replace("{id}", "q"),
            forsendelse_path("q")
        );
        assert_eq!(
            KVITTER_MOTTAK_PATH_TEMPLATE.replace("{id}", "q"),
            kvitter_mottak_path("q")
        );
        assert_eq!(
            MOTTAK_FEILET_PATH_TEMPLATE.replace("{id}", "q"),
            mottak_feilet_path("q")
        );
    }

    #[test]
    fn split_list_keeps_raw_items() {
        let body = br#" [ {"id":"a","s":"x,]}\"y"} , {"id":"b","n":[1,{"c":2}]},{"id":"c"} ] "#;
        let items = split_list(body).unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0], br#"{"id":"a","s":"x,]}\"y"}"#);
        assert_eq!(items[1], br#"{"id":"b","n":[1,{"c":2}]}"#);
        assert_eq!(items[2], br#"{"id":"c"}"#);
        assert!(split_list(b"[]").unwrap().is_empty());
        assert!(split_list(b" [ ] ").unwrap().is_empty());
        assert!(split_list(b"{}").is_err());
        assert!(split_list(b"[{]").is_err());
        assert_eq!(
            split_list(b"[1, \"two\", null]").unwrap(),
            vec![&b"1"[..], b"\"two\"", b"null"]
        );
    }

    #[test]
    fn split_list_first_stops_early_and_counts_all() {
        let (items, total) = split_list_first(br#"[{"id":"a"}, 2, [3, 4], "five"]"#, 2).unwrap();
        assert_eq!(items, vec![&br#"{"id":"a"}"#[..], b"2"]);
        assert_eq!(total, 4);
        let (items, total) = split_list_first(b"[1, 2]", 2).unwrap();
        assert_eq!((items.len(), total), (2, 2));
        let (items, total) = split_list_first(b"[]", 0).unwrap();
        assert_eq!((items.len(), total), (0, 0));
        assert!(split_list_first(b"[1, 2", 1).is_err());
    }

    #[test]
    fn sha256_decodes_hex() {
        let f = FilMetadata {
            filnavn: "a.pdf".into(),
            mimetype: "application/pdf".into(),
            sha256hash: "CAAA6A09E4B5AD571C596DD31FB93689D402834A1B92FF660ABEB59C534C088E".into(),
            dokument_type: None,
            size: 0,
            ekstra_metadata: None,
        };
        assert_eq!(f.sha256().unwrap()[0], 0xca);
        assert_eq!(f.declared_size(), None);
        let bad = FilMetadata {
            sha256hash: "abc".into(),
            ..f
        };
        assert!(bad.sha256().is_err());
    }
}
