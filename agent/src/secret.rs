//! Secrets: where they live ([`SecretRef`]), the value ([`Secret`], which
//! cannot be printed), and reading a private file with the access check
//! ([`read_private_file`]) that private keys share.
//!
//! A private file is one nobody but the agent's user and root may read or
//! change: no read or write bit for group or others, owned by the agent's
//! user or root, and, if it has a POSIX ACL, no entry granting another user
//! or any group read or write. The ACL rule is what lets systemd credentials
//! through: systemd writes them `root`-owned, mode 0400, with an ACL entry
//! for the service's user, so `ls -l` shows 0440 (the group bits show the
//! ACL mask, not the group). On a filesystem without ACLs (ramfs) systemd
//! gives the file to the service's user instead, mode 0400.
//!
//! A secret comes from a file (`file:/etc/mottak/secrets/x.passord`) or a
//! systemd credential (`credential:NAME`, read from `$CREDENTIALS_DIRECTORY/NAME`
//! as `LoadCredential=` provides it). Never from the config text and never
//! from an environment variable: `$CREDENTIALS_DIRECTORY` only says where
//! systemd put the files.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
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
        "{} is {} by group or others (mode {mode:04o}); refusing to use it: run `chmod 600 {}` \
         (and make sure it is owned by the agent's user)",
        path.display(), open_to(*mode), path.display()
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error(
        "{} is owned by uid {owner}, not by the agent's user (uid {user}) or root: that user may read \
         and change it; refusing to use it: run `chown {user} {}` (and `chmod 600` it)",
        path.display(), path.display()
    )]
    WrongOwner {
        path: PathBuf,
        owner: u32,
        user: u32,
    },
    #[error(
        "{} has an access control list that lets {who} {} it; refusing to use it: \
         run `setfacl -b {}` to remove the list (then `chmod 600` it)",
        path.display(), open_to(*perm << 3), path.display()
    )]
    AclTooOpen {
        path: PathBuf,
        who: String,
        /// The entry's effective permission bits (`rwx` as 4, 2, 1).
        perm: u32,
    },
    #[error("cannot read the access control list of {}: {source}", path.display())]
    Acl {
        path: PathBuf,
        source: std::io::Error,
    },
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

    /// Reads the secret: the file must be a regular file, private (see the
    /// module's rule), non-empty UTF-8; one trailing newline is dropped.
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

/// What group or others may do with a file of `mode`: "readable",
/// "writable" or "readable and writable".
fn open_to(mode: u32) -> &'static str {
    let (read, write) = (mode & 0o044 != 0, mode & 0o022 != 0);
    match (read, write) {
        (true, true) => "readable and writable",
        (false, true) => "writable",
        _ => "readable",
    }
}

/// The agent's user for the owner and ACL checks: the effective uid, or
/// `None` when running as root. Root reads any file anyway, and an operator
/// runs `check-config` as root for the agent's user, whose uid it does not
/// know; there only the group and other bits (and group ACL entries) count.
fn agent_user() -> Option<u32> {
    let euid = rustix::process::geteuid().as_raw();
    (euid != 0).then_some(euid)
}

/// The extended attribute holding a file's POSIX access ACL.
const ACL_XATTR: &str = "system.posix_acl_access";

/// One entry of a POSIX ACL (`tag`, `perm`, `id`), as the kernel stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AclEntry {
    tag: u16,
    perm: u16,
    id: u32,
}

const ACL_USER: u16 = 0x02;
const ACL_GROUP_OBJ: u16 = 0x04;
const ACL_GROUP: u16 = 0x08;
const ACL_MASK: u16 = 0x10;
const ACL_READ_WRITE: u16 = 0o6;

/// The file's access ACL, `None` when it has none (or the filesystem has no ACLs).
fn read_acl(file: &File, path: &Path) -> Result<Option<Vec<AclEntry>>, SecretError> {
    let acl_err = |source| SecretError::Acl {
        path: path.to_owned(),
        source,
    };
    let mut buf = [0u8; 4096];
    let len = match rustix::fs::fgetxattr(file, ACL_XATTR, &mut buf[..]) {
        Ok(len) => len,
        Err(e) if e == rustix::io::Errno::NODATA || e == rustix::io::Errno::OPNOTSUPP => {
            return Ok(None);
        }
        Err(e) => return Err(acl_err(e.into())),
    };
    parse_acl(&buf[..len]).map(Some).ok_or_else(|| {
        acl_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a version 2 POSIX ACL",
        ))
    })
}

/// Parses the kernel's ACL format: a little-endian version 2, then 8-byte
/// entries (tag u16, perm u16, id u32).
fn parse_acl(bytes: &[u8]) -> Option<Vec<AclEntry>> {
    let (version, entries) = bytes.split_first_chunk::<4>()?;
    if u32::from_le_bytes(*version) != 2 || entries.len() % 8 != 0 {
        return None;
    }
    Some(
        entries
            .chunks_exact(8)
            .map(|e| AclEntry {
                tag: u16::from_le_bytes([e[0], e[1]]),
                perm: u16::from_le_bytes([e[2], e[3]]),
                id: u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
            })
            .collect(),
    )
}

/// Who, besides the agent's user and root, may read or write a file.
/// `mode` is `st_mode`, `owner` `st_uid`, `acl` its access ACL, `agent` the
/// agent's uid (`None`: not checked, see [`agent_user`]).
fn check_private(
    path: &Path,
    mode: u32,
    owner: u32,
    acl: Option<&[AclEntry]>,
    agent: Option<u32>,
) -> Result<(), SecretError> {
    // With an ACL the group bits of the mode are the ACL's mask, and the
    // group's own entry is checked below.
    let group_other = if acl.is_some() { 0o006 } else { 0o066 };
    if mode & group_other != 0 {
        return Err(SecretError::TooOpen {
            path: path.to_owned(),
            mode: mode & 0o7777,
        });
    }
    if let Some(user) = agent
        && owner != user
        && owner != 0
    {
        return Err(SecretError::WrongOwner {
            path: path.to_owned(),
            owner,
            user,
        });
    }
    let Some(acl) = acl else {
        return Ok(());
    };
    let mask = acl
        .iter()
        .find(|e| e.tag == ACL_MASK)
        .map_or(0o7, |e| e.perm);
    for e in acl {
        let effective = e.perm & mask & ACL_READ_WRITE;
        let who = match e.tag {
            ACL_USER if agent.is_some_and(|a| a != e.id) && e.id != 0 => {
                format!("user {}", e.id)
            }
            ACL_GROUP_OBJ => "its group".to_owned(),
            ACL_GROUP => format!("group {}", e.id),
            _ => continue,
        };
        if effective != 0 {
            return Err(SecretError::AclTooOpen {
                path: path.to_owned(),
                who,
                perm: u32::from(effective),
            });
        }
    }
    Ok(())
}

/// Opens `path`, checks the opened file (not the path, so the check and the
/// read see the same file; a symlink is followed, and the file it leads to
/// is checked) is regular, private (see the module's rule) and at most
/// `max` bytes, and reads it.
pub fn read_private_file(path: &Path, max: u64) -> Result<Vec<u8>, SecretError> {
    read_private_file_for(path, max, agent_user())
}

fn read_private_file_for(
    path: &Path,
    max: u64,
    agent: Option<u32>,
) -> Result<Vec<u8>, SecretError> {
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
    let acl = read_acl(&file, path)?;
    check_private(path, meta.mode(), meta.uid(), acl.as_deref(), agent)?;
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
    use std::os::unix::fs::PermissionsExt;

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

    #[test]
    fn group_or_world_writable_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        for (mode, open) in [
            (0o620, "writable"),
            (0o602, "writable"),
            (0o622, "writable"),
            (0o660, "readable and writable"),
            (0o606, "readable and writable"),
        ] {
            write_mode(&p, "s3cret", mode);
            let err = SecretRef::File(p.clone()).load(None).unwrap_err();
            assert!(
                matches!(err, SecretError::TooOpen { mode: m, .. } if m == mode),
                "{mode:o}: {err}"
            );
            let msg = err.to_string();
            assert!(
                msg.contains(&format!("is {open} by group or others (mode {mode:04o})")),
                "{msg}"
            );
            assert!(msg.contains(&format!("chmod 600 {}", p.display())), "{msg}");
        }
        // Execute bits give nobody the secret: not refused.
        write_mode(&p, "s3cret", 0o611);
        assert!(SecretRef::File(p.clone()).load(None).is_ok());
    }

    /// The file a symlink leads to is what is checked (the link's own mode
    /// is always 0777 and means nothing).
    #[test]
    fn a_symlink_is_judged_by_the_file_it_leads_to() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        let link = dir.path().join("pw");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_mode(&target, "s3cret", 0o666);
        let err = SecretRef::File(link.clone()).load(None).unwrap_err();
        assert!(
            matches!(err, SecretError::TooOpen { mode: 0o666, .. }),
            "{err}"
        );
        write_mode(&target, "s3cret", 0o600);
        assert_eq!(SecretRef::File(link).load(None).unwrap().expose(), "s3cret");
    }

    #[test]
    fn a_file_owned_by_another_user_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        write_mode(&p, "s3cret", 0o600);
        let me = rustix::process::geteuid().as_raw();
        // As root the file can be given away; otherwise play an agent
        // whose uid is not ours.
        let (owner, agent) = if me == 0 {
            std::os::unix::fs::chown(&p, Some(4343), None).unwrap();
            (4343, 4242)
        } else {
            (me, me + 1)
        };
        let err = read_private_file_for(&p, 100, Some(agent)).unwrap_err();
        assert!(
            matches!(err, SecretError::WrongOwner { owner: o, user: u, .. } if o == owner && u == agent),
            "{err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("chown {agent} {}", p.display())),
            "{msg}"
        );
        assert_eq!(
            read_private_file_for(&p, 100, Some(owner)).unwrap(),
            b"s3cret"
        );
        // Not checked when the agent's user is unknown (running as root).
        assert!(read_private_file_for(&p, 100, None).is_ok());
    }

    fn acl_bytes(entries: &[(u16, u16, u32)]) -> Vec<u8> {
        let mut b = 2u32.to_le_bytes().to_vec();
        for (tag, perm, id) in entries {
            b.extend_from_slice(&tag.to_le_bytes());
            b.extend_from_slice(&perm.to_le_bytes());
            b.extend_from_slice(&id.to_le_bytes());
        }
        b
    }

    const NO_ID: u32 = u32::MAX;

    /// What systemd writes for `LoadCredential=` on a filesystem with ACLs:
    /// mode 0400 and a read entry for the service's user (the mask makes
    /// the mode read 0440).
    fn systemd_acl(user: u32) -> Vec<(u16, u16, u32)> {
        vec![
            (0x01, 0o4, NO_ID),
            (ACL_USER, 0o4, user),
            (ACL_GROUP_OBJ, 0, NO_ID),
            (ACL_MASK, 0o4, NO_ID),
            (0x20, 0, NO_ID),
        ]
    }

    #[test]
    fn acl_entries_for_other_users_or_groups_are_refused() {
        let p = Path::new("/x/pw");
        let parse = |e: &[(u16, u16, u32)]| parse_acl(&acl_bytes(e)).unwrap();
        let agent = Some(4242);
        // systemd's credential: owned by root, 0440 through the mask.
        let acl = parse(&systemd_acl(4242));
        assert!(check_private(p, 0o100440, 0, Some(&acl), agent).is_ok());
        // The same mode without an ACL is a readable group.
        assert!(matches!(
            check_private(p, 0o100440, 0, None, agent),
            Err(SecretError::TooOpen { mode: 0o440, .. })
        ));
        // Another user, the group, a named group, each with read or write.
        for (entries, who, perm) in [
            (systemd_acl(4343), "user 4343", 0o4),
            (
                vec![
                    (0x01, 0o6, NO_ID),
                    (ACL_GROUP_OBJ, 0o2, NO_ID),
                    (ACL_MASK, 0o6, NO_ID),
                    (0x20, 0, NO_ID),
                ],
                "its group",
                0o2,
            ),
            (
                vec![
                    (0x01, 0o6, NO_ID),
                    (ACL_GROUP_OBJ, 0, NO_ID),
                    (ACL_GROUP, 0o6, 99),
                    (ACL_MASK, 0o7, NO_ID),
                    (0x20, 0, NO_ID),
                ],
                "group 99",
                0o6,
            ),
        ] {
            let acl = parse(&entries);
            let err = check_private(p, 0o100460, 0, Some(&acl), agent).unwrap_err();
            assert!(
                matches!(&err, SecretError::AclTooOpen { who: w, perm: q, .. } if w == who && *q == perm),
                "{who}: {err}"
            );
            assert!(err.to_string().contains("setfacl -b /x/pw"), "{err}");
        }
        // The mask limits an entry: a named group masked to nothing is fine.
        let acl = parse(&[
            (0x01, 0o6, NO_ID),
            (ACL_GROUP_OBJ, 0, NO_ID),
            (ACL_GROUP, 0o6, 99),
            (ACL_MASK, 0, NO_ID),
            (0x20, 0, NO_ID),
        ]);
        assert!(check_private(p, 0o100600, 0, Some(&acl), agent).is_ok());
        // Others stay refused by the mode, ACL or not.
        let acl = parse(&systemd_acl(4242));
        assert!(matches!(
            check_private(p, 0o100444, 0, Some(&acl), agent),
            Err(SecretError::TooOpen { .. })
        ));
        assert!(parse_acl(b"\x01\0\0\0").is_none());
        assert!(parse_acl(&[2, 0, 0, 0, 1]).is_none());
    }

    /// A credential as systemd leaves it in `$CREDENTIALS_DIRECTORY` (on a
    /// filesystem with ACLs: tmpfs, or the plain-directory fallback) loads;
    /// the same file with an entry for another user does not.
    #[test]
    fn a_systemd_credential_with_its_acl_loads() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nav.passord");
        write_mode(&p, "s3cret\n", 0o400);
        let me = rustix::process::geteuid().as_raw();
        let agent = if me == 0 { 4242 } else { me };
        let set = |entries: &[(u16, u16, u32)]| {
            let f = File::open(&p).unwrap();
            rustix::fs::fsetxattr(
                &f,
                ACL_XATTR,
                &acl_bytes(entries),
                rustix::fs::XattrFlags::empty(),
            )
        };
        if let Err(e) = set(&systemd_acl(agent)) {
            eprintln!("this filesystem takes no ACL ({e}); skipped");
            return;
        }
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o440, "the mask shows as the group bits");
        let cred = SecretRef::Credential("nav.passord".into());
        assert_eq!(cred.load(Some(dir.path())).unwrap().expose(), "s3cret");
        assert_eq!(
            read_private_file_for(&p, 100, Some(agent)).unwrap(),
            b"s3cret\n"
        );
        set(&systemd_acl(4343)).unwrap();
        let err = read_private_file_for(&p, 100, Some(agent)).unwrap_err();
        assert!(
            matches!(&err, SecretError::AclTooOpen { who, .. } if who == "user 4343"),
            "{err}"
        );
    }
}
