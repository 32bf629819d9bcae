//! What one download may take from the drop folder's disk: at most
//! `max_forsendelse_size`, counted on the encrypted body as it arrives and on
//! the plaintext as it is written (cut at the byte, not after), and never the
//! filesystem below `min_free_space`, checked before the download starts and
//! every [`SPACE_CHECK_EVERY`] bytes while it is written.
//!
//! SvarInn's `filmetadata.size` is no guard: it may be 0 ("unknown"), and an
//! indefinite-length CMS body can go on for ever. An over-cap body is a
//! content failure ([`LimitError::TooLarge`]); low space is our side and only
//! waits ([`LimitError::LowSpace`]).
//!
//! The limits travel inside `std::io::Error`s through the body stream and the
//! CMS reader and writer; [`LimitError::from_io`] takes them out again.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use mottak_protocol::listed::ListedFile;

/// While the plaintext is written, free space is read again after this many bytes.
/// The floor can be undershot by at most this (plus a write buffer).
pub const SPACE_CHECK_EVERY: u64 = 1 << 20;

/// What one mottakersystem's downloads may take.
#[derive(Debug, Clone)]
pub struct DownloadLimits {
    /// `max_forsendelse_size`: plaintext bytes, and (with [`Self::ciphertext_cap`]'s
    /// allowance for the CMS framing) encrypted bytes.
    pub max_size: u64,
    /// `min_free_space` on the drop folder's filesystem; `None` checks nothing.
    pub space: Option<SpaceFloor>,
}

impl DownloadLimits {
    /// Limits for the drop folder at `drop_root`.
    pub fn new(max_size: u64, drop_root: &Path, min_free: u64) -> Self {
        DownloadLimits {
            max_size,
            space: Some(SpaceFloor {
                dir: drop_root.to_owned(),
                min_free,
                probe: available_bytes,
            }),
        }
    }

    /// The encrypted body may exceed the plaintext by the CMS framing: KS
    /// writes 1000-byte chunks (4 header bytes each, 0.4 %), plus the
    /// RecipientInfos and the padding. 1/16 and 1 MiB more cover that with
    /// room; more is not a forsendelse under the cap.
    pub fn ciphertext_cap(&self) -> u64 {
        self.max_size
            .saturating_add(self.max_size / 16)
            .saturating_add(1 << 20)
    }

    /// Before anything is downloaded: what SvarInn declares must fit under the
    /// cap, and the disk must keep its floor with the declared bytes written.
    /// Undeclared sizes (0) count as nothing here; the stream is capped anyway.
    pub fn before_download(&self, files: &[ListedFile]) -> Result<(), LimitError> {
        let declared = files
            .iter()
            .filter_map(|f| f.size)
            .fold(0u64, u64::saturating_add);
        if declared > self.max_size {
            return Err(LimitError::TooLarge {
                limit: self.max_size,
                counted: Counted::Declared(declared),
            });
        }
        self.ensure_room(declared)
    }

    /// The encrypted body's `Content-Length`, when SvarInn sends one.
    pub fn check_content_length(&self, len: Option<u64>) -> Result<(), LimitError> {
        match len {
            Some(len) if len > self.ciphertext_cap() => Err(LimitError::TooLarge {
                limit: self.max_size,
                counted: Counted::ContentLength(len),
            }),
            _ => Ok(()),
        }
    }

    /// The floor is kept with `more` bytes still to be written.
    pub fn ensure_room(&self, more: u64) -> Result<(), LimitError> {
        self.space.as_ref().map_or(Ok(()), |s| s.ensure(more))
    }

    /// `body`, ended with a [`LimitError::TooLarge`] the moment it has brought
    /// more than [`Self::ciphertext_cap`] bytes.
    pub fn cap_ciphertext<S>(&self, body: S) -> CappedBody<S> {
        CappedBody {
            inner: body,
            read: 0,
            cap: self.ciphertext_cap(),
            limit: self.max_size,
            ended: false,
        }
    }

    /// `inner`, refusing a write that would take the plaintext past
    /// `max_size`, and checking the floor every [`SPACE_CHECK_EVERY`] bytes.
    pub fn guard_plaintext<W>(&self, inner: W) -> GuardedWriter<'_, W> {
        GuardedWriter {
            inner,
            limits: self,
            written: 0,
            next_check: 0,
        }
    }
}

/// Why a download was stopped by a limit.
#[derive(Debug)]
pub enum LimitError {
    /// More than `max_forsendelse_size`: a content failure.
    TooLarge { limit: u64, counted: Counted },
    /// Writing would take the filesystem below `min_free_space`: wait.
    LowSpace {
        free: u64,
        floor: u64,
        needed: u64,
        dir: PathBuf,
    },
    /// statvfs failed: our side.
    SpaceUnknown { dir: PathBuf, source: io::Error },
}

impl std::fmt::Display for LimitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitError::TooLarge { limit, counted } => {
                let limit = human(*limit);
                match counted {
                    Counted::Declared(n) => write!(
                        f,
                        "SvarInn declares {} of files, more than max_forsendelse_size ({limit}) allows; not downloaded",
                        human(*n)
                    ),
                    Counted::ContentLength(n) => write!(
                        f,
                        "the encrypted download is {} (Content-Length), more than max_forsendelse_size ({limit}) allows; not downloaded",
                        human(*n)
                    ),
                    Counted::Ciphertext => write!(
                        f,
                        "the encrypted download grew past max_forsendelse_size ({limit}) and was cut there"
                    ),
                    Counted::Plaintext => write!(
                        f,
                        "the decrypted file grew past max_forsendelse_size ({limit}) and was cut there"
                    ),
                }
            }
            LimitError::LowSpace {
                free,
                floor,
                needed,
                dir,
            } => {
                write!(
                    f,
                    "only {} free on the filesystem of the drop folder {}, and min_free_space keeps {}",
                    human(*free),
                    dir.display(),
                    human(*floor)
                )?;
                if *needed > 0 {
                    write!(f, " with the {} declared still to write", human(*needed))?;
                }
                f.write_str(": downloads wait until space is freed")
            }
            LimitError::SpaceUnknown { dir, source } => {
                write!(
                    f,
                    "cannot read the free space of {}: {source}",
                    dir.display()
                )
            }
        }
    }
}

impl std::error::Error for LimitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LimitError::SpaceUnknown { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl LimitError {
    /// The limit carried by `err`, or `err` itself when it carries none.
    pub fn from_io(err: io::Error) -> Result<LimitError, io::Error> {
        if !err.get_ref().is_some_and(|e| e.is::<LimitError>()) {
            return Err(err);
        }
        let kind = err.kind();
        match err.into_inner().map(|inner| inner.downcast::<LimitError>()) {
            Some(Ok(limit)) => Ok(*limit),
            Some(Err(other)) => Err(io::Error::new(kind, other)),
            None => Err(io::Error::from(kind)),
        }
    }

    fn into_io(self) -> io::Error {
        io::Error::other(self)
    }
}

/// What was found too large.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// The sizes SvarInn declared in `filmetadata`, together.
    Declared(u64),
    /// The encrypted body's `Content-Length`.
    ContentLength(u64),
    /// The encrypted body as it arrived.
    Ciphertext,
    /// The decrypted file as it was written.
    Plaintext,
}

/// The free-space floor of one filesystem.
#[derive(Debug, Clone)]
pub struct SpaceFloor {
    dir: PathBuf,
    min_free: u64,
    /// Bytes available to the agent's user at a path (statvfs; replaced in tests).
    probe: fn(&Path) -> io::Result<u64>,
}

impl SpaceFloor {
    /// Whether `more` bytes can still be written keeping `min_free` free.
    pub fn ensure(&self, more: u64) -> Result<(), LimitError> {
        let free = (self.probe)(&self.dir).map_err(|source| LimitError::SpaceUnknown {
            dir: self.dir.clone(),
            source,
        })?;
        if free < self.min_free.saturating_add(more) {
            return Err(LimitError::LowSpace {
                free,
                floor: self.min_free,
                needed: more,
                dir: self.dir.clone(),
            });
        }
        Ok(())
    }
}

/// Bytes available to an unprivileged writer on the filesystem holding `dir`.
pub fn available_bytes(dir: &Path) -> io::Result<u64> {
    let st = rustix::fs::statvfs(dir)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// A body stream that ends with [`LimitError::TooLarge`] once it has brought
/// more than its cap. Nothing past the cap is handed on.
pub struct CappedBody<S> {
    inner: S,
    read: u64,
    cap: u64,
    limit: u64,
    ended: bool,
}

impl<S: Stream<Item = io::Result<Bytes>> + Unpin> Stream for CappedBody<S> {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let next = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &next {
            self.read = self.read.saturating_add(chunk.len() as u64);
            if self.read > self.cap {
                self.ended = true;
                let err = LimitError::TooLarge {
                    limit: self.limit,
                    counted: Counted::Ciphertext,
                };
                return Poll::Ready(Some(Err(err.into_io())));
            }
        }
        next
    }
}

/// A writer that stops the plaintext at `max_size` and below the free-space floor.
pub struct GuardedWriter<'a, W> {
    inner: W,
    limits: &'a DownloadLimits,
    written: u64,
    next_check: u64,
}

impl<W: io::Write> io::Write for GuardedWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let after = self.written.saturating_add(buf.len() as u64);
        if after > self.limits.max_size {
            return Err(LimitError::TooLarge {
                limit: self.limits.max_size,
                counted: Counted::Plaintext,
            }
            .into_io());
        }
        if after >= self.next_check {
            self.limits.ensure_room(0).map_err(LimitError::into_io)?;
            self.next_check = after.saturating_add(SPACE_CHECK_EVERY);
        }
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// `2 GiB`, `500 MiB`, `12345 bytes`: a size as the config would write it.
pub fn human(bytes: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1 << 40, "TiB"),
        (1 << 30, "GiB"),
        (1 << 20, "MiB"),
        (1 << 10, "KiB"),
    ];
    for (unit, name) in UNITS {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{} {name}", bytes / unit);
        }
    }
    if bytes >= 1 << 20 {
        // Not a whole number of units: one decimal is enough to read.
        let (unit, name) = if bytes >= 1 << 30 {
            (1u64 << 30, "GiB")
        } else {
            (1 << 20, "MiB")
        };
        return format!("{:.1} {name}", bytes as f64 / unit as f64);
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};

    static FREE: AtomicU64 = AtomicU64::new(0);

    fn fake_free(_: &Path) -> io::Result<u64> {
        Ok(FREE.load(Ordering::SeqCst))
    }

    fn limits(max_size: u64, min_free: u64) -> DownloadLimits {
        DownloadLimits {
            max_size,
            space: Some(SpaceFloor {
                dir: PathBuf::from("/drop"),
                min_free,
                probe: fake_free,
            }),
        }
    }

    fn meta(size: u64) -> ListedFile {
        ListedFile {
            name: "a.pdf".into(),
            mime_type: "application/pdf".into(),
            sha256_hex: "00".repeat(32),
            size: (size != 0).then_some(size),
        }
    }

    #[test]
    fn the_plaintext_is_cut_at_the_byte_and_the_error_survives_io() {
        let l = DownloadLimits {
            max_size: 1000,
            space: None,
        };
        let mut out = Vec::new();
        let mut w = l.guard_plaintext(&mut out);
        w.write_all(&[1; 999]).unwrap();
        w.write_all(&[2]).unwrap();
        let err = w.write(&[3]).unwrap_err();
        assert_eq!(out.len(), 1000);
        let limit = LimitError::from_io(err).unwrap();
        assert!(
            matches!(
                limit,
                LimitError::TooLarge {
                    limit: 1000,
                    counted: Counted::Plaintext
                }
            ),
            "{limit}"
        );
        assert!(
            limit
                .to_string()
                .contains("max_forsendelse_size (1000 bytes)"),
            "{limit}"
        );
        // An ordinary I/O error stays what it was.
        let plain = LimitError::from_io(io::Error::other("disk on fire")).unwrap_err();
        assert_eq!(plain.to_string(), "disk on fire");
    }

    // One test touches FREE, so the tests never race on it.
    #[test]
    fn free_space_is_checked_before_and_while_writing() {
        let l = limits(u64::MAX, 100 << 20);
        FREE.store(150 << 20, Ordering::SeqCst);
        l.before_download(&[meta(40 << 20)]).unwrap();
        let err = l.before_download(&[meta(60 << 20)]).unwrap_err();
        assert!(
            matches!(err, LimitError::LowSpace { needed, .. } if needed == 60 << 20),
            "{err}"
        );
        assert!(
            err.to_string().contains("min_free_space keeps 100 MiB"),
            "{err}"
        );

        let mut sink = io::sink();
        let mut w = l.guard_plaintext(&mut sink);
        w.write_all(&vec![0; 3 << 20]).unwrap();
        FREE.store(99 << 20, Ordering::SeqCst);
        // Noticed within SPACE_CHECK_EVERY bytes.
        let mut written = 0u64;
        let err = loop {
            match w.write(&[0; 4096]) {
                Ok(n) => written += n as u64,
                Err(err) => break err,
            }
            assert!(written <= SPACE_CHECK_EVERY, "kept writing below the floor");
        };
        assert!(matches!(
            LimitError::from_io(err),
            Ok(LimitError::LowSpace { .. })
        ));
    }

    #[test]
    fn declared_sizes_over_the_cap_are_refused_before_downloading() {
        let l = DownloadLimits {
            max_size: 10 << 20,
            space: None,
        };
        l.before_download(&[meta(5 << 20), meta(0), meta(5 << 20)])
            .unwrap();
        let err = l
            .before_download(&[meta(5 << 20), meta(5 << 20), meta(1)])
            .unwrap_err();
        assert!(
            matches!(err, LimitError::TooLarge { counted: Counted::Declared(n), .. } if n == (10 << 20) + 1),
            "{err}"
        );
        l.check_content_length(Some(l.ciphertext_cap())).unwrap();
        assert!(
            l.check_content_length(Some(l.ciphertext_cap() + 1))
                .is_err()
        );
        l.check_content_length(None).unwrap();
    }

    #[tokio::test]
    async fn the_encrypted_body_ends_with_an_error_past_its_cap() {
        let l = DownloadLimits {
            max_size: 16,
            space: None,
        };
        let cap = l.ciphertext_cap();
        let chunk = Bytes::from(vec![0u8; 64 * 1024]);
        let endless = futures_util::stream::repeat_with(move || Ok::<_, io::Error>(chunk.clone()));
        let mut body = l.cap_ciphertext(endless);
        let mut passed = 0u64;
        let err = loop {
            match body.next().await {
                Some(Ok(c)) => passed += c.len() as u64,
                Some(Err(err)) => break err,
                None => panic!("an endless body ended"),
            }
        };
        assert!(passed <= cap, "{passed} > {cap}");
        assert!(matches!(
            LimitError::from_io(err),
            Ok(LimitError::TooLarge {
                counted: Counted::Ciphertext,
                ..
            })
        ));
        assert!(body.next().await.is_none(), "nothing after the cut");
    }

    #[test]
    fn sizes_read_like_the_config() {
        assert_eq!(human(2 << 30), "2 GiB");
        assert_eq!(human(500 << 20), "500 MiB");
        assert_eq!(human(64 << 10), "64 KiB");
        assert_eq!(human(1000), "1000 bytes");
        assert_eq!(human((3 << 20) + 1), "3.0 MiB");
    }
}
