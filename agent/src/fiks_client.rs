//! HTTP client for Fiks: Digisos (the sak API a fagsystem uses: Fiks's public
//! key, the files on a case, uploads, and updates; facts and sources in
//! `../shared/reference/digisos.md`, paths and bodies in
//! `mottak_protocol::digisos`), and Fiks IO's REST side (a receipt sent with
//! `POST /fiks-io/api/v1/send`, a large message's body from the dokumentlager;
//! `../shared/reference/fiks-2026.md` Q2). Both speak the same auth.
//!
//! Every call carries `Authorization: Bearer <Maskinporten token>`,
//! `IntegrasjonId` and `IntegrasjonPassord`. A 401 drops the token and the
//! call is made once more with a fresh one; a second 401 is an
//! [`FiksCallError::Unauthorized`], retried later like a network error.
//! Only 400, 403, 404 and other 4xx are [`FiksCallError::Rejected`]: the
//! update itself is wrong and goes to `ut-feilet/` with Fiks's own words.
//!
//! Uploads stream: the file is read and CMS-encrypted
//! (`mottak_protocol::cms::encrypt`, RSAES-OAEP SHA-256 + AES-256-CBC, one
//! recipient) on a blocking thread into a small bounded channel that feeds a
//! chunked multipart body: the metadata part, then the encrypted file. At most
//! a few hundred KiB of a file are in memory, whatever its size.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use mottak_protocol::cms::{self, EncryptOptions, RecipientCert};
use mottak_protocol::digisos::{
    self, DokumentInfo, FiksError, FilMetadata, HEADER_INTEGRASJON_ID, HEADER_INTEGRASJON_PASSORD,
    HEADER_REQUEST_ID, SakUpdate,
};
use reqwest::StatusCode;
use url::Url;

use crate::clock::Clock;
use crate::config::{DigisosSettings, FiksIoSettings, fiks_io_defaults};
use crate::maskinporten::{AccessToken, Maskinporten, TokenError, random_uuid};
use crate::secret::Secret;
use crate::telemetry::{FiksOp, StatusClass, SystemTelemetry};

/// File lists and update answers are small.
const MAX_BODY: usize = 4 * 1024 * 1024;
/// How much of an error body is kept for the operator.
const MAX_ERROR_TEXT: usize = 2 * 1024;
/// Encrypted bytes per body chunk, and how many chunks may wait.
const CHUNK: usize = 64 * 1024;
const CHUNKS_IN_FLIGHT: usize = 4;

/// What went wrong talking to Fiks.
#[derive(Debug, thiserror::Error)]
pub enum FiksCallError {
    #[error("could not reach Fiks for {op}: {reason}")]
    Network { op: &'static str, reason: String },
    #[error("Fiks answered {status} to {op}: {body}")]
    Server {
        op: &'static str,
        status: u16,
        body: String,
    },
    #[error(
        "Fiks refused the access token or the integration for {op} even with a fresh token (401: {body}); check that the integration has the Digisos privilege, that integrasjon_id and integrasjon_passord are right, and that Maskinporten gives scope ks:fiks to this organisation"
    )]
    Unauthorized { op: &'static str, body: String },
    #[error("no Maskinporten token: {0}")]
    Token(#[from] TokenError),
    #[error("Fiks refused {op} ({status}): {message}")]
    Rejected {
        op: &'static str,
        status: u16,
        /// Fiks's error, summarised (`400 Bad Request: ... (errorCode X)`).
        message: String,
    },
    #[error("Fiks's answer to {op} is not what its API promises: {reason}")]
    Malformed { op: &'static str, reason: String },
    #[error("{op}: {reason}")]
    Local { op: &'static str, reason: String },
}

impl FiksCallError {
    /// True when the update itself is at fault (400, 403, 404, other 4xx
    /// but 401, 408 and 429): it goes to `ut-feilet/`. Everything else is
    /// retried with backoff.
    pub fn is_permanent(&self) -> bool {
        matches!(self, FiksCallError::Rejected { .. })
    }
}

/// What the console shows about Fiks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FiksStatus {
    /// Unix ms of the last call Fiks answered with 2xx.
    pub last_ok_at: Option<i64>,
    /// The last failure (any kind), cleared by the next success.
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    /// Fiks's encryption certificate, once fetched.
    pub public_key: Option<String>,
    pub public_key_not_after: Option<i64>,
}

/// Timeouts of Fiks calls.
#[derive(Debug, Clone, Copy)]
pub struct FiksTimeouts {
    pub request: Duration,
    pub upload: Duration,
}

/// A client for one mottakersystem's Fiks integration.
pub struct FiksClient {
    http: reqwest::Client,
    base: Url,
    org: String,
    integrasjon_id: String,
    passord: Secret,
    maskinporten: Arc<Maskinporten>,
    timeouts: FiksTimeouts,
    public_key: tokio::sync::Mutex<Option<Arc<RecipientCert>>>,
    status: Mutex<FiksStatus>,
    /// Where answers and uploads are counted (the daemon's clients only).
    telemetry: Option<Arc<SystemTelemetry>>,
    /// "Now" for the status.
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for FiksClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FiksClient")
            .field("base", &self.base.as_str())
            .field("org", &self.org)
            .field("integrasjon_id", &self.integrasjon_id)
            .finish_non_exhaustive()
    }
}

impl FiksClient {
    /// The client `[mottakersystem.digisos]` describes: its API URL,
    /// organisation, integration and timeouts. The password is loaded by the
    /// caller (the daemon and `doctor` read credentials from different places)
    /// and tokens come from `maskinporten`; `clock` times the status.
    pub fn from_settings(
        settings: &DigisosSettings,
        passord: Secret,
        maskinporten: Arc<Maskinporten>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, FiksCallError> {
        Self::new(
            settings.fiks_api_url.clone(),
            settings.fiks_org_id.clone(),
            settings.integrasjon_id.clone(),
            passord,
            maskinporten,
            FiksTimeouts {
                request: settings.request_timeout,
                upload: settings.upload_timeout,
            },
            clock,
        )
    }

    /// The client `[mottakersystem.fiks_io]` describes, for its receipts and
    /// dokumentlager downloads (`upload` is the download's timeout). It has
    /// no organisation: the Digisos sak calls are not for it.
    pub fn for_fiks_io(
        settings: &FiksIoSettings,
        passord: Secret,
        maskinporten: Arc<Maskinporten>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, FiksCallError> {
        Self::new(
            settings.api_url.clone(),
            String::new(),
            settings.integrasjon_id.clone(),
            passord,
            maskinporten,
            FiksTimeouts {
                request: fiks_io_defaults::REQUEST_TIMEOUT,
                upload: fiks_io_defaults::DOWNLOAD_TIMEOUT,
            },
            clock,
        )
    }

    fn new(
        base: Url,
        org: String,
        integrasjon_id: String,
        passord: Secret,
        maskinporten: Arc<Maskinporten>,
        timeouts: FiksTimeouts,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, FiksCallError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // A redirect could carry the token and the password elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mottak-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FiksCallError::Local {
                op: "setting up the HTTP client",
                reason: error_chain(&e),
            })?;
        Ok(FiksClient {
            http,
            base,
            org,
            integrasjon_id,
            passord,
            maskinporten,
            timeouts,
            public_key: tokio::sync::Mutex::new(None),
            status: Mutex::new(FiksStatus::default()),
            telemetry: None,
            clock,
        })
    }

    /// Counts every answer and upload in `telemetry` (`/metrics`).
    #[must_use]
    pub fn with_telemetry(mut self, telemetry: Arc<SystemTelemetry>) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    fn count_answer(&self, op: FiksOp, class: StatusClass) {
        if let Some(t) = &self.telemetry {
            t.fiks(op).add(class);
        }
    }

    /// The status for the console.
    pub fn status(&self) -> FiksStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The Maskinporten client this one takes tokens from.
    pub fn maskinporten(&self) -> &Arc<Maskinporten> {
        &self.maskinporten
    }

    fn url(&self, op: &'static str, path: &str) -> Result<Url, FiksCallError> {
        let base = self.base.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{path}")).map_err(|e| FiksCallError::Local {
            op,
            reason: format!("bad URL {base}{path}: {e}"),
        })
    }

    fn sak_path(
        &self,
        op: &'static str,
        digisos_id: &str,
        filer: bool,
    ) -> Result<Url, FiksCallError> {
        let path = if filer {
            digisos::filer_path(&self.org, digisos_id)
        } else {
            digisos::oppdater_sak_path(&self.org, digisos_id)
        }
        .map_err(|e| FiksCallError::Local {
            op,
            reason: e.to_string(),
        })?;
        self.url(op, &path)
    }

    fn record(&self, result: Result<(), &FiksCallError>) {
        let now = self.clock.now_ms();
        if let Ok(mut s) = self.status.lock() {
            match result {
                Ok(()) => {
                    s.last_ok_at = Some(now);
                    s.last_error = None;
                    s.last_error_at = None;
                }
                Err(e) => {
                    s.last_error = Some(e.to_string());
                    s.last_error_at = Some(now);
                }
            }
        }
    }

    /// Sends the request `build` makes with a token; on 401 drops the token
    /// and tries once more with a fresh one. Returns the 2xx response.
    async fn send<F>(
        &self,
        op: &'static str,
        metric: FiksOp,
        build: F,
    ) -> Result<reqwest::Response, FiksCallError>
    where
        F: Fn(&AccessToken) -> Result<reqwest::RequestBuilder, FiksCallError>,
    {
        let result = self.send_inner(op, metric, build).await;
        self.record(result.as_ref().map(|_| ()));
        result
    }

    async fn send_inner<F>(
        &self,
        op: &'static str,
        metric: FiksOp,
        build: F,
    ) -> Result<reqwest::Response, FiksCallError>
    where
        F: Fn(&AccessToken) -> Result<reqwest::RequestBuilder, FiksCallError>,
    {
        let mut refreshed = false;
        loop {
            let token = self.maskinporten.token().await?;
            let request = build(&token)?
                .bearer_auth(token.expose())
                .header(HEADER_INTEGRASJON_ID, &self.integrasjon_id)
                .header(HEADER_INTEGRASJON_PASSORD, self.passord.expose())
                .header(HEADER_REQUEST_ID, random_uuid());
            let response = request.send().await;
            self.count_answer(
                metric,
                response
                    .as_ref()
                    .map_or(StatusClass::NoAnswer, |r| StatusClass::of(r.status())),
            );
            let response = response.map_err(|e| FiksCallError::Network {
                op,
                reason: error_chain(&e),
            })?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            let text = error_text(response).await;
            if status == StatusCode::UNAUTHORIZED {
                self.maskinporten.invalidate(&token).await;
                if !refreshed {
                    refreshed = true;
                    tracing::info!(
                        op,
                        "Fiks answered 401; fetching a fresh Maskinporten token and trying once more"
                    );
                    continue;
                }
                return Err(FiksCallError::Unauthorized { op, body: text });
            }
            return Err(classify(op, status, text));
        }
    }

    /// Fiks's encryption certificate: fetched once, then cached.
    pub async fn public_key(&self) -> Result<Arc<RecipientCert>, FiksCallError> {
        const OP: &str = "fetching Fiks's public key (dokumentlager-public-key)";
        let mut cached = self.public_key.lock().await;
        if let Some(cert) = cached.as_ref() {
            return Ok(Arc::clone(cert));
        }
        let url = self.url(OP, digisos::PUBLIC_KEY_PATH)?;
        let timeout = self.timeouts.request;
        let response = self
            .send(OP, FiksOp::PublicKey, |_| {
                Ok(self.http.get(url.clone()).timeout(timeout))
            })
            .await?;
        let bytes = read_limited(OP, response, MAX_BODY).await?;
        let cert =
            RecipientCert::from_pem_or_der(&bytes).map_err(|e| FiksCallError::Malformed {
                op: OP,
                reason: format!("not an X.509 certificate in DER or PEM: {e}"),
            })?;
        let not_after = cert
            .certificate()
            .tbs_certificate()
            .validity()
            .not_after
            .to_unix_duration();
        if let Ok(mut s) = self.status.lock() {
            s.public_key = Some(cert.description());
            s.public_key_not_after = i64::try_from(not_after.as_millis()).ok();
        }
        let cert = Arc::new(cert);
        *cached = Some(Arc::clone(&cert));
        Ok(cert)
    }

    /// `GET .../filer`: the files already on the case.
    pub async fn list_files(&self, digisos_id: &str) -> Result<Vec<DokumentInfo>, FiksCallError> {
        const OP: &str = "listing the case's files (GET .../filer)";
        let url = self.sak_path(OP, digisos_id, true)?;
        let timeout = self.timeouts.request;
        let response = self
            .send(OP, FiksOp::ListFiles, |_| {
                Ok(self
                    .http
                    .get(url.clone())
                    .timeout(timeout)
                    .header(reqwest::header::ACCEPT, "application/json"))
            })
            .await?;
        let bytes = read_limited(OP, response, MAX_BODY).await?;
        serde_json::from_slice(&bytes).map_err(|e| FiksCallError::Malformed {
            op: OP,
            reason: format!("not a list of DokumentInfo: {e}"),
        })
    }

    /// Uploads one file to the case: streamed, encrypted to Fiks's key,
    /// from an open handle (the caller opened it beneath the drop folder,
    /// never through a link): its first `meta.storrelse` bytes, read at
    /// offsets, so a repeated attempt (a fresh token) sends the same bytes.
    pub async fn upload(
        &self,
        digisos_id: &str,
        file: Arc<File>,
        meta: &FilMetadata,
    ) -> Result<DokumentInfo, FiksCallError> {
        let result = self.upload_once(digisos_id, file, meta).await;
        if let Some(t) = &self.telemetry {
            use std::sync::atomic::Ordering::Relaxed;
            if result.is_ok() {
                t.uploads.fetch_add(1, Relaxed);
                t.uploaded_bytes.fetch_add(meta.storrelse, Relaxed);
            } else {
                t.upload_failures.fetch_add(1, Relaxed);
            }
        }
        result
    }

    async fn upload_once(
        &self,
        digisos_id: &str,
        file: Arc<File>,
        meta: &FilMetadata,
    ) -> Result<DokumentInfo, FiksCallError> {
        const OP: &str = "uploading a file (POST .../filer)";
        let cert = self.public_key().await?;
        let url = self.sak_path(OP, digisos_id, true)?;
        let timeout = self.timeouts.upload;
        let response = self
            .send(OP, FiksOp::Upload, |_| {
                let (content_type, body) = upload_body(Arc::clone(&file), meta, Arc::clone(&cert))?;
                Ok(self
                    .http
                    .post(url.clone())
                    .timeout(timeout)
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .header(reqwest::header::ACCEPT, "application/json")
                    .body(body))
            })
            .await?;
        let bytes = read_limited(OP, response, MAX_BODY).await?;
        let infos: Vec<DokumentInfo> =
            serde_json::from_slice(&bytes).map_err(|e| FiksCallError::Malformed {
                op: OP,
                reason: format!("not a list of DokumentInfo: {e}"),
            })?;
        // One file per upload: a single entry is ours even if Fiks renamed it.
        let info = if infos.len() == 1 {
            infos.into_iter().next()
        } else {
            infos.into_iter().find(|i| i.filnavn == meta.filnavn)
        };
        match info {
            Some(info) if mottak_protocol::digisos::is_uuid(&info.dokumentlager_dokument_id) => {
                Ok(DokumentInfo {
                    dokumentlager_dokument_id: info.dokumentlager_dokument_id.to_ascii_lowercase(),
                    ..info
                })
            }
            Some(info) => Err(FiksCallError::Malformed {
                op: OP,
                reason: format!(
                    "dokumentlagerDokumentId {:?} is not a UUID",
                    shorten(&info.dokumentlager_dokument_id, 80)
                ),
            }),
            None => Err(FiksCallError::Malformed {
                op: OP,
                reason: format!("no DokumentInfo for {:?} in the answer", meta.filnavn),
            }),
        }
    }

    /// `POST` the update (whole replace).
    pub async fn post_update(
        &self,
        digisos_id: &str,
        update: &SakUpdate,
    ) -> Result<(), FiksCallError> {
        const OP: &str = "posting the saksoppdatering";
        let url = self.sak_path(OP, digisos_id, false)?;
        let body = serde_json::to_vec(update).map_err(|e| FiksCallError::Local {
            op: OP,
            reason: e.to_string(),
        })?;
        let body = Bytes::from(body);
        let timeout = self.timeouts.request;
        let response = self
            .send(OP, FiksOp::PostUpdate, |_| {
                Ok(self
                    .http
                    .post(url.clone())
                    .timeout(timeout)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone()))
            })
            .await?;
        // Any 2xx is success; the body (if any) is not needed.
        drop(response);
        Ok(())
    }

    /// `POST /fiks-io/api/v1/send` with one part, `metadata` (JSON), and
    /// no data part: a Digisos receipt. Any 2xx is sent.
    pub async fn fiks_io_send(&self, metadata: &serde_json::Value) -> Result<(), FiksCallError> {
        const OP: &str = "sending the Fiks IO receipt (POST /fiks-io/api/v1/send)";
        let url = self.url(OP, FIKS_IO_SEND_PATH)?;
        let boundary = format!("mottak-{}", random_uuid());
        let body = Bytes::from(format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n{metadata}\r\n--{boundary}--\r\n"
        ));
        let content_type = format!("multipart/form-data; boundary={boundary}");
        let timeout = self.timeouts.request;
        let response = self
            .send(OP, FiksOp::FiksIoSend, |_| {
                Ok(self
                    .http
                    .post(url.clone())
                    .timeout(timeout)
                    .header(reqwest::header::CONTENT_TYPE, content_type.clone())
                    .header(reqwest::header::ACCEPT, "application/json")
                    .body(body.clone()))
            })
            .await?;
        drop(response);
        Ok(())
    }

    /// `GET /dokumentlager/nedlasting/{id}`: a large Fiks IO message's
    /// encrypted body, as a response whose body the caller streams (and
    /// bounds). `id` must be a UUID (it goes into the path).
    pub async fn dokumentlager_download(
        &self,
        id: &str,
    ) -> Result<reqwest::Response, FiksCallError> {
        const OP: &str = "downloading a Fiks IO message (GET /dokumentlager/nedlasting/...)";
        if !mottak_protocol::digisos::is_uuid(id) {
            return Err(FiksCallError::Local {
                op: OP,
                reason: "the dokumentlager id is not a UUID".to_owned(),
            });
        }
        let url = self.url(OP, &format!("{DOKUMENTLAGER_PATH}{id}"))?;
        let timeout = self.timeouts.upload;
        self.send(OP, FiksOp::Dokumentlager, |_| {
            Ok(self.http.get(url.clone()).timeout(timeout))
        })
        .await
    }
}

/// Fiks IO's send endpoint (receipts), on the API host.
pub const FIKS_IO_SEND_PATH: &str = "/fiks-io/api/v1/send";
/// Where a Fiks IO message over 5 MB is fetched, `+ {dokumentlager-id}`.
pub const DOKUMENTLAGER_PATH: &str = "/dokumentlager/nedlasting/";

/// The multipart body of one file: the metadata part, then the encrypted
/// file, streamed with `Transfer-Encoding: chunked`.
fn upload_body(
    file: Arc<File>,
    meta: &FilMetadata,
    cert: Arc<RecipientCert>,
) -> Result<(String, reqwest::Body), FiksCallError> {
    const OP: &str = "preparing the upload";
    let boundary = format!("mottak-{}", random_uuid());
    let meta_json = serde_json::to_string(meta).map_err(|e| FiksCallError::Local {
        op: OP,
        reason: e.to_string(),
    })?;
    let filename = meta.filnavn.replace(['"', '\r', '\n', '\\'], "_");
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\nContent-Type: {}\r\n\r\n{meta_json}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{filename}\"\r\nContent-Type: {}\r\n\r\n",
        digisos::metadata_part_name(0),
        digisos::METADATA_CONTENT_TYPE,
        digisos::dokument_part_name(0),
        digisos::DOKUMENT_CONTENT_TYPE,
    );
    let tail = format!("\r\n--{boundary}--\r\n");

    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(CHUNKS_IN_FLIGHT);
    let size = meta.storrelse;
    let name = meta.filnavn.clone();
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let result = cms::encrypt(
            std::io::BufReader::new(ReadAt {
                file,
                pos: 0,
                end: size,
            }),
            Some(size),
            &mut out,
            &cert,
            &EncryptOptions::default(),
        )
        .map_err(|e| format!("cannot encrypt {name}: {e}"))
        .and_then(|_| {
            out.flush()
                .map_err(|e| format!("upload stream closed: {e}"))
        });
        if let Err(reason) = result {
            // The body fails, and with it the request: nothing half-sent is taken for an upload.
            let _ = tx.blocking_send(Err(std::io::Error::other(reason)));
        }
    });

    let encrypted = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let stream = futures_util::stream::once(async move { Ok(Bytes::from(head)) })
        .chain(encrypted)
        .chain(futures_util::stream::once(
            async move { Ok(Bytes::from(tail)) },
        ));
    Ok((
        format!("multipart/form-data; boundary={boundary}"),
        reqwest::Body::wrap_stream(stream),
    ))
}

/// Reads `pos..end` of a shared file at offsets (`pread`), so several
/// attempts can read the same handle from the start without a seek.
struct ReadAt {
    file: Arc<File>,
    pos: u64,
    end: u64,
}

impl Read for ReadAt {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = usize::try_from(self.end.saturating_sub(self.pos)).unwrap_or(usize::MAX);
        let want = left.min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// A `Write` that hands full chunks to the body stream, blocking while the
/// stream is behind (the blocking pool thread waits, not the runtime).
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send_buf(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the upload stopped"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.send_buf()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send_buf()
    }
}

/// The mimetype sent in the metadata, from the file name's extension.
pub fn mimetype_for(filnavn: &str) -> &'static str {
    let ext = filnavn
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "txt" => "text/plain",
        "json" => "application/json",
        "xml" => "application/xml",
        _ => "application/octet-stream",
    }
}

fn classify(op: &'static str, status: StatusCode, text: String) -> FiksCallError {
    if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        return FiksCallError::Server {
            op,
            status: status.as_u16(),
            body: text,
        };
    }
    if status.is_client_error() {
        let message = match serde_json::from_str::<FiksError>(&text) {
            Ok(e) if e.message.is_some() || e.error_code.is_some() => e.summary(),
            _ if text.trim().is_empty() => format!("{status} without a body"),
            _ => text,
        };
        return FiksCallError::Rejected {
            op,
            status: status.as_u16(),
            message,
        };
    }
    // 1xx/3xx: no redirects are followed, so a 3xx lands here.
    FiksCallError::Malformed {
        op,
        reason: format!("unexpected status {status}: {text}"),
    }
}

async fn error_text(response: reqwest::Response) -> String {
    match read_limited("reading the error", response, 64 * 1024).await {
        Ok(bytes) => shorten(String::from_utf8_lossy(&bytes).trim(), MAX_ERROR_TEXT),
        Err(e) => format!("(the error body could not be read: {e})"),
    }
}

async fn read_limited(
    op: &'static str,
    response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, FiksCallError> {
    let mut out = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| FiksCallError::Network {
            op,
            reason: error_chain(&e),
        })?;
        if out.len() + chunk.len() > max {
            return Err(FiksCallError::Malformed {
                op,
                reason: format!("the answer is larger than {max} bytes"),
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// An error and its causes on one line (reqwest's own Display hides the cause).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// At most `max` bytes of `s` (on a char boundary), with `…` when cut.
pub fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        let c = |s: u16, body: &str| classify("op", StatusCode::from_u16(s).unwrap(), body.into());
        assert!(!c(500, "x").is_permanent());
        assert!(!c(503, "").is_permanent());
        assert!(!c(429, "").is_permanent());
        assert!(!c(408, "").is_permanent());
        let e = c(
            400,
            r#"{"status":400,"error":"Bad Request","message":"Ugyldig filreferanse","errorCode":"X"}"#,
        );
        assert!(e.is_permanent());
        assert!(
            e.to_string().contains("Ugyldig filreferanse (errorCode X)"),
            "{e}"
        );
        let e = c(403, "no access");
        assert!(e.is_permanent());
        assert!(e.to_string().contains("(403): no access"), "{e}");
        assert!(c(404, "").to_string().contains("without a body"));
        assert!(!c(302, "").is_permanent());
    }

    #[test]
    fn mimetypes() {
        assert_eq!(mimetype_for("vedtak.PDF"), "application/pdf");
        assert_eq!(mimetype_for("noext"), "application/octet-stream");
        assert_eq!(mimetype_for("bilde.jpeg"), "image/jpeg");
    }

    #[test]
    fn the_channel_writer_sends_full_chunks_and_the_rest_on_flush() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(100);
        let mut w = ChannelWriter {
            tx,
            buf: Vec::new(),
        };
        let data = vec![7u8; CHUNK * 2 + 10];
        w.write_all(&data).unwrap();
        w.flush().unwrap();
        drop(w);
        let mut sizes = Vec::new();
        while let Ok(Ok(chunk)) = rx.try_recv() {
            sizes.push(chunk.len());
        }
        assert_eq!(sizes, vec![CHUNK, CHUNK, 10]);
    }

    #[test]
    fn shorten_respects_char_boundaries() {
        assert_eq!(shorten("æøå", 3), "æ…");
        assert_eq!(shorten("abc", 3), "abc");
    }
}
