//! HTTP clients for SvarInn's mottaksservice: V1 ([`SvarInnClient`]: hentNyeForsendelser,
//! download, kvitterMottak, mottakFeilet) and V2 ([`SvarInnV2Client`]: the list, the download
//! by `nedlastingslenke`, `PATCH …/status`), and [`ApiClient`], either one behind one
//! interface that lists into [`Listed`], so the inbound steps after the wire are shared.
//!
//! They know HTTP and SvarInn's status codes, nothing of the journal: every
//! failure is classified ([`ClientError::is_retryable`]) so the pipeline can
//! decide between backing off and asking a person.
//!
//! Module map: this file holds what both versions share (the HTTP core: URL checks, Basic
//! auth, timeouts, telemetry, error classification, the download kept on the configured
//! origin); `v1` and `v2` hold their wires; `tests` the unit tests and V2 against the fake.

mod v1;
mod v2;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
pub use mottak_protocol::listed::{Listed, Page, PageItem, SvarInnApi};
use reqwest::StatusCode;
use url::Url;

pub use v1::SvarInnClient;
pub use v2::SvarInnV2Client;

use crate::telemetry::{StatusClass, SvarInnOp, SystemTelemetry};

/// The list endpoint's answer is JSON of at most 200 items, each a few KiB
/// (KS's own example is 2 KiB; one with a hundred files about 30 KiB): 8 MiB
/// is 40 KiB an item. A bigger answer is not SvarInn's API and is refused,
/// unread past this, before it fills memory or the parser's time.
pub const MAX_LIST_BODY: usize = 8 * 1024 * 1024;
/// How much of an error body is kept for the operator to read.
const MAX_ERROR_BODY: usize = 2 * 1024;

/// Timeouts for one mottakersystem's calls.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    /// Whole-request limit for list, kvitterMottak and mottakFeilet (V2: the status PATCH).
    pub request: Duration,
    /// Longest silence between two chunks of a download (no total limit: files may be large).
    pub read_idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(60),
            read_idle: Duration::from_secs(60),
        }
    }
}

/// What went wrong talking to SvarInn.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "SvarInn refused the username or password ({status}): check `username` and the service password for this mottakersystem (SvarInn's Service tab)"
    )]
    Unauthorized { status: StatusCode },
    #[error("SvarInn answered {status} to {operation}: {body}")]
    Server {
        operation: &'static str,
        status: StatusCode,
        body: String,
    },
    #[error("SvarInn answered {status} to {operation}: {body}")]
    Rejected {
        operation: &'static str,
        status: StatusCode,
        body: String,
    },
    #[error("could not reach SvarInn for {operation}: {source}")]
    Network {
        operation: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("SvarInn's answer to {operation} is not what its API promises: {reason}")]
    Malformed {
        operation: &'static str,
        reason: String,
    },
    /// `field` is the list's name for the link: V1's `downloadUrl`, V2's `nedlastingslenke`.
    #[error(
        "the {field} {url} is not on the configured svarinn_url ({base}); refusing to send the password elsewhere"
    )]
    ForeignDownloadUrl {
        field: &'static str,
        url: String,
        base: String,
    },
    #[error("invalid SvarInn URL {url}: {reason}")]
    BadUrl { url: String, reason: String },
}

impl ClientError {
    /// Network trouble, timeouts and 5xx are worth retrying with backoff;
    /// authentication and other 4xx need a person or a different request.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Network { .. } | ClientError::Server { .. } => true,
            // 408 and 429 are the server asking us to come back later.
            ClientError::Rejected { status, .. } => {
                *status == StatusCode::REQUEST_TIMEOUT || *status == StatusCode::TOO_MANY_REQUESTS
            }
            ClientError::Unauthorized { .. }
            | ClientError::Malformed { .. }
            | ClientError::ForeignDownloadUrl { .. }
            | ClientError::BadUrl { .. } => false,
        }
    }
}

/// What a call's answer tells whoever paces the calls ([`Pacer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 2xx.
    Ok,
    /// 429, with its `Retry-After` if it sent one.
    TooManyRequests { retry_after: Option<Duration> },
    /// 503, with its `Retry-After` if it sent one.
    Unavailable { retry_after: Option<Duration> },
    /// Any other status, or no answer at all: says nothing about SvarInn's load.
    Other,
}

/// Paces one mottakersystem's calls (the inbound worker's [`crate::inbound::link::Link`]):
/// asked before every request, told of every answer.
pub trait Pacer: Send + Sync + std::fmt::Debug {
    /// The instant before which no request may be sent, if it has not passed.
    fn not_before(&self) -> Option<Instant>;
    /// A request of `op` was answered after `latency` (to the answer's head).
    fn answered(&self, op: SvarInnOp, latency: Duration, answer: Answer);
}

/// A download in progress: the headers SvarInn sent and the encrypted body.
pub struct Download {
    /// MIME type of the plaintext (`application/pdf`, `application/zip`; V2: always a ZIP).
    pub content_type: Option<String>,
    /// The file name from `Content-Disposition`, unsanitised.
    pub filename: Option<String>,
    /// `Content-Length` of the encrypted body, when sent.
    pub content_length: Option<u64>,
    pub body: std::pin::Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("content_type", &self.content_type)
            .field("filename", &self.filename)
            .field("content_length", &self.content_length)
            .finish_non_exhaustive()
    }
}

/// One mottakersystem's client, for the API its config names. An enum, not a trait: the
/// versions are KS's and few, the worker keeps one concrete type (no generics through the
/// pipeline, no boxed futures), and each call site's `match` is checked to cover both.
#[derive(Debug, Clone)]
pub enum ApiClient {
    V1(SvarInnClient),
    V2(SvarInnV2Client),
}

impl ApiClient {
    /// A client for `api` at `svarinn_url` (the host part from the config).
    pub fn new(
        api: SvarInnApi,
        svarinn_url: &str,
        username: &str,
        password: &str,
        timeouts: Timeouts,
    ) -> Result<Self, ClientError> {
        Ok(match api {
            SvarInnApi::V1 => ApiClient::V1(SvarInnClient::new(
                svarinn_url,
                username,
                password,
                timeouts,
            )?),
            SvarInnApi::V2 => ApiClient::V2(SvarInnV2Client::new(
                svarinn_url,
                username,
                password,
                timeouts,
            )?),
        })
    }

    /// Counts and times every call in `telemetry` (`/metrics`).
    #[must_use]
    pub fn with_telemetry(self, telemetry: Arc<SystemTelemetry>) -> Self {
        match self {
            ApiClient::V1(c) => ApiClient::V1(c.with_telemetry(telemetry)),
            ApiClient::V2(c) => ApiClient::V2(c.with_telemetry(telemetry)),
        }
    }

    /// Asks `pacer` before every request and tells it every answer.
    #[must_use]
    pub fn with_pacer(mut self, pacer: Arc<dyn Pacer>) -> Self {
        match &mut self {
            ApiClient::V1(c) => c.http.pacer = Some(pacer),
            ApiClient::V2(c) => c.http.pacer = Some(pacer),
        }
        self
    }

    /// Which API it speaks.
    pub fn api(&self) -> SvarInnApi {
        match self {
            ApiClient::V1(_) => SvarInnApi::V1,
            ApiClient::V2(_) => SvarInnApi::V2,
        }
    }

    /// The acknowledgement's name for the journal's history and logs.
    pub fn ack_name(&self) -> &'static str {
        match self {
            ApiClient::V1(_) => "kvitterMottak",
            ApiClient::V2(_) => "status MOTTATT",
        }
    }

    /// The failure report's name for the journal's history and logs.
    pub fn report_name(&self) -> &'static str {
        match self {
            ApiClient::V1(_) => "mottakFeilet",
            ApiClient::V2(_) => "status FEILET",
        }
    }

    fn http(&self) -> &Http {
        match self {
            ApiClient::V1(c) => &c.http,
            ApiClient::V2(c) => &c.http,
        }
    }

    /// The host SvarInn lives on, for status reports.
    pub fn host(&self) -> &str {
        self.http().host()
    }

    /// The addresses SvarInn's host resolves to now (see [`SvarInnClient::resolve`]).
    pub async fn resolve(&self) -> std::io::Result<Vec<SocketAddr>> {
        self.http().resolve().await
    }

    /// Up to 200 forsendelser not yet acknowledged, item by item in the common model.
    pub async fn list(&self) -> Result<Page, ClientError> {
        match self {
            ApiClient::V1(c) => c.list().await,
            ApiClient::V2(c) => c.list().await,
        }
    }

    /// Starts the download at `url` (a [`Listed::download_url`]), only on the configured origin.
    pub async fn download(&self, url: &str) -> Result<Download, ClientError> {
        match self {
            ApiClient::V1(c) => c.download(url).await,
            ApiClient::V2(c) => c.download(url).await,
        }
    }

    /// The forsendelse is taken: V1's kvitterMottak, V2's MOTTATT.
    pub async fn acknowledge(&self, forsendelse_id: &str) -> Result<(), ClientError> {
        match self {
            ApiClient::V1(c) => c.kvitter_mottak(forsendelse_id).await,
            ApiClient::V2(c) => c.mottatt(forsendelse_id).await,
        }
    }

    /// It could not be received: V1's mottakFeilet, V2's FEILET. `permanent` sends it to
    /// another channel (Altinn or print).
    pub async fn report_failure(
        &self,
        forsendelse_id: &str,
        feilmelding: &str,
        permanent: bool,
    ) -> Result<(), ClientError> {
        match self {
            ApiClient::V1(c) => {
                c.mottak_feilet(forsendelse_id, feilmelding, permanent)
                    .await
            }
            ApiClient::V2(c) => c.feilet(forsendelse_id, feilmelding, permanent).await,
        }
    }
}

/// What both versions' clients are made of: one mottakersystem's credentials on one
/// `svarinn_url`, and the calls' common handling.
#[derive(Clone)]
pub(crate) struct Http {
    http: reqwest::Client,
    /// The configured `svarinn_url`: downloads must stay on its origin.
    base: Url,
    username: String,
    password: String,
    timeouts: Timeouts,
    /// Where each call's time and answer are counted (the daemon's clients only).
    telemetry: Option<Arc<SystemTelemetry>>,
    /// The API the calls are counted under.
    api: SvarInnApi,
    /// Who decides when a request may go (the inbound worker's clients only).
    pacer: Option<Arc<dyn Pacer>>,
}

impl Http {
    /// `name`'s Debug: where and as whom, never the password.
    fn debug(&self, name: &str, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(name)
            .field("base", &self.base.as_str())
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

impl Http {
    fn new(
        api: SvarInnApi,
        svarinn_url: &str,
        username: &str,
        password: &str,
        timeouts: Timeouts,
    ) -> Result<Self, ClientError> {
        let bad = |reason: &str| ClientError::BadUrl {
            url: svarinn_url.to_owned(),
            reason: reason.to_owned(),
        };
        let base = Url::parse(svarinn_url).map_err(|err| bad(&err.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(bad(
                "the scheme must be https (or http for a local test peer)",
            ));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(bad(
                "no query or fragment, only scheme, host and optional path",
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .read_timeout(timeouts.read_idle)
            // SvarInn does not redirect; following one could carry the password elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mottak-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| ClientError::Network {
                operation: "setting up the HTTP client",
                source,
            })?;
        Ok(Http {
            http,
            base,
            username: username.to_owned(),
            password: password.to_owned(),
            timeouts,
            telemetry: None,
            api,
            pacer: None,
        })
    }

    fn host(&self) -> &str {
        self.base.host_str().unwrap_or("")
    }

    async fn resolve(&self) -> std::io::Result<Vec<SocketAddr>> {
        let port = self.base.port_or_known_default().unwrap_or(443);
        let addrs = tokio::net::lookup_host((self.host(), port)).await?;
        Ok(addrs.collect())
    }

    /// `path` (which starts with `/`) under the configured `svarinn_url`.
    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.base.as_str().trim_end_matches('/'))
    }

    fn url(&self, operation: &'static str, url: &str) -> Result<Url, ClientError> {
        Url::parse(url).map_err(|err| ClientError::BadUrl {
            url: format!("{url} ({operation})"),
            reason: err.to_string(),
        })
    }

    /// GETs a list body (at most [`MAX_LIST_BODY`]) within the request timeout.
    async fn get_list(&self, operation: &'static str, url: &str) -> Result<Vec<u8>, ClientError> {
        let url = self.url(operation, url)?;
        let response = self
            .send(
                operation,
                SvarInnOp::List,
                self.http.get(url).timeout(self.timeouts.request),
            )
            .await?;
        read_limited(operation, response, MAX_LIST_BODY).await
    }

    /// Starts the download at `link` (the list's `field`), which must be on the configured
    /// origin: the password goes nowhere else.
    async fn download(&self, field: &'static str, link: &str) -> Result<Download, ClientError> {
        const OP: &str = "download";
        let url = self.base.join(link).map_err(|err| ClientError::BadUrl {
            url: link.to_owned(),
            reason: err.to_string(),
        })?;
        if url.origin() != self.base.origin() {
            return Err(ClientError::ForeignDownloadUrl {
                field,
                url: url.to_string(),
                base: self.base.origin().ascii_serialization(),
            });
        }
        let response = self
            .send(OP, SvarInnOp::Download, self.http.get(url))
            .await?;
        let headers = response.headers();
        let content_type = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let filename = headers
            .get(reqwest::header::CONTENT_DISPOSITION)
            .and_then(|v| v.to_str().ok())
            .and_then(filename_from_content_disposition);
        let content_length = response.content_length();
        let body = response
            .bytes_stream()
            .map_err(std::io::Error::other)
            .boxed();
        Ok(Download {
            content_type,
            filename,
            content_length,
            body,
        })
    }

    /// Sends `body` as JSON within the request timeout; the answer's body is not needed.
    async fn send_json(
        &self,
        operation: &'static str,
        op: SvarInnOp,
        request: reqwest::RequestBuilder,
        body: String,
    ) -> Result<(), ClientError> {
        self.send(
            operation,
            op,
            request
                .timeout(self.timeouts.request)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body),
        )
        .await
        .map(drop)
    }

    async fn send(
        &self,
        operation: &'static str,
        op: SvarInnOp,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        if let Some(pacer) = &self.pacer {
            // No request before a Retry-After has passed (it may be pushed out meanwhile).
            while let Some(at) = pacer.not_before() {
                tokio::time::sleep_until(at.into()).await;
            }
        }
        let started = Instant::now();
        let response = request
            .basic_auth(&self.username, Some(&self.password))
            .send()
            .await;
        let latency = started.elapsed();
        if let Some(t) = &self.telemetry {
            let class = response
                .as_ref()
                .map_or(StatusClass::NoAnswer, |r| StatusClass::of(r.status()));
            t.svarinn_call(self.api, op, latency, class);
        }
        if let Some(pacer) = &self.pacer {
            let answer = response.as_ref().map_or(Answer::Other, |r| {
                answer_of(r.status(), r.headers(), std::time::SystemTime::now())
            });
            pacer.answered(op, latency, answer);
        }
        let response = response.map_err(|source| ClientError::Network { operation, source })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(ClientError::Unauthorized { status });
        }
        let body = read_limited(operation, response, MAX_ERROR_BODY)
            .await
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
            .unwrap_or_default();
        if status.is_server_error() {
            Err(ClientError::Server {
                operation,
                status,
                body,
            })
        } else {
            Err(ClientError::Rejected {
                operation,
                status,
                body,
            })
        }
    }
}

/// What an answer's status (and `Retry-After`, read at wall-clock `now`) says about SvarInn's load.
fn answer_of(
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    now: std::time::SystemTime,
) -> Answer {
    let retry_after = || {
        headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, now))
    };
    if status.is_success() {
        Answer::Ok
    } else if status == StatusCode::TOO_MANY_REQUESTS {
        Answer::TooManyRequests {
            retry_after: retry_after(),
        }
    } else if status == StatusCode::SERVICE_UNAVAILABLE {
        Answer::Unavailable {
            retry_after: retry_after(),
        }
    } else {
        Answer::Other
    }
}

/// A `Retry-After` value (RFC 9110 10.2.3): delay-seconds or an HTTP-date, as the wait from
/// `now` (a date already past: no wait). Anything else is no `Retry-After`.
fn retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Seconds beyond u64 are "a very long time": the pacer bounds it anyway.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A list body of `api` read item by item into the common model.
fn parse_page(operation: &'static str, api: SvarInnApi, body: &[u8]) -> Result<Page, ClientError> {
    mottak_protocol::listed::parse_page(api, body).map_err(|err| ClientError::Malformed {
        operation,
        reason: err.to_string(),
    })
}

/// Reads a body up to `limit` bytes; past that it is an error for bodies we
/// parse and a silent cut for error texts (we only show their start).
async fn read_limited(
    operation: &'static str,
    response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, ClientError> {
    let too_large = || ClientError::Malformed {
        operation,
        reason: format!(
            "the answer is larger than {} MiB, far more than a page of {} forsendelser takes; it was not read further",
            limit >> 20,
            mottak_protocol::svarinn::MAX_PAGE
        ),
    };
    let error_text = limit == MAX_ERROR_BODY;
    if !error_text
        && response
            .content_length()
            .is_some_and(|len| len > limit as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|source| ClientError::Network { operation, source })?;
        if body.len() + chunk.len() > limit {
            if error_text {
                body.extend_from_slice(&chunk[..limit - body.len()]);
                return Ok(body);
            }
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `attachment; filename="a.pdf"` or RFC 5987 `filename*=UTF-8''%C3%A6.pdf` (preferred when both).
fn filename_from_content_disposition(value: &str) -> Option<String> {
    let mut plain = None;
    for part in value.split(';').map(str::trim) {
        let Some((key, val)) = part.split_once('=') else {
            continue;
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "filename*" => {
                let val = val.trim();
                let encoded = val.splitn(3, '\'').nth(2).unwrap_or(val);
                let decoded: Vec<u8> = percent_decode(encoded);
                if let Ok(name) = String::from_utf8(decoded) {
                    return Some(name);
                }
            }
            "filename" => plain = Some(val.trim().trim_matches('"').to_owned()),
            _ => {}
        }
    }
    plain.filter(|name| !name.is_empty())
}

fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        // `get` (not slicing) because the two bytes after '%' may split a char.
        let hex = s.get(i + 1..i + 3);
        if bytes[i] == b'%'
            && let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests;
