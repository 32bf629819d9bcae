//! Maskinporten: access tokens for Fiks by the JWT grant (RFC 7523), as
//! `../shared/reference/digisos.md` §3 describes.
//!
//! - [`GrantKey`]: the virksomhetssertifikat's private key (mode-checked like
//!   every secret) and its certificate chain, leaf first; the leaf must hold
//!   the key's public half.
//! - [`sign_grant`]: the grant itself, pure: RS256, header `x5c` (the chain,
//!   base64 DER), claims `aud`, `iss` = client id, `scope`, `iat`, `exp` ≤
//!   `iat` + 120 s, a fresh `jti`. Signed with aws-lc-rs (RSASSA-PKCS1-v1_5
//!   SHA-256); no JWT crate is needed for one header and six claims.
//! - [`Maskinporten`]: posts the grant form-encoded and caches the token until
//!   shortly before `expires_in`, by the clock it is handed (the daemon's);
//!   [`Maskinporten::invalidate`] drops a token Fiks refused (401), so the
//!   next call fetches a fresh one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::signature::{self, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use mottak_protocol::cms::RecipientCert;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::clock::Clock;
use crate::config::MaskinportenSettings;
use crate::secret::{MAX_SECRET_FILE_BYTES, SecretError, read_private_file};
use crate::telemetry::{SystemTelemetry, TokenFailure};

/// The longest a grant may live (Maskinporten refuses more than 120 s).
pub const MAX_GRANT_LIFETIME: Duration = Duration::from_secs(120);
/// What we ask for: short, so a stolen grant is worth little.
pub const GRANT_LIFETIME: Duration = Duration::from_secs(100);
/// A token is replaced this long before it expires (or at half its life,
/// when that is sooner), so no request leaves with a token about to die.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(30);
/// The grant's `grant_type`.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Token answers are small; anything bigger is not Maskinporten.
const MAX_TOKEN_BODY: usize = 256 * 1024;
const MAX_ERROR_BODY: usize = 2 * 1024;

/// Why the grant key or chain cannot be used. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum GrantKeyError {
    #[error("cannot read the Maskinporten private key: {0}")]
    Read(#[from] SecretError),
    #[error("cannot read the certificate chain {}: {source}", path.display())]
    ChainRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the Maskinporten private key {} is not an RSA key in PEM (PKCS#8 \"BEGIN PRIVATE KEY\" or PKCS#1 \"BEGIN RSA PRIVATE KEY\"): {reason}",
        path.display()
    )]
    Key {
        path: PathBuf,
        reason: KeyParseError,
    },
    #[error(
        "the certificate chain {} holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\"); put the virksomhetssertifikat first, then its issuers",
        path.display()
    )]
    NoCertificate { path: PathBuf },
    #[error("certificate {index} in {} cannot be read: {reason}", path.display())]
    Certificate {
        path: PathBuf,
        index: usize,
        reason: String,
    },
    #[error(
        "the first certificate in {} ({description}) does not hold the public half of the private key {}: Maskinporten would refuse every grant; put the key's own certificate first",
        chain.display(), key.display()
    )]
    Mismatch {
        key: PathBuf,
        chain: PathBuf,
        description: String,
    },
}

/// Why the private key's bytes are not an RSA key aws-lc-rs can sign with.
#[derive(Debug, thiserror::Error)]
pub enum KeyParseError {
    #[error("PKCS#8: {0}")]
    Pkcs8(aws_lc_rs::error::KeyRejected),
    #[error("PKCS#1: {0}")]
    Pkcs1(aws_lc_rs::error::KeyRejected),
    #[error(
        "it is encrypted with a passphrase; store it unencrypted with mode 0600 (`openssl pkey -in enc.pem -out key.pem`)"
    )]
    Encrypted,
    #[error("no RSA private key found")]
    NoKey,
}

/// One certificate of the chain, for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEntry {
    /// Issuer and serial in words.
    pub description: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// The key that signs grants, with the chain sent in `x5c`.
pub struct GrantKey {
    key: RsaKeyPair,
    /// Base64 (standard, padded) DER of each certificate, leaf first.
    x5c: Vec<String>,
    chain: Vec<ChainEntry>,
}

impl std::fmt::Debug for GrantKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantKey")
            .field("chain", &self.chain)
            .finish_non_exhaustive()
    }
}

impl GrantKey {
    /// Loads the private key (mode 0600 or stricter) and the chain, and
    /// checks that the first certificate holds the key.
    pub fn load(private_key: &Path, certificate_chain: &Path) -> Result<GrantKey, GrantKeyError> {
        let key_bytes = read_private_file(private_key, MAX_SECRET_FILE_BYTES)?;
        let chain_text =
            std::fs::read(certificate_chain).map_err(|source| GrantKeyError::ChainRead {
                path: certificate_chain.to_owned(),
                source,
            })?;
        let key = parse_private_key(&key_bytes).map_err(|reason| GrantKeyError::Key {
            path: private_key.to_owned(),
            reason,
        })?;
        let ders = pem_blocks(&String::from_utf8_lossy(&chain_text), "CERTIFICATE");
        if ders.is_empty() {
            return Err(GrantKeyError::NoCertificate {
                path: certificate_chain.to_owned(),
            });
        }
        let mut chain = Vec::with_capacity(ders.len());
        for (index, der) in ders.iter().enumerate() {
            let cert = RecipientCert::from_der(der).map_err(|e| GrantKeyError::Certificate {
                path: certificate_chain.to_owned(),
                index,
                reason: e.to_string(),
            })?;
            let validity = cert.certificate().tbs_certificate().validity();
            chain.push(ChainEntry {
                description: cert.description(),
                not_before: OffsetDateTime::UNIX_EPOCH + validity.not_before.to_unix_duration(),
                not_after: OffsetDateTime::UNIX_EPOCH + validity.not_after.to_unix_duration(),
            });
            if index == 0 && !key_matches_certificate(&key, &cert) {
                return Err(GrantKeyError::Mismatch {
                    key: private_key.to_owned(),
                    chain: certificate_chain.to_owned(),
                    description: cert.description(),
                });
            }
        }
        Ok(GrantKey {
            key,
            x5c: ders.iter().map(|d| STANDARD.encode(d)).collect(),
            chain,
        })
    }

    /// The chain as loaded, leaf first.
    pub fn chain(&self) -> &[ChainEntry] {
        &self.chain
    }

    /// The `x5c` header value.
    pub fn x5c(&self) -> &[String] {
        &self.x5c
    }
}

/// PKCS#8 or PKCS#1 PEM (or DER) → an aws-lc-rs key pair.
fn parse_private_key(bytes: &[u8]) -> Result<RsaKeyPair, KeyParseError> {
    let text = String::from_utf8_lossy(bytes);
    if let Some(der) = pem_blocks(&text, "PRIVATE KEY").into_iter().next() {
        return RsaKeyPair::from_pkcs8(&der).map_err(KeyParseError::Pkcs8);
    }
    if let Some(der) = pem_blocks(&text, "RSA PRIVATE KEY").into_iter().next() {
        return RsaKeyPair::from_der(&der).map_err(KeyParseError::Pkcs1);
    }
    if text.contains("ENCRYPTED PRIVATE KEY") {
        return Err(KeyParseError::Encrypted);
    }
    RsaKeyPair::from_pkcs8(bytes)
        .or_else(|_| RsaKeyPair::from_der(bytes))
        .map_err(|_| KeyParseError::NoKey)
}

/// Signs a probe with `key` and verifies it with the certificate's key.
fn key_matches_certificate(key: &RsaKeyPair, cert: &RecipientCert) -> bool {
    let spki = cert
        .certificate()
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes()
        .to_vec();
    let probe = b"mottak: does this certificate hold this key?";
    let mut sig = vec![0u8; key.public_modulus_len()];
    let rng = aws_lc_rs::rand::SystemRandom::new();
    if key
        .sign(&signature::RSA_PKCS1_SHA256, &rng, probe, &mut sig)
        .is_err()
    {
        return false;
    }
    signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, spki)
        .verify(probe, &sig)
        .is_ok()
}

/// The DER bodies of every `-----BEGIN <label>-----` block, in order.
pub fn pem_blocks(text: &str, label: &str) -> Vec<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let after = &rest[start + begin.len()..];
        let Some(stop) = after.find(&end) else { break };
        let body: String = after[..stop]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if let Ok(der) = STANDARD.decode(body.as_bytes()) {
            out.push(der);
        }
        rest = &after[stop + end.len()..];
    }
    out
}

/// The grant's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantClaims {
    pub aud: String,
    pub iss: String,
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

#[derive(Serialize)]
struct GrantHeader<'a> {
    alg: &'static str,
    x5c: &'a [String],
}

/// Why a grant could not be signed.
#[derive(Debug, thiserror::Error)]
#[error("could not sign the Maskinporten grant: {0}")]
pub struct SignError(String);

/// Signs a grant: `<header>.<claims>.<signature>`, each base64url without padding.
pub fn sign_grant(key: &GrantKey, claims: &GrantClaims) -> Result<String, SignError> {
    let header = serde_json::to_vec(&GrantHeader {
        alg: "RS256",
        x5c: &key.x5c,
    })
    .map_err(|e| SignError(e.to_string()))?;
    let body = serde_json::to_vec(claims).map_err(|e| SignError(e.to_string()))?;
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(body)
    );
    let mut sig = vec![0u8; key.key.public_modulus_len()];
    let rng = aws_lc_rs::rand::SystemRandom::new();
    key.key
        .sign(
            &signature::RSA_PKCS1_SHA256,
            &rng,
            signing_input.as_bytes(),
            &mut sig,
        )
        .map_err(|e| SignError(e.to_string()))?;
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

/// The claims for a grant made at `now` (Unix seconds): the configured
/// audience, client id and scope, [`GRANT_LIFETIME`], a fresh `jti`.
pub fn claims_at(settings: &MaskinportenSettings, now: i64) -> GrantClaims {
    GrantClaims {
        aud: settings.audience.clone(),
        iss: settings.client_id.clone(),
        scope: settings.scope.clone(),
        iat: now,
        exp: now + i64::try_from(GRANT_LIFETIME.as_secs()).unwrap_or(100),
        jti: random_uuid(),
    }
}

/// A random (version 4) UUID, lowercase.
pub fn random_uuid() -> String {
    mottak_protocol::digisos::uuid_v4_from_bytes(rand::random())
}

/// An access token and when we stop using it.
#[derive(Clone)]
pub struct AccessToken {
    value: Arc<str>,
    /// When it is replaced (before Maskinporten's own expiry).
    pub refresh_at: OffsetDateTime,
    /// Maskinporten's expiry, for status.
    pub expires_at: OffsetDateTime,
}

impl AccessToken {
    /// The bearer value, for the one place that needs it (the Authorization header).
    pub fn expose(&self) -> &str {
        &self.value
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Why no token could be had. Every kind is retried with backoff by the
/// caller: a token problem is never the saksoppdatering's fault.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("could not reach Maskinporten at {url}: {reason}")]
    Network { url: String, reason: String },
    #[error(
        "Maskinporten refused the grant ({status}): {body}; check client_id, audience, scope and that the certificate is the one registered for the client in Digdir's self-service"
    )]
    Refused { status: u16, body: String },
    #[error("Maskinporten answered {status}: {body}")]
    Server { status: u16, body: String },
    #[error("Maskinporten's answer is not a token: {0}")]
    Malformed(String),
    #[error(transparent)]
    Sign(#[from] SignError),
}

impl TokenError {
    /// The kind, for `/metrics`.
    pub fn kind(&self) -> TokenFailure {
        match self {
            TokenError::Network { .. } => TokenFailure::Network,
            TokenError::Refused { .. } => TokenFailure::Refused,
            TokenError::Server { .. } => TokenFailure::Server,
            TokenError::Malformed(_) => TokenFailure::Malformed,
            TokenError::Sign(_) => TokenFailure::Sign,
        }
    }
}

/// What the console shows about Maskinporten.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenStatus {
    /// Unix ms of the last token received.
    pub last_token_at: Option<i64>,
    /// Unix ms when that token expires.
    pub token_expires_at: Option<i64>,
    /// Tokens fetched since start.
    pub tokens_fetched: u64,
    /// The last failure, cleared by the next success.
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
}

/// Tokens for one mottakersystem.
pub struct Maskinporten {
    http: reqwest::Client,
    settings: MaskinportenSettings,
    key: GrantKey,
    cached: tokio::sync::Mutex<Option<AccessToken>>,
    status: Mutex<TokenStatus>,
    timeout: Duration,
    /// "Now" for the cache, the grant and the status.
    clock: Arc<dyn Clock>,
    /// Where fetches and failures are counted (the daemon's clients only).
    telemetry: Option<Arc<SystemTelemetry>>,
}

impl std::fmt::Debug for Maskinporten {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Maskinporten")
            .field("url", &self.settings.url.as_str())
            .field("client_id", &self.settings.client_id)
            .finish_non_exhaustive()
    }
}

impl Maskinporten {
    pub fn new(
        settings: MaskinportenSettings,
        key: GrantKey,
        timeout: Duration,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // A redirect could carry the grant elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mottak-agent/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Maskinporten {
            http,
            settings,
            key,
            cached: tokio::sync::Mutex::new(None),
            status: Mutex::new(TokenStatus::default()),
            timeout,
            clock,
            telemetry: None,
        })
    }

    /// Counts every token fetch and failure in `telemetry` (`/metrics`).
    #[must_use]
    pub fn with_telemetry(mut self, telemetry: Arc<SystemTelemetry>) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    /// A token valid for a while yet: the cached one, or a fresh one.
    pub async fn token(&self) -> Result<AccessToken, TokenError> {
        let mut cached = self.cached.lock().await;
        if let Some(t) = cached.as_ref()
            && self.clock.now() < t.refresh_at
        {
            return Ok(t.clone());
        }
        *cached = None;
        let result = self.fetch().await;
        if let Some(t) = &self.telemetry {
            t.token_fetches
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Err(e) = &result {
                t.token_failed(e.kind());
            }
        }
        let now_ms = self.clock.now_ms();
        if let Ok(mut s) = self.status.lock() {
            match &result {
                Ok(t) => {
                    s.last_token_at = Some(now_ms);
                    s.token_expires_at = Some(crate::clock::to_millis(t.expires_at));
                    s.tokens_fetched += 1;
                    s.last_error = None;
                    s.last_error_at = None;
                }
                Err(e) => {
                    s.last_error = Some(e.to_string());
                    s.last_error_at = Some(now_ms);
                }
            }
        }
        let token = result?;
        *cached = Some(token.clone());
        Ok(token)
    }

    /// Forgets `used` (Fiks answered 401 to it); a newer token is kept.
    pub async fn invalidate(&self, used: &AccessToken) {
        let mut cached = self.cached.lock().await;
        if cached
            .as_ref()
            .is_some_and(|t| Arc::ptr_eq(&t.value, &used.value))
        {
            *cached = None;
        }
    }

    /// The status for the console.
    pub fn status(&self) -> TokenStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The grant key's chain.
    pub fn chain(&self) -> &[ChainEntry] {
        self.key.chain()
    }

    async fn fetch(&self) -> Result<AccessToken, TokenError> {
        let started = self.clock.now();
        let grant = sign_grant(
            &self.key,
            &claims_at(&self.settings, started.unix_timestamp()),
        )?;
        let body = form_body(&[("grant_type", GRANT_TYPE), ("assertion", &grant)]);
        let url = self.settings.url.as_str().to_owned();
        let response = self
            .http
            .post(self.settings.url.clone())
            .timeout(self.timeout)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| TokenError::Network {
                url: url.clone(),
                reason: crate::fiks_client::error_chain(&e),
            })?;
        let status = response.status();
        let bytes =
            read_limited(response, MAX_TOKEN_BODY)
                .await
                .map_err(|e| TokenError::Network {
                    url: url.clone(),
                    reason: e.to_string(),
                })?;
        if !status.is_success() {
            let body =
                crate::fiks_client::shorten(&String::from_utf8_lossy(&bytes), MAX_ERROR_BODY);
            return Err(if status.is_server_error() {
                TokenError::Server {
                    status: status.as_u16(),
                    body,
                }
            } else {
                TokenError::Refused {
                    status: status.as_u16(),
                    body,
                }
            });
        }
        let parsed: TokenResponse =
            serde_json::from_slice(&bytes).map_err(|e| TokenError::Malformed(format!("{e}")))?;
        if parsed.access_token.is_empty() {
            return Err(TokenError::Malformed("access_token is empty".into()));
        }
        // No expires_in: assume a short life rather than a long one.
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(60));
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        Ok(AccessToken {
            value: parsed.access_token.into(),
            refresh_at: started + lifetime.saturating_sub(margin),
            expires_at: self.clock.now() + lifetime,
        })
    }
}

/// `application/x-www-form-urlencoded`.
fn form_body(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// Why a token answer's body could not be read.
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("{}", crate::fiks_client::error_chain(.0))]
    Stream(reqwest::Error),
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
}

async fn read_limited(response: reqwest::Response, max: usize) -> Result<Vec<u8>, BodyError> {
    use futures_util::StreamExt;
    let mut out = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(BodyError::Stream)?;
        if out.len() + chunk.len() > max {
            return Err(BodyError::TooLarge(max));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn settings(dir: &Path) -> MaskinportenSettings {
        MaskinportenSettings {
            url: "https://test.maskinporten.no/token".parse().unwrap(),
            audience: "https://test.maskinporten.no/".into(),
            client_id: "client-1".into(),
            private_key: dir.join("key.pem"),
            certificate_chain: dir.join("chain.pem"),
            scope: "ks:fiks".into(),
        }
    }

    fn write_pair(dir: &Path, ca_too: bool) -> (mottak_fixtures::TestKeyPair, String) {
        let pair = mottak_fixtures::TestKeyPair::generate("virksomhet").unwrap();
        let key = dir.join("key.pem");
        std::fs::write(&key, &pair.key_pem).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut chain = pair.cert_pem.clone();
        if ca_too {
            chain.push_str(
                &mottak_fixtures::TestKeyPair::generate("ca")
                    .unwrap()
                    .cert_pem,
            );
        }
        std::fs::write(dir.join("chain.pem"), &chain).unwrap();
        (pair, chain)
    }

    fn decode_part<T: serde::de::DeserializeOwned>(part: &str) -> T {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn the_grant_verifies_with_the_certificate_and_carries_the_claims() {
        let dir = tempfile::tempdir().unwrap();
        let (pair, _) = write_pair(dir.path(), true);
        let s = settings(dir.path());
        let key = GrantKey::load(&s.private_key, &s.certificate_chain).unwrap();
        assert_eq!(key.chain().len(), 2);
        let claims = claims_at(&s, 1_700_000_000);
        let jwt = sign_grant(&key, &claims).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value = decode_part(parts[0]);
        assert_eq!(header["alg"], "RS256");
        let x5c = header["x5c"].as_array().unwrap();
        assert_eq!(x5c.len(), 2);
        let leaf_der = STANDARD.decode(x5c[0].as_str().unwrap()).unwrap();
        assert_eq!(leaf_der, pem_blocks(&pair.cert_pem, "CERTIFICATE")[0]);
        let got: GrantClaims = decode_part(parts[1]);
        assert_eq!(got, claims);
        assert_eq!(got.iss, "client-1");
        assert_eq!(got.aud, "https://test.maskinporten.no/");
        assert_eq!(got.scope, "ks:fiks");
        assert!(got.exp > got.iat && got.exp - got.iat <= 120);
        // Verify with the public key from the x5c leaf.
        let cert = RecipientCert::from_der(&leaf_der).unwrap();
        let spki = cert
            .certificate()
            .tbs_certificate()
            .subject_public_key_info()
            .subject_public_key
            .raw_bytes()
            .to_vec();
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        let input = format!("{}.{}", parts[0], parts[1]);
        signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &spki)
            .verify(input.as_bytes(), &sig)
            .unwrap();
        // A changed claim no longer verifies.
        let forged = format!(
            "{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(br#"{"iss":"someone-else"}"#)
        );
        assert!(
            signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &spki)
                .verify(forged.as_bytes(), &sig)
                .is_err()
        );
    }

    #[test]
    fn every_grant_has_a_fresh_jti() {
        let dir = tempfile::tempdir().unwrap();
        write_pair(dir.path(), false);
        let s = settings(dir.path());
        let a = claims_at(&s, 1);
        let b = claims_at(&s, 1);
        assert_ne!(a.jti, b.jti);
        assert!(mottak_protocol::digisos::is_uuid(&a.jti), "{}", a.jti);
        assert_eq!(&a.jti[14..15], "4");
    }

    /// openssl, independently: the signature checks out with `openssl dgst`
    /// against the certificate's public key.
    #[test]
    fn openssl_agrees() {
        if std::process::Command::new("openssl")
            .arg("version")
            .output()
            .is_err()
        {
            eprintln!("openssl not installed; skipping the independent check");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (pair, _) = write_pair(dir.path(), false);
        let s = settings(dir.path());
        let key = GrantKey::load(&s.private_key, &s.certificate_chain).unwrap();
        let jwt = sign_grant(&key, &claims_at(&s, 1_700_000_000)).unwrap();
        let (input, sig) = jwt.rsplit_once('.').unwrap();
        let d = dir.path();
        std::fs::write(d.join("input"), input).unwrap();
        std::fs::write(d.join("sig"), URL_SAFE_NO_PAD.decode(sig).unwrap()).unwrap();
        std::fs::write(d.join("cert.pem"), &pair.cert_pem).unwrap();
        let pubkey = std::process::Command::new("openssl")
            .args(["x509", "-pubkey", "-noout", "-in"])
            .arg(d.join("cert.pem"))
            .output()
            .unwrap();
        assert!(pubkey.status.success());
        std::fs::write(d.join("pub.pem"), &pubkey.stdout).unwrap();
        let verify = std::process::Command::new("openssl")
            .args(["dgst", "-sha256", "-verify"])
            .arg(d.join("pub.pem"))
            .arg("-signature")
            .arg(d.join("sig"))
            .arg(d.join("input"))
            .output()
            .unwrap();
        assert!(
            verify.status.success(),
            "{}",
            String::from_utf8_lossy(&verify.stdout)
        );
    }

    #[test]
    fn a_chain_whose_leaf_is_not_the_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        write_pair(dir.path(), false);
        let other = mottak_fixtures::TestKeyPair::generate("other").unwrap();
        std::fs::write(dir.path().join("chain.pem"), &other.cert_pem).unwrap();
        let s = settings(dir.path());
        let err = GrantKey::load(&s.private_key, &s.certificate_chain).unwrap_err();
        assert!(matches!(err, GrantKeyError::Mismatch { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("put the key's own certificate first")
        );
        // No certificate at all.
        std::fs::write(dir.path().join("chain.pem"), "nothing here").unwrap();
        let err = GrantKey::load(&s.private_key, &s.certificate_chain).unwrap_err();
        assert!(matches!(err, GrantKeyError::NoCertificate { .. }), "{err}");
        // A key readable by others.
        std::fs::set_permissions(&s.private_key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = GrantKey::load(&s.private_key, &s.certificate_chain).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    /// The cache runs on the clock it is handed: a token is reused until
    /// [`REFRESH_MARGIN`] before its expiry, then a fresh one is fetched.
    #[tokio::test]
    async fn a_cached_token_is_reused_until_its_refresh_margin_then_fetched_again() {
        use crate::clock::{Clock, ManualClock};
        use mottak_fixtures::maskinporten::FakeMaskinporten;

        let dir = tempfile::tempdir().unwrap();
        let (pair, _) = write_pair(dir.path(), false);
        let fake = FakeMaskinporten::builder()
            .trust_client("client-1", &pair.cert_pem)
            .token_lifetime(Duration::from_secs(120))
            .start()
            .await
            .unwrap();
        let mut s = settings(dir.path());
        s.url = fake.token_url().parse().unwrap();
        s.audience = fake.audience().to_owned();
        let key = GrantKey::load(&s.private_key, &s.certificate_chain).unwrap();
        // The fake checks each grant's iat against the real time (±10 s):
        // start 95 s back, so the refetch 91 s later is near the real now.
        let clock = Arc::new(ManualClock::new(
            OffsetDateTime::now_utc() - Duration::from_secs(95),
        ));
        let mp = Maskinporten::new(s, key, Duration::from_secs(10), clock.clone()).unwrap();

        let first = mp.token().await.unwrap();
        assert_eq!(fake.issued().len(), 1);
        assert_eq!(mp.status().last_token_at, Some(clock.now_ms()));
        // 120 s life, replaced 30 s before it ends: still the same at 89 s.
        clock.advance(Duration::from_secs(89));
        let cached = mp.token().await.unwrap();
        assert_eq!(cached.expose(), first.expose());
        assert_eq!(fake.issued().len(), 1);
        // Past the margin: a fresh one.
        clock.advance(Duration::from_secs(2));
        let fresh = mp.token().await.unwrap();
        assert_ne!(fresh.expose(), first.expose());
        assert_eq!(fake.issued().len(), 2);
        let status = mp.status();
        assert_eq!(status.tokens_fetched, 2);
        assert_eq!(status.last_token_at, Some(clock.now_ms()));
    }

    #[test]
    fn pkcs1_keys_load_too() {
        if std::process::Command::new("openssl")
            .arg("version")
            .output()
            .is_err()
        {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        write_pair(dir.path(), false);
        let s = settings(dir.path());
        let out = std::process::Command::new("openssl")
            .args(["rsa", "-traditional", "-in"])
            .arg(&s.private_key)
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("BEGIN RSA PRIVATE KEY"));
        std::fs::write(&s.private_key, &out.stdout).unwrap();
        GrantKey::load(&s.private_key, &s.certificate_chain).unwrap();
    }
}
