//! The Fiks Digisos sak API and the Maskinporten JWT grant, as the agent and the fakes in
//! `mottak-fixtures` both speak them. Facts from `shared/reference/digisos.md` (cited per
//! item as §N; its sources are KS's documentation and OpenAPI file, KS's and NAV's clients).
//!
//! Paths are relative to the Fiks API host (`https://api.fiks.test.ks.no`,
//! `https://api.fiks.ks.no`; §1 "Hosts").

use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------------
// Fiks Digisos: headers and paths (§1)

/// Header carrying the Fiks integration's id (a UUID from Fiks forvaltning), on every call
/// (§1 "Headers on every call").
pub const HEADER_INTEGRASJON_ID: &str = "IntegrasjonId";
/// Header carrying the Fiks integration's password, on every call (§1). A secret: never log it.
pub const HEADER_INTEGRASJON_PASSORD: &str = "IntegrasjonPassord";
/// A fresh UUID per request, as KS's client sends it (§1; optional, helps KS trace a call).
pub const HEADER_REQUEST_ID: &str = "requestid";

/// `type` of the update body [`SakUpdate`] (§1, oppdaterSak; the only enum value).
pub const SAK_UPDATE_TYPE: &str = "no.nav.digisos.digisos.soker.v1";

/// `GET` Fiks's certificate for encrypting uploads: raw X.509 bytes, DER or PEM (§1 table,
/// §4 "Public key"; open question 3: parse both).
pub const PUBLIC_KEY_PATH: &str = "/digisos/api/v1/dokumentlager-public-key";

/// `POST` an update (oppdaterSak): body [`SakUpdate`], `application/json`; **202** without a
/// body on success (any 2xx counts, §5 "Errors"); 400 bad data, 403 no access (§1 table).
/// Whole replace: each update carries the whole hendelse history (§5).
pub fn oppdater_sak_path(fiks_org_id: &str, digisos_id: &str) -> Result<String, InvalidId> {
    Ok(format!(
        "/digisos/api/v1/{}/{}",
        uuid("fiksOrgId", fiks_org_id)?,
        uuid("digisosId", digisos_id)?
    ))
}

/// `POST` files (multipart, see [`FilMetadata`]; 200 with `[DokumentInfo]`), `GET` the
/// case's files (200 with `[DokumentInfo]`), `DELETE ?filIder=<uuid>&...` unreferenced
/// files (204) (§1 table). Uploads are not idempotent: every upload gets a new id (§5).
pub fn filer_path(fiks_org_id: &str, digisos_id: &str) -> Result<String, InvalidId> {
    Ok(format!(
        "{}/filer",
        oppdater_sak_path(fiks_org_id, digisos_id)?
    ))
}

/// Splits a request path into `(fiksOrgId, digisosId, rest)` for
/// `/digisos/api/v1/{fiksOrgId}/{digisosId}{rest}`, where `rest` is `""` or `"/filer"`.
/// `None` for any other path (including [`PUBLIC_KEY_PATH`]).
pub fn parse_sak_path(path: &str) -> Option<(&str, &str, &str)> {
    let rest = path.strip_prefix("/digisos/api/v1/")?;
    let mut parts = rest.splitn(3, '/');
    let org = parts.next()?;
    let id = parts.next()?;
    let rest = match parts.next() {
        None => "",
        Some("filer") => "/filer",
        Some(_) => return None,
    };
    if !is_uuid(org) || !is_uuid(id) {
        return None;
    }
    Some((org, id, rest))
}

/// An id that cannot go into a path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is not a UUID (8-4-4-4-12 hex digits)")]
pub struct InvalidId {
    pub what: &'static str,
    pub value: String,
}

fn uuid<'a>(what: &'static str, value: &'a str) -> Result<&'a str, InvalidId> {
    if is_uuid(value) {
        Ok(value)
    } else {
        Err(InvalidId {
            what,
            value: value.chars().take(80).collect(),
        })
    }
}

/// True for `8-4-4-4-12` hex digits, either case. (NAV's schema wants lowercase in
/// dokumentlager references: check those with `validate_soker`.)
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// `bytes` as a version-4 UUID, lowercase `8-4-4-4-12`: the version (`4`) and variant (`10`)
/// bits are set, the other 122 bits are `bytes`'. Random bytes give a fresh id (a `jti`, a
/// `requestid`); seeded ones give the same id on every run (test data).
pub fn uuid_v4_from_bytes(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

// ---------------------------------------------------------------------------------------------
// Bodies

/// The update body (`DigisosSakApiModel`, §1 oppdaterSak): `{"type":
/// "no.nav.digisos.digisos.soker.v1", "sak": {"soker": <digisos-soker.json>}}`; all required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SakUpdate {
    #[serde(rename = "type")]
    pub kind: String,
    pub sak: Sak,
}

/// `sak` in [`SakUpdate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sak {
    /// The whole `digisos-soker.json` (check with `validate_soker`).
    pub soker: serde_json::Value,
}

impl SakUpdate {
    /// Wraps a `digisos-soker.json` with the one allowed `type`.
    pub fn new(soker: serde_json::Value) -> Self {
        Self {
            kind: SAK_UPDATE_TYPE.to_owned(),
            sak: Sak { soker },
        }
    }
}

/// The multipart metadata part before each file (§1 "File upload format"): all required;
/// `storrelse` is the **plaintext** size in bytes, not the encrypted one.
///
/// A file's two parts, in order: (1) this JSON, part name [`metadata_part_name`]; (2) the
/// CMS-encrypted bytes (RSAES-OAEP SHA-256, AES-256-CBC, one recipient: §4), part name
/// [`dokument_part_name`], with `filename` set and `application/octet-stream`. Streamed with
/// `Transfer-Encoding: chunked`. Fiks probably pairs parts by order (§1, open question 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilMetadata {
    pub filnavn: String,
    pub mimetype: String,
    pub storrelse: u64,
}

/// Name of file `n`'s metadata part, as KS's Java client names it (§1): `metadata:n`.
pub fn metadata_part_name(n: usize) -> String {
    format!("metadata:{n}")
}

/// Name of file `n`'s content part, as both KS's and NAV's clients name it (§1): `dokument:n`.
pub fn dokument_part_name(n: usize) -> String {
    format!("dokument:{n}")
}

/// Content type of the metadata part (NAV's test client sends it; KS's none: §1).
pub const METADATA_CONTENT_TYPE: &str = "application/json";
/// Content type of the encrypted part (§1).
pub const DOKUMENT_CONTENT_TYPE: &str = "application/octet-stream";

/// One file on a case, as the upload answers and `GET .../filer` lists (`DokumentInfo`, §1).
/// There is no checksum: to recognise a file already uploaded, compare `filnavn` and
/// `storrelse` with what the agent journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DokumentInfo {
    pub filnavn: String,
    #[serde(rename = "dokumentlagerDokumentId")]
    pub dokumentlager_dokument_id: String,
    /// Bytes (the plaintext size given in the metadata).
    pub storrelse: u64,
}

/// Fiks's error body (§5 "Errors"): `{timestamp, status, error, errorId, path, originalPath,
/// message, errorCode, errorJson}`. Every field optional here, so that a partial body still
/// parses; unknown fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FiksError {
    /// Its type is not documented (epoch millis or ISO text): kept as it came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The HTTP reason phrase ("Bad Request").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Which codes exist is not documented (open question 6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_json: Option<serde_json::Value>,
}

impl FiksError {
    /// One line for an operator: `400 Bad Request: <message> (errorCode X, errorId Y)`.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        if let Some(status) = self.status {
            out.push_str(&status.to_string());
        }
        if let Some(error) = &self.error {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(error);
        }
        if let Some(message) = &self.message {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(message);
        }
        let mut ids = Vec::new();
        if let Some(code) = &self.error_code {
            ids.push(format!("errorCode {code}"));
        }
        if let Some(id) = &self.error_id {
            ids.push(format!("errorId {id}"));
        }
        if !ids.is_empty() {
            out.push_str(&format!(" ({})", ids.join(", ")));
        }
        if out.is_empty() {
            out.push_str("Fiks gave no details");
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Maskinporten (§3)

/// The scope Fiks wants in the token (§3 "Claims"; KS's client hard-codes it).
pub const FIKS_SCOPE: &str = "ks:fiks";
/// `grant_type` of the form-encoded token request (§3 "Request").
pub const JWT_BEARER_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// At most this many seconds between the grant's `iat` and `exp` (§3: "max 120 s").
pub const MAX_GRANT_LIFETIME_SECS: i64 = 120;
/// Clock skew Maskinporten tolerates on `iat`/`exp` (§3: "skew ±10 s").
pub const GRANT_CLOCK_SKEW_SECS: i64 = 10;
/// `aud` for Maskinporten's test environment (§3): the issuer, not the token URL.
pub const MASKINPORTEN_TEST_AUDIENCE: &str = "https://test.maskinporten.no/";
/// `aud` for Maskinporten's production (§3).
pub const MASKINPORTEN_PROD_AUDIENCE: &str = "https://maskinporten.no/";

/// The form fields of the token request, `application/x-www-form-urlencoded` (§3):
/// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<jwt>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRequest {
    pub grant_type: String,
    pub assertion: String,
}

impl TokenRequest {
    pub fn new(assertion: impl Into<String>) -> Self {
        Self {
            grant_type: JWT_BEARER_GRANT_TYPE.to_owned(),
            assertion: assertion.into(),
        }
    }
}

/// The JWT grant's header (§3 "Header"): `alg` RS256 (RS384/RS512 also accepted) and `x5c`
/// (standard base64 DER certificates, the leaf first; KS sends only the leaf, Digdir says the
/// whole chain), or instead a pre-registered `kid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantHeader {
    pub alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5c: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
}

/// The JWT grant's claims (§3 "Claims"). Unknown claims make Maskinporten answer 400, so
/// parsing refuses them too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantClaims {
    /// Maskinporten's issuer URL ([`MASKINPORTEN_TEST_AUDIENCE`] and so on).
    pub aud: String,
    /// The client id registered at Maskinporten.
    pub iss: String,
    /// Space-separated scopes; Fiks needs [`FIKS_SCOPE`].
    pub scope: String,
    /// Seconds since the epoch.
    pub iat: i64,
    /// At most [`MAX_GRANT_LIFETIME_SECS`] after `iat`.
    pub exp: i64,
    /// A fresh UUID per grant: Maskinporten refuses a reused one.
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_org: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
}

impl GrantClaims {
    /// True when `scope` holds [`FIKS_SCOPE`] as one of its space-separated words.
    pub fn has_fiks_scope(&self) -> bool {
        self.scope.split_ascii_whitespace().any(|s| s == FIKS_SCOPE)
    }
}

/// Maskinporten's token response (§3 "Response"). Cache the token for `expires_in` minus a
/// margin; the lifetime is not fixed, always read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// Seconds.
    pub expires_in: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// An OAuth 2.0 error body (RFC 6749 §5.2), as Maskinporten answers a refused grant:
/// `{"error": "invalid_grant", "error_description": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthError {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error_description {
            Some(d) => write!(f, "{}: {d}", self.error),
            None => f.write_str(&self.error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ORG: &str = "11415cd1-e26d-499a-8421-751457dfcbd5";
    const ID: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

    #[test]
    fn paths() {
        assert_eq!(
            oppdater_sak_path(ORG, ID).unwrap(),
            format!("/digisos/api/v1/{ORG}/{ID}")
        );
        assert_eq!(
            filer_path(ORG, ID).unwrap(),
            format!("/digisos/api/v1/{ORG}/{ID}/filer")
        );
        let err = filer_path(ORG, "../x").unwrap_err();
        assert_eq!(err.what, "digisosId");
        assert!(err.to_string().contains("not a UUID"));
        assert_eq!(
            parse_sak_path(&format!("/digisos/api/v1/{ORG}/{ID}")),
            Some((ORG, ID, ""))
        );
        assert_eq!(
            parse_sak_path(&format!("/digisos/api/v1/{ORG}/{ID}/filer")),
            Some((ORG, ID, "/filer"))
        );
        assert_eq!(parse_sak_path(PUBLIC_KEY_PATH), None);
        assert_eq!(
            parse_sak_path(&format!("/digisos/api/v1/{ORG}/{ID}/x")),
            None
        );
        assert_eq!(
            parse_sak_path(&format!("/digisos/api/v1/{ORG}/nope/filer")),
            None
        );
        assert!(is_uuid(ORG) && is_uuid(&ORG.to_uppercase()));
        assert!(!is_uuid("11415cd1e26d499a8421751457dfcbd5"));
    }

    #[test]
    fn v4_uuids_from_bytes() {
        assert_eq!(
            uuid_v4_from_bytes([0; 16]),
            "00000000-0000-4000-8000-000000000000"
        );
        let u = uuid_v4_from_bytes([0xff; 16]);
        assert_eq!(u, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert!(is_uuid(&u));
        let u = uuid_v4_from_bytes(*b"0123456789abcdef");
        assert_eq!(u, "30313233-3435-4637-b839-616263646566");
    }

    #[test]
    fn bodies_on_the_wire() {
        let update = SakUpdate::new(json!({"version": "1.0.0"}));
        assert_eq!(
            serde_json::to_value(&update).unwrap(),
            json!({"type": "no.nav.digisos.digisos.soker.v1", "sak": {"soker": {"version": "1.0.0"}}})
        );
        let info: Vec<DokumentInfo> = serde_json::from_value(json!([
            {"filnavn": "vedtak.pdf", "dokumentlagerDokumentId": ID, "storrelse": 1234}
        ]))
        .unwrap();
        assert_eq!(info[0].dokumentlager_dokument_id, ID);
        let meta = FilMetadata {
            filnavn: "vedtak.pdf".into(),
            mimetype: "application/pdf".into(),
            storrelse: 10,
        };
        assert_eq!(
            serde_json::to_value(&meta).unwrap(),
            json!({"filnavn": "vedtak.pdf", "mimetype": "application/pdf", "storrelse": 10})
        );
        let err: FiksError = serde_json::from_value(json!({
            "timestamp": 1700000000000u64, "status": 400, "error": "Bad Request",
            "errorId": "e-1", "path": "/x", "originalPath": "/x",
            "message": "Ugyldig filreferanse", "errorCode": "UGYLDIG", "errorJson": null,
            "somethingNew": 1
        }))
        .unwrap();
        assert_eq!(
            err.summary(),
            "400 Bad Request: Ugyldig filreferanse (errorCode UGYLDIG, errorId e-1)"
        );
        assert_eq!(FiksError::default().summary(), "Fiks gave no details");
    }

    #[test]
    fn grant_claims_are_strict() {
        let claims = json!({
            "aud": MASKINPORTEN_TEST_AUDIENCE, "iss": "client", "scope": "ks:fiks other",
            "iat": 1, "exp": 121, "jti": ID
        });
        let parsed: GrantClaims = serde_json::from_value(claims.clone()).unwrap();
        assert!(parsed.has_fiks_scope());
        assert_eq!(serde_json::to_value(&parsed).unwrap(), claims);
        let mut extra = claims;
        extra["foo"] = json!("bar");
        assert!(serde_json::from_value::<GrantClaims>(extra).is_err());
        let narrow = GrantClaims {
            scope: "ks:fiksen".into(),
            ..parsed
        };
        assert!(!narrow.has_fiks_scope());
        let form = TokenRequest::new("a.b.c");
        assert_eq!(form.grant_type, JWT_BEARER_GRANT_TYPE);
    }
}
