//! One download: SvarInn's encrypted body through the CMS reader and SHA-256
//! into a file in the staging folder, in bounded memory.
//!
//! The decryption is synchronous (`std::io`), so it runs on a blocking thread.
//! A small body (up to [`READ_WHOLE_MAX`]) is read whole first; a larger one
//! is pulled from the network by that thread through [`SyncIoBridge`],
//! holding nothing beyond the reader's buffers.

use std::future::Future;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use mottak_protocol::cms::{self, CmsError, RecipientKey};
use sha2::{Digest, Sha256};
use tokio_util::io::{StreamReader, SyncIoBridge};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::limits::{DownloadLimits, LimitError};
use crate::dropfolder::dirfd::{Dir, DirError, Name};
use crate::svarinn_client::{ApiClient, ClientError};

/// A decrypted file written at `path` (for messages), not yet fsynced: the
/// pipeline fsyncs the staging folder as a whole
/// ([`crate::dropfolder::DropFolder::sync_staging`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: [u8; 32],
    /// Index of the configured key that matched (key rotation).
    pub key_index: usize,
    /// MIME type of the plaintext, from `Content-Type`.
    pub content_type: Option<String>,
    /// The file name from `Content-Disposition`, unsanitised.
    pub filename: Option<String>,
}

/// Why a download did not produce a file; [`FetchError::class`] tells the pipeline what to do.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("the download broke off: {0}")]
    Network(#[source] std::io::Error),
    #[error("could not decrypt the forsendelse: {0}")]
    Decrypt(#[source] CmsError),
    #[error(
        "the decrypted file is larger than the {limit} bytes SvarInn declared; the download was cut there"
    )]
    TooLarge { limit: u64 },
    /// `max_forsendelse_size` or `min_free_space`.
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error("could not write {path}: {source}")]
    Local {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Dir(#[from] DirError),
    #[error("the decryption thread stopped unexpectedly: {0}")]
    Thread(String),
}

/// What kind of failure a [`FetchError`] is, for the retry decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// Network, timeouts, 5xx: retry with backoff, without limit.
    Transient,
    /// The content itself is wrong (decryption, checksum, size): retry a bounded
    /// number of times, then `failed` with mottakFeilet permanent=false.
    Content,
    /// Our side (disk full, permissions) or credentials: retry with backoff and
    /// alert; the sender can do nothing about it, so SvarInn is not told.
    Local,
    /// Larger than `max_forsendelse_size`: `failed` at once (the same body
    /// would be cut at the same place again), mottakFeilet permanent=false.
    OverLimit,
    /// The drop folder's filesystem is below `min_free_space`: wait
    /// (`retry_wait`, never failed), and the console alerts.
    LowSpace,
}

impl FetchError {
    pub fn class(&self) -> FailureClass {
        match self {
            FetchError::Client(err) if err.is_retryable() => FailureClass::Transient,
            FetchError::Client(ClientError::Unauthorized { .. }) => FailureClass::Local,
            FetchError::Client(_) => FailureClass::Content,
            FetchError::Network(_) => FailureClass::Transient,
            FetchError::Decrypt(CmsError::ReadInput(_)) => FailureClass::Transient,
            FetchError::Decrypt(CmsError::WriteOutput(_)) => FailureClass::Local,
            FetchError::Decrypt(_) | FetchError::TooLarge { .. } => FailureClass::Content,
            FetchError::Local { .. } | FetchError::Dir(_) | FetchError::Thread(_) => {
                FailureClass::Local
            }
            FetchError::Limit(LimitError::TooLarge { .. }) => FailureClass::OverLimit,
            FetchError::Limit(LimitError::LowSpace { .. }) => FailureClass::LowSpace,
            FetchError::Limit(LimitError::SpaceUnknown { .. }) => FailureClass::Local,
        }
    }

    /// A broken body stream: a limit it was cut at, or the network.
    fn from_body(err: std::io::Error) -> Self {
        LimitError::from_io(err).map_or_else(FetchError::Network, FetchError::Limit)
    }
}

/// Encrypted bodies up to this size are read whole before decryption: one
/// hand-over to the blocking pool instead of one per network chunk. At most
/// `max_concurrent_downloads` of them are held at once.
pub const READ_WHOLE_MAX: u64 = 512 * 1024;

/// A download's body, ready for the synchronous decryption.
pub struct Body {
    input: Input,
    /// MIME type of the plaintext, from `Content-Type`.
    pub content_type: Option<String>,
    /// The file name from `Content-Disposition`, unsanitised.
    pub filename: Option<String>,
}

enum Input {
    /// Read whole (small bodies).
    Whole(std::io::Cursor<Vec<u8>>),
    /// Pulled from the network as the decryption reads (on a blocking thread).
    Streamed(Box<SyncIoBridge<StreamReader<Guarded<BodyStream>, Bytes>>>),
}

type BodyStream = std::pin::Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

impl std::io::Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match &mut self.input {
            Input::Whole(bytes) => bytes.read(buf),
            Input::Streamed(bridge) => bridge.read(buf),
        }
    }
}

/// Starts the download of `download_url`; a small body is read whole here,
/// a larger one is left to be pulled by the decryption. Either way nothing
/// of it is taken after `deadline` (`timeout` is the configured limit, for
/// the message) or once `stop` is cancelled: a streamed body then ends with
/// an error, so the thread decrypting it stops by itself and is never left
/// behind (nor left polling the network after the runtime has stopped).
/// A body longer than `limits` allows is refused by its `Content-Length`, or
/// ended with an error the moment it grows past the cap.
pub async fn fetch(
    client: &ApiClient,
    download_url: &str,
    deadline: tokio::time::Instant,
    timeout: Duration,
    stop: CancellationToken,
    limits: &DownloadLimits,
) -> Result<Body, FetchError> {
    let late = || {
        FetchError::Network(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            too_slow(timeout),
        ))
    };
    let download = tokio::time::timeout_at(deadline, client.download(download_url))
        .await
        .map_err(|_| late())??;
    limits.check_content_length(download.content_length)?;
    let body: BodyStream = Box::pin(limits.cap_ciphertext(download.body));
    let input = match download.content_length {
        Some(len) if len <= READ_WHOLE_MAX => {
            let whole = read_whole(body, len);
            let bytes = tokio::time::timeout_at(deadline, whole)
                .await
                .map_err(|_| late())?
                .map_err(FetchError::from_body)?;
            Input::Whole(std::io::Cursor::new(bytes))
        }
        _ => Input::Streamed(Box::new(SyncIoBridge::new(StreamReader::new(Guarded {
            inner: body,
            deadline: deadline.into_std(),
            timeout,
            stopped: Box::pin(stop.cancelled_owned()),
            ended: false,
        })))),
    };
    Ok(Body {
        input,
        content_type: download.content_type,
        filename: download.filename,
    })
}

fn too_slow(timeout: Duration) -> String {
    format!("the download took longer than download_timeout ({timeout:?})")
}

/// A body of `len` bytes (its `Content-Length`) in one buffer.
async fn read_whole(mut body: BodyStream, len: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if (bytes.len() + chunk.len()) as u64 > len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the body is longer than its Content-Length ({len} bytes)"),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Ends a body stream with an error once its deadline has passed (checked
/// as each chunk is asked for; a stall is ended by the client's idle read
/// timeout) or the agent is stopping. No timer of the runtime is involved:
/// the stream is read on a blocking thread that may outlive the runtime's
/// drivers at shutdown.
struct Guarded<S> {
    inner: S,
    deadline: std::time::Instant,
    timeout: Duration,
    stopped: std::pin::Pin<Box<WaitForCancellationFutureOwned>>,
    ended: bool,
}

impl<S: Stream<Item = std::io::Result<Bytes>> + Unpin> Stream for Guarded<S> {
    type Item = std::io::Result<Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        if self.ended {
            return std::task::Poll::Ready(None);
        }
        let error = if self.stopped.as_mut().poll(cx).is_ready() {
            // Not `Interrupted`: readers retry that one.
            Some(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "the agent is stopping",
            ))
        } else if std::time::Instant::now() >= self.deadline {
            Some(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                too_slow(self.timeout),
            ))
        } else {
            None
        };
        if let Some(error) = error {
            self.ended = true;
            return std::task::Poll::Ready(Some(Err(error)));
        }
        std::pin::Pin::new(&mut self.inner).poll_next(cx)
    }
}

/// Decrypts `input` into a new file `name` in `dir` (which must not exist:
/// created `O_EXCL | O_NOFOLLOW`), hashing as it goes; not fsynced here.
/// `limit` cuts a plaintext that grows past what SvarInn declared, `limits`
/// one past `max_forsendelse_size` or below the free-space floor.
/// Also used for files on disk.
pub fn decrypt_to_file(
    input: impl std::io::Read,
    keys: &[RecipientKey],
    dir: &Dir,
    name: &Name,
    limit: Option<u64>,
    limits: &DownloadLimits,
) -> Result<Fetched, FetchError> {
    let dest = dir.path_of(name);
    let local = |source| FetchError::Local {
        path: dest.clone(),
        source,
    };
    let file = dir.create_file(name, 0o666)?;
    let mut out = HashingWriter {
        inner: BufWriter::with_capacity(64 * 1024, file),
        hasher: Sha256::new(),
        written: 0,
        limit,
        over_limit: false,
    };
    let outcome = cms::decrypt(input, limits.guard_plaintext(&mut out), keys);
    if out.over_limit {
        return Err(FetchError::TooLarge {
            limit: limit.unwrap_or(0),
        });
    }
    let outcome = outcome.map_err(|err| match err {
        CmsError::ReadInput(io) => FetchError::from_body(io),
        CmsError::WriteOutput(io) => LimitError::from_io(io).map_or_else(local, FetchError::Limit),
        other => FetchError::Decrypt(other),
    })?;
    // Flushed to the kernel; the fsync comes with the staging folder's.
    out.inner
        .into_inner()
        .map_err(|err| local(err.into_error()))?;
    Ok(Fetched {
        path: dest,
        size: out.written,
        sha256: out.hasher.finalize().into(),
        key_index: outcome.key_index,
        content_type: None,
        filename: None,
    })
}

/// Counts, hashes and caps what passes through.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
    limit: Option<u64>,
    over_limit: bool,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let len = buf.len() as u64;
        if let Some(limit) = self.limit
            && self.written + len > limit
        {
            self.over_limit = true;
            return Err(std::io::Error::other(
                "more plaintext than SvarInn declared",
            ));
        }
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: DownloadLimits = DownloadLimits {
        max_size: u64::MAX,
        space: None,
    };

    fn vectors() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/interop/ks-vectors")
    }

    fn open(path: &std::path::Path) -> Dir {
        Dir::open_root(path, std::sync::Arc::new(crate::dropfolder::dirfd::RealFs)).unwrap()
    }

    fn n(s: &str) -> Name {
        Name::new(s).unwrap()
    }

    fn ks_key() -> RecipientKey {
        let pem = std::fs::read_to_string(vectors().join("sp-key.pem")).unwrap();
        RecipientKey::from_pem(&pem, None).unwrap()
    }

    #[test]
    fn decrypts_a_ks_file_and_hashes_the_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let input = std::fs::File::open(vectors().join("small.crypt")).unwrap();
        let dest = dir.path().join("small.pdf");
        let fetched = decrypt_to_file(
            input,
            &[ks_key()],
            &open(dir.path()),
            &n("small.pdf"),
            Some(3151),
            &NONE,
        )
        .unwrap();
        let expected = std::fs::read(vectors().join("small.pdf")).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), expected);
        assert_eq!(fetched.size, expected.len() as u64);
        assert_eq!(fetched.sha256, <[u8; 32]>::from(Sha256::digest(&expected)));
        assert_eq!(fetched.key_index, 0);
    }

    #[test]
    fn plaintext_longer_than_declared_is_cut_and_classed_as_content() {
        let dir = tempfile::tempdir().unwrap();
        let input = std::fs::File::open(vectors().join("small.crypt")).unwrap();
        let err = decrypt_to_file(
            input,
            &[ks_key()],
            &open(dir.path()),
            &n("x"),
            Some(3000),
            &NONE,
        )
        .unwrap_err();
        assert!(matches!(err, FetchError::TooLarge { limit: 3000 }), "{err}");
        assert_eq!(err.class(), FailureClass::Content);
    }

    /// `max_forsendelse_size` cuts the plaintext at the byte, whatever SvarInn
    /// declared (here nothing), as a failure that is not retried.
    #[test]
    fn plaintext_past_max_forsendelse_size_is_cut_and_not_retried() {
        let dir = tempfile::tempdir().unwrap();
        let input = std::fs::File::open(vectors().join("small.crypt")).unwrap();
        let dest = dir.path().join("x");
        let limits = DownloadLimits {
            max_size: 3000,
            space: None,
        };
        let err = decrypt_to_file(
            input,
            &[ks_key()],
            &open(dir.path()),
            &n("x"),
            None,
            &limits,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::Limit(LimitError::TooLarge {
                    limit: 3000,
                    counted: crate::inbound::limits::Counted::Plaintext
                })
            ),
            "{err}"
        );
        assert_eq!(err.class(), FailureClass::OverLimit);
        assert!(std::fs::metadata(&dest).unwrap().len() <= 3000);
    }

    #[test]
    fn an_existing_destination_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("taken");
        std::fs::write(&dest, b"the fagsystem's").unwrap();
        let input = std::fs::File::open(vectors().join("small.crypt")).unwrap();
        let err = decrypt_to_file(
            input,
            &[ks_key()],
            &open(dir.path()),
            &n("taken"),
            None,
            &NONE,
        )
        .unwrap_err();
        assert_eq!(err.class(), FailureClass::Local);
        assert_eq!(std::fs::read(&dest).unwrap(), b"the fagsystem's");
    }

    #[test]
    fn truncated_input_is_content_and_a_broken_stream_is_transient() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = std::fs::read(vectors().join("small.crypt")).unwrap();
        let err = decrypt_to_file(
            &bytes[..2000],
            &[ks_key()],
            &open(dir.path()),
            &n("a"),
            None,
            &NONE,
        )
        .unwrap_err();
        assert_eq!(err.class(), FailureClass::Content, "{err}");

        struct Broken<'a>(&'a [u8]);
        impl std::io::Read for Broken<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0.is_empty() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "reset",
                    ));
                }
                let n = self.0.len().min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let err = decrypt_to_file(
            Broken(&bytes[..2000]),
            &[ks_key()],
            &open(dir.path()),
            &n("b"),
            None,
            &NONE,
        )
        .unwrap_err();
        assert!(matches!(err, FetchError::Network(_)), "{err}");
        assert_eq!(err.class(), FailureClass::Transient);
    }
}
