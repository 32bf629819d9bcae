//! Logging: `tracing` to stderr (journald-friendly) and to daily files in
//! `log_dir`, with fødselsnumre masked on the way out.
//!
//! - stderr: ANSI colours only on a terminal; no timestamps when stderr is
//!   the journal (`$JOURNAL_STREAM` names stderr's device and inode), since
//!   journald stamps every line itself.
//! - files: `log_dir/mottak-agent.YYYY-MM-DD.log`, a new one each day, the
//!   last [`KEEP_LOG_FILES`] kept, written by a background thread (keep the
//!   returned [`LogGuard`] alive, or the last lines are lost).
//! - Every byte written, to either, goes through [`MaskingWriter`], which
//!   sees each formatted event whole:
//!   - every fødselsnummer becomes `***********` ([`mottak_protocol::fnr`],
//!     the rule the console state uses too: 11 digits or 6 + 5, found by
//!     their control digits, never inside a UUID or a hash);
//!   - every line break and other control character inside the event is
//!     escaped (`\n`, `\r`, `\t`, `\u{1b}`; also U+2028/U+2029), and
//!     only the event's own final newline is kept: no value (a SvarInn
//!     error body, a folder name) can start a line that looks like
//!     another event. On a terminal the formatter's colour codes (SGR,
//!     `ESC [ digits m`) are kept; everything else is escaped there too.
//!     Backslashes are not escaped: a value may show `\n`, but never
//!     break the line.
//!
//!   Secrets need no masking: they are a type that prints `[redacted]`
//!   ([`crate::secret::Secret`]).

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// Daily log files kept in `log_dir`.
pub const KEEP_LOG_FILES: usize = 30;
/// Log file names: `mottak-agent.YYYY-MM-DD.log`.
pub const FILE_PREFIX: &str = "mottak-agent";

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error(
        "log_level {filter:?} is not a valid filter ({source}); write e.g. \"info\" or \"mottak_agent=debug,info\""
    )]
    BadFilter {
        filter: String,
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    #[error(
        "cannot write log files in {}: {source}; create it and let the agent's user write it, or fix log_dir",
        dir.display()
    )]
    LogDir {
        dir: PathBuf,
        #[source]
        source: tracing_appender::rolling::InitError,
    },
    #[error("a global logger is already installed")]
    AlreadySet(#[from] tracing::subscriber::SetGlobalDefaultError),
}

/// Keeps the file writer's background thread alive; dropping it flushes.
#[must_use = "dropping the guard stops file logging"]
pub struct LogGuard {
    _file: Option<WorkerGuard>,
}

/// What to log where.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// A tracing filter (`info`, `mottak_agent=debug,info`).
    pub filter: String,
    /// Daily files here; `None` for stderr only (the one-shot commands).
    pub log_dir: Option<PathBuf>,
}

/// How stderr is styled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StderrStyle {
    pub ansi: bool,
    pub timestamps: bool,
}

impl StderrStyle {
    /// From the process's stderr: colours on a terminal, no timestamps
    /// under journald.
    pub fn detect() -> Self {
        let journald = stderr_is_journal();
        StderrStyle {
            ansi: io::IsTerminal::is_terminal(&io::stderr()) && !journald,
            timestamps: !journald,
        }
    }
}

/// Whether stderr is connected to the journal: systemd sets
/// `JOURNAL_STREAM=<dev>:<inode>` of the stream it gave the service.
pub fn stderr_is_journal() -> bool {
    std::env::var_os("JOURNAL_STREAM").is_some_and(|v| names_stderr(&v))
}

/// Whether a `JOURNAL_STREAM` value names this process's stderr.
fn names_stderr(value: &std::ffi::OsStr) -> bool {
    let Some((dev, ino)) = value.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    let Ok(fd) = io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(fd)
        .metadata()
        .is_ok_and(|m| m.dev() == dev && m.ino() == ino)
}

/// Installs the global subscriber (stderr, and files when `log_dir` is set).
pub fn init(opts: &LogOptions) -> Result<LogGuard, LoggingError> {
    let (subscriber, guard) = subscriber(opts, StderrStyle::detect(), io::stderr)?;
    tracing::subscriber::set_global_default(subscriber)?;
    Ok(guard)
}

/// Builds the subscriber [`init`] installs, with stderr replaced by any
/// writer (tests pass a buffer).
pub fn subscriber<W>(
    opts: &LogOptions,
    style: StderrStyle,
    stderr: W,
) -> Result<(impl tracing::Subscriber + Send + Sync + 'static, LogGuard), LoggingError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::builder()
            .parse(&opts.filter)
            .map_err(|source| LoggingError::BadFilter {
                filter: opts.filter.clone(),
                source,
            })?;
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = Vec::new();
    let stderr_layer = tracing_subscriber::fmt::layer()
        .with_writer(Masking {
            inner: stderr,
            colours: style.ansi,
        })
        .with_ansi(style.ansi);
    layers.push(if style.timestamps {
        stderr_layer.boxed()
    } else {
        stderr_layer.without_time().boxed()
    });
    let mut file_guard = None;
    if let Some(dir) = &opts.log_dir {
        let (writer, guard) = tracing_appender::non_blocking(daily_files(dir)?);
        file_guard = Some(guard);
        layers.push(
            tracing_subscriber::fmt::layer()
                .with_writer(Masking {
                    inner: writer,
                    colours: false,
                })
                .with_ansi(false)
                .boxed(),
        );
    }
    let subscriber = tracing_subscriber::registry().with(layers).with(filter);
    Ok((subscriber, LogGuard { _file: file_guard }))
}

fn daily_files(dir: &Path) -> Result<RollingFileAppender, LoggingError> {
    RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(FILE_PREFIX)
        .filename_suffix("log")
        .max_log_files(KEEP_LOG_FILES)
        .build(dir)
        .map_err(|source| LoggingError::LogDir {
            dir: dir.to_owned(),
            source,
        })
}

/// A [`MakeWriter`] whose writers mask and escape each event ([`MaskingWriter`]).
#[derive(Debug, Clone)]
pub struct Masking<M> {
    pub inner: M,
    /// Keep the formatter's colour codes (stderr on a terminal).
    pub colours: bool,
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Masking<M> {
    type Writer = MaskingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        MaskingWriter::new(self.inner.make_writer(), self.colours)
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        MaskingWriter::new(self.inner.make_writer_for(meta), self.colours)
    }
}

/// Collects what is written (one event: `tracing` makes a writer per event)
/// and hands it on as one line ([`one_safe_line`]) when flushed or dropped,
/// so a number or a line break split across two writes is still caught.
pub struct MaskingWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
    colours: bool,
}

impl<W: Write> MaskingWriter<W> {
    pub fn new(inner: W, colours: bool) -> Self {
        MaskingWriter {
            inner,
            buf: Vec::new(),
            colours,
        }
    }
}

impl<W: Write> Write for MaskingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let line = one_safe_line(&self.buf, self.colours);
            self.buf.clear();
            self.inner.write_all(line.as_bytes())?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for MaskingWriter<W> {
    fn drop(&mut self) {
        // A logger has nowhere to report its own write errors.
        let _ = self.flush();
    }
}

/// One formatted event as it may be written: fødselsnumre masked, every
/// control character but the final newline escaped (with `colours`, SGR
/// colour codes kept). See the module doc.
pub fn one_safe_line(event: &[u8], colours: bool) -> String {
    let mut masked = event.to_vec();
    mottak_protocol::fnr::mask_in_place(&mut masked);
    let text = String::from_utf8_lossy(&masked);
    let (body, newline) = match text.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (&*text, ""),
    };
    let mut out = String::with_capacity(body.len() + 16);
    let mut rest = body;
    while let Some(c) = rest.chars().next() {
        if colours && c == '\u{1b}' {
            let sgr = sgr_len(rest);
            if sgr > 0 {
                out.push_str(&rest[..sgr]);
                rest = &rest[sgr..];
                continue;
            }
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => {
                out.extend(c.escape_unicode());
            }
            c => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    out.push_str(newline);
    out
}

/// The length of an SGR sequence (`ESC [ 0-9;* m`) at the start of `s`, or 0.
fn sgr_len(s: &str) -> usize {
    let Some(params) = s.strip_prefix("\u{1b}[") else {
        return 0;
    };
    let digits = params
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b';')
        .count();
    if params.as_bytes().get(digits) == Some(&b'm') {
        2 + digits + 1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use std::sync::{Arc, Mutex};

    /// A valid fødselsnummer (control digits right) and one that is not.
    const FNR: &str = "01019012480";
    const NOT_FNR: &str = "01019012345";

    fn line(s: &str) -> String {
        one_safe_line(s.as_bytes(), false)
    }

    #[test]
    fn masks_fodselsnumre_by_control_digits_in_both_forms() {
        assert_eq!(line("fnr 01019012480 ok\n"), "fnr *********** ok\n");
        assert_eq!(line("010190 12480."), "****** *****.");
        assert_eq!(line("(010190-12480)"), "(******-*****)");
        assert_eq!(line("\"fnr\":\"31129956715\""), "\"fnr\":\"***********\"");
        // Ids stay readable: a failed control digit, a longer run, a UUID
        // or a hash holding 11 digits.
        for keep in [
            NOT_FNR.to_owned(),
            "010190-12345".to_owned(),
            "1700000000000".to_owned(),
            "0b3f5c2e-9b7e-4c1a-8d2f-a01019012480".to_owned(),
            format!("sha256 {}01019012480{}", "ab".repeat(13), "cd".repeat(13)),
            "ut.1700000000000.0.0b3f5c2e-9b7e-4c1a-8d2f-0123456789ab".to_owned(),
        ] {
            assert_eq!(line(&keep), keep);
        }
        assert_eq!(line("søknad æøå 01019012480 å"), "søknad æøå *********** å");
    }

    #[test]
    fn a_value_cannot_start_a_line_of_its_own() {
        let forged =
            "svarinn said 500: oops\n2026-12-03T12:00:00Z  INFO mottak_agent: all fine\r\n";
        let out = line(&format!("WARN x: {forged}\n"));
        assert_eq!(out.matches('\n').count(), 1, "{out}");
        assert!(out.ends_with('\n'), "{out}");
        assert!(out.contains("oops\\n2026-12-03T12:00:00Z  INFO"), "{out}");
        assert!(out.contains("all fine\\r\\n"), "{out}");
        // Other controls, the Unicode line separators and escape sequences too.
        let out = line("a\u{1b}[2Jb\u{2028}c\u{0}d\te");
        assert_eq!(out, "a\\u{1b}[2Jb\\u{2028}c\\u{0}d\\te");
        // On a terminal the formatter's colours stay, nothing else.
        let out = one_safe_line(
            "\u{1b}[32m INFO\u{1b}[0m x\u{1b}]0;title\u{7}\n".as_bytes(),
            true,
        );
        assert_eq!(out, "\u{1b}[32m INFO\u{1b}[0m x\\u{1b}]0;title\\u{7}\n");
        // A number split by a control character is still no number.
        assert_eq!(line("010190\n12480"), "010190\\n12480");
    }

    /// A `MakeWriter` into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    #[test]
    fn the_real_subscriber_writes_neither_fnr_nor_secret() {
        let dir = tempfile::tempdir().unwrap();
        let stderr = Buffer::default();
        let opts = LogOptions {
            filter: "info".into(),
            log_dir: Some(dir.path().to_owned()),
        };
        let style = StderrStyle {
            ansi: false,
            timestamps: false,
        };
        let (subscriber, guard) = subscriber(&opts, style, stderr.clone()).unwrap();
        let password = Secret::new("hunter2-s3cret");
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                fnr = FNR,
                password = %password,
                secret_debug = ?password,
                "søknad fra 31129956715 mottatt, forsendelse 0b3f5c2e-9b7e-4c1a-8d2f-0123456789ab"
            );
            tracing::warn!("printed form 010190 12480 and 010190-12480 too");
            tracing::warn!(folder = "x\ny", "name {}", "a\nWARN forged");
            tracing::debug!("filtered out: 01019012480");
        });
        drop(guard); // flushes the file writer
        let out = String::from_utf8(stderr.0.lock().unwrap().clone()).unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("mottak-agent.") && name.ends_with(".log"),
            "{name}"
        );
        let file = std::fs::read_to_string(&files[0]).unwrap();
        for text in [&out, &file] {
            assert!(text.contains("søknad fra *********** mottatt"), "{text}");
            assert!(text.contains("fnr=\"***********\""), "{text}");
            assert!(text.contains("password=[redacted]"), "{text}");
            assert!(
                text.contains("0b3f5c2e-9b7e-4c1a-8d2f-0123456789ab"),
                "{text}"
            );
            assert!(
                text.contains("printed form ****** ***** and ******-***** too"),
                "{text}"
            );
            for leak in [
                FNR,
                "31129956715",
                "010190 12480",
                "010190-12480",
                "hunter2",
            ] {
                assert!(!text.contains(leak), "{leak} leaked: {text}");
            }
            assert!(!text.contains("filtered out"));
            // One line per event: the newlines inside values are escaped.
            assert_eq!(text.lines().count(), 3, "{text}");
            assert!(text.contains("name a\\nWARN forged"), "{text}");
            assert!(
                !text.lines().any(|l| l.starts_with("WARN forged")),
                "{text}"
            );
        }
        // stderr without timestamps (journald), the file with them.
        assert!(out.starts_with(" INFO") || out.starts_with("INFO"), "{out}");
        assert!(file.starts_with("20"), "{file}");
    }

    #[test]
    fn a_bad_filter_or_log_dir_is_a_clear_error() {
        let opts = LogOptions {
            filter: "info,=[".into(),
            log_dir: None,
        };
        let style = StderrStyle {
            ansi: false,
            timestamps: true,
        };
        let err = subscriber(&opts, style, Buffer::default()).err().unwrap();
        assert!(matches!(err, LoggingError::BadFilter { .. }), "{err}");

        let file = tempfile::NamedTempFile::new().unwrap();
        let opts = LogOptions {
            filter: "info".into(),
            log_dir: Some(file.path().join("sub")),
        };
        let err = subscriber(&opts, style, Buffer::default()).err().unwrap();
        assert!(matches!(err, LoggingError::LogDir { .. }), "{err}");
        assert!(err.to_string().contains("log_dir"), "{err}");
    }

    #[test]
    fn journal_stream_must_name_stderr() {
        use std::os::fd::AsFd;
        let fd = io::stderr().as_fd().try_clone_to_owned().unwrap();
        let meta = std::fs::File::from(fd).metadata().unwrap();
        let ours = format!("{}:{}", meta.dev(), meta.ino());
        assert!(names_stderr(ours.as_ref()));
        let other = format!("{}:{}", meta.dev(), meta.ino() + 1);
        assert!(!names_stderr(other.as_ref()));
        assert!(!names_stderr("garbage".as_ref()));
    }
}
