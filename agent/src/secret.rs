//! Secrets: where they live ([`SecretRef`]), the value ([`Secret`], which
//! cannot be printed), and reading a private file with the mode check
//! ([`read_private_file`]) that private keys share.
//!
//! A secret comes from a file (`file:/etc/mottak/secrets/x.passord`) or a
//! systemd credential (`credential:NAME`, read from `$CREDENTIALS_DIRECTORY/NAME`
//! as `LoadCredential=` provides it). Never from the config text and never
//! from an environment variable: `$CREDENTIALS_DIRECTORY` only says where
//! systemd put the files.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Secret files are small; anything bigger is a mistake (a wrong path).
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// The environment variable systemd sets to the folder holding the service's
/// credentials (`LoadCredential=`, `LoadCredentialEncrypted=`).
pub const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// A secret value. `Debug` and `Display` print `[redacted]`; the value is
/// reachable only through [`Secret::expose`], so it cannot end up in a log
/// line or an error message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value (tests, and values read by [`SecretRef::load`]).
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that needs it (the HTTP Basic header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Best effort: overwrite the bytes before the allocation is freed.
        // `black_box` keeps the writes from being optimised away.
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        for b in bytes.iter_mut() {
            *b = 0;
        }
        std::hint::black_box(&bytes);
    }
}

/// Where a secret is kept, as written in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// `file:/absolute/path`
    File(PathBuf),
    /// `credential:NAME`: `$CREDENTIALS_DIRECTORY/NAME`
    Credential(String),
}

/// Why a secret or a private file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "must name where the secret is kept: \"file:/absolute/path\" or \"credential:NAME\" (systemd LoadCredential); \
         a literal secret in the config is refused: put it in a file readable only by the agent (mode 0600) and write \"file:<that path>\""
    )]
    NotAReference,
    #[error(
        "\"file:\" needs an absolute path, e.g. \"file:/etc/mottak/secrets/nav-frogn.passord\""
    )]
    RelativePath,
    #[error(
        "\"credential:\" needs a plain name (letters, digits, '_', '-', '.'; no '/'), as given to systemd's LoadCredential="
    )]
    BadCredentialName,
    #[error(
        "the secret is a systemd credential ({name}), but ${CREDENTIALS_DIRECTORY} is not set: \
         add `LoadCredential={name}:/path/to/file` to the agent's unit, or use \"file:/path\" instead"
    )]
    NoCredentialsDirectory { name: String },
    #[error("cannot read {}: {source}; check the path and that the agent's user may read it", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error(
        "{} is readable by group or others (mode {mode:04o}); refusing to use it: run `chmod 600 {}` \
         (and make sure it is owned by the agent's user)",
        path.display(), path.display()
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("{} is {size} bytes, more than the {max} a secret or key file may be; is it the right file?", path.display())]
    TooBig { path: PathBuf, size: u64, max: u64 },
    #[error("{} is empty; write the secret into it", path.display())]
    Empty { path: PathBuf },
    #[error("{} is not UTF-8 text", path.display())]
    NotText { path: PathBuf },
}

impl SecretRef {
    /// Parses the config text form. The error never repeats the text: it may
    /// be a literal password typed where a reference belongs.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        if let Some(path) = text.strip_prefix("file:") {
            let path = PathBuf::from(path);
            if !path.is_absolute() {
                return Err(SecretError::RelativePath);
            }
            Ok(SecretRef::File(path))
        } else if let Some(name) = text.strip_prefix("credential:") {
            let ok = !name.is_empty()
                && !name.starts_with('.')
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
            if !ok {
                return Err(SecretError::BadCredentialName);
            }
            Ok(SecretRef::Credential(name.to_owned()))
        } else {
            Err(SecretError::NotAReference)
        }
    }

    /// The file this reference resolves to, given systemd's credentials folder.
    pub fn path(&self, credentials_dir: Option<&Path>) -> Result<PathBuf, SecretError> {
        match self {
            SecretRef::File(path) => Ok(path.clone()),
            SecretRef::Credential(name) => match credentials_dir {
                Some(dir) => Ok(dir.join(name)),
                None => Err(SecretError::NoCredentialsDirectory { name: name.clone() }),
            },
        }
    }

    /// Reads the secret: the file must be a regular file, not readable by
    /// group or others, non-empty UTF-8; one trailing newline is dropped.
    pub fn load(&self, credentials_dir: Option<&Path>) -> Result<Secret, SecretError> {
        let path = self.path(credentials_dir)?;
        let bytes = read_private_file(&path, MAX_SECRET_FILE_BYTES)?;
        let mut text =
            String::from_utf8(bytes).map_err(|_| SecretError::NotText { path: path.clone() })?;
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        let secret = Secret(text);
        if secret.0.is_empty() {
            return Err(SecretError::Empty { path });
        }
        Ok(secret)
    }

    /// [`SecretRef::load`] with the credentials folder systemd gave this process.
    pub fn load_from_process(&self) -> Result<Secret, SecretError> {
        self.load(credentials_directory().as_deref())
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::File(path) => write!(f, "file:{}", path.display()),
            SecretRef::Credential(name) => write!(f, "credential:{name}"),
        }
    }
}

/// `$CREDENTIALS_DIRECTORY`, when systemd set it (the folder's path, not a secret).
pub fn credentials_directory() -> Option<PathBuf> {
    std::env::var_os(CREDENTIALS_DIRECTORY)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The mode check shared by secret files and private keys: refuses a file
/// that group or others may read.
pub fn check_private_mode(path: &Path, mode: u32) -> Result<(), SecretError> {
    if mode & 0o044 != 0 {
        return Err(SecretError::TooOpen {
            path: path.to_owned(),
            mode: mode & 0o7777,
        });
    }
    Ok(())
}

/// Opens `path`, checks the opened file (not the path, so the check and the
/// read see the same file) is regular, private ([`check_private_mode`]) and at
/// most `max` bytes, and reads it.
pub fn read_private_file(path: &Path, max: u64) -> Result<Vec<u8>, SecretError> {
    let io = |source| SecretError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(SecretError::NotAFile {
            path: path.to_owned(),
        });
    }
    check_private_mode(path, meta.permissions().mode())?;
    if meta.len() > max {
        return Err(SecretError::TooBig {
            path: path.to_owned(),
            size: meta.len(),
            max,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(SecretError::TooBig {
            path: path.to_owned(),
            size: bytes.len() as u64,
            max,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write_mode(path: &Path, text: &str, mode: u32) {
        fs::write(path, text).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn secrets_cannot_be_printed() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&s)), "Some([redacted])");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn references_parse_and_literals_are_refused_without_echo() {
        assert_eq!(
            SecretRef::parse("file:/etc/mottak/x").unwrap(),
            SecretRef::File("/etc/mottak/x".into())
        );
        assert_eq!(
            SecretRef::parse("credential:nav-frogn.passord").unwrap(),
            SecretRef::Credential("nav-frogn.passord".into())
        );
        let err = SecretRef::parse("hunter2").unwrap_err();
        assert!(matches!(err, SecretError::NotAReference));
        assert!(!err.to_string().contains("hunter2"));
        assert!(matches!(
            SecretRef::parse("file:relative/x"),
            Err(SecretError::RelativePath)
        ));
        for bad in [
            "credential:",
            "credential:../x",
            "credential:a/b",
            "credential:.x",
        ] {
            assert!(matches!(
                SecretRef::parse(bad),
                Err(SecretError::BadCredentialName)
            ));
        }
    }

    #[test]
    fn loads_from_a_file_and_a_credential_dir() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        write_mode(&p, "s3cret\n", 0o600);
        let s = SecretRef::File(p.clone()).load(None).unwrap();
        assert_eq!(s.expose(), "s3cret");

        write_mode(&dir.path().join("nav"), "other\r\n", 0o400);
        let s = SecretRef::Credential("nav".into())
            .load(Some(dir.path()))
            .unwrap();
        assert_eq!(s.expose(), "other");

        let err = SecretRef::Credential("nav".into()).load(None).unwrap_err();
        assert!(matches!(err, SecretError::NoCredentialsDirectory { .. }));
    }

    #[test]
    fn group_or_world_readable_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        for mode in [0o640, 0o604, 0o644] {
            write_mode(&p, "s3cret", mode);
            let err = SecretRef::File(p.clone()).load(None).unwrap_err();
            assert!(
                matches!(err, SecretError::TooOpen { mode: m, .. } if m == mode),
                "{mode:o}: {err}"
            );
            let msg = err.to_string();
            assert!(msg.contains("chmod 600"), "{msg}");
            assert!(!msg.contains("s3cret"));
        }
        write_mode(&p, "s3cret", 0o600);
        assert!(SecretRef::File(p.clone()).load(None).is_ok());
    }

    #[test]
    fn empty_missing_and_huge_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        write_mode(&p, "\n", 0o600);
        assert!(matches!(
            SecretRef::File(p.clone()).load(None),
            Err(SecretError::Empty { .. })
        ));
        write_mode(&p, &"x".repeat(70_000), 0o600);
        assert!(matches!(
            SecretRef::File(p.clone()).load(None),
            Err(SecretError::TooBig { .. })
        ));
        assert!(matches!(
            SecretRef::File(dir.path().join("nope")).load(None),
            Err(SecretError::Io { .. })
        ));
        assert!(matches!(
            SecretRef::File(dir.path().to_owned()).load(None),
            Err(SecretError::NotAFile { .. }) | Err(SecretError::TooOpen { .. })
        ));
    }
}
