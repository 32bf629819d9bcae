//! Every file operation beneath a drop folder goes through here.
//!
//! The fagsystem (and whoever holds its account) writes the drop folder, so
//! nothing found in it is trusted: a name may be a symbolic link to the
//! agent's private key, a FIFO that blocks whoever opens it, a device, or a
//! folder where a file was expected. This module makes the safe thing the
//! only thing that can be written:
//!
//! - [`Dir`] is an open directory handle. Everything is done *relative to
//!   it* (`openat`, `mkdirat`, `renameat`, `unlinkat`, `fstatat`), by a
//!   [`Name`]: one validated path component (no `/`, no NUL, not `.` or
//!   `..`). There is no method that takes a path, so no code can name a
//!   place outside the folder it holds. A walk of several components is a
//!   chain of [`Dir::open_dir`] calls, each refusing a link.
//! - Every open carries `O_NOFOLLOW` (a link is never followed, not even the
//!   last component) and `O_NONBLOCK` (opening a FIFO returns at once instead
//!   of waiting for a writer); then `fstat` on the handle decides: only a
//!   regular file where a file is wanted, only a folder where a folder is.
//!   A file is also `lstat`ed before it is opened, so a device node is never
//!   opened (opening one can have effects) and a FIFO never read.
//! - Reads are bounded by the caller ([`Dir::read_file`], [`Dir::read_prefix`]).
//! - A file is created with `O_CREAT | O_EXCL | O_NOFOLLOW` (a dangling link
//!   of that name is an error, never a way to create its target); a file
//!   that replaces another is written under a temporary name, fsynced and
//!   renamed ([`Dir::write_atomic`]).
//! - A tree is removed without following links ([`Dir::remove_tree`]).
//!
//! The root of a drop folder is the one path opened ([`Dir::open_root`]):
//! it comes from the admin's config, not from the fagsystem, so links in it
//! are followed as the admin wrote them.
//!
//! The renames and fsyncs a crash test must break go through [`FsOps`],
//! which every [`Dir`] carries (and hands to the folders opened from it).

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use rustix::fs::{
    AtFlags, FileType, Mode, OFlags, RenameFlags, Stat, fstat, fstatvfs, mkdirat, openat, renameat,
    renameat_with, statat, unlinkat,
};

use crate::names::{ForsendelseId, SafeName};

/// The longest name the kernel takes for one component.
const MAX_COMPONENT_BYTES: usize = 255;

/// How deep [`Dir::remove_tree`] goes (a folder deeper than this is left,
/// with an error, rather than holding one open handle per level without end).
const MAX_TREE_DEPTH: usize = 32;

/// One path component, checked: 1 to 255 bytes, no `/`, no NUL, not `.`
/// or `..`. Not necessarily UTF-8: a name listed from a folder is kept as
/// the bytes it is, so it can be renamed or removed exactly.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(Cow<'static, [u8]>);

/// Why a string cannot be a [`Name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadName {
    Empty,
    TooLong,
    Separator,
    Nul,
    Dots,
}

impl BadName {
    fn why(self) -> &'static str {
        match self {
            BadName::Empty => "it is empty",
            BadName::TooLong => "it is longer than 255 bytes",
            BadName::Separator => "it holds a '/'",
            BadName::Nul => "it holds a NUL byte",
            BadName::Dots => "it is '.' or '..'",
        }
    }
}

const fn check_component(b: &[u8]) -> Result<(), BadName> {
    if b.is_empty() {
        return Err(BadName::Empty);
    }
    if b.len() > MAX_COMPONENT_BYTES {
        return Err(BadName::TooLong);
    }
    if (b.len() == 1 && b[0] == b'.') || (b.len() == 2 && b[0] == b'.' && b[1] == b'.') {
        return Err(BadName::Dots);
    }
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' {
            return Err(BadName::Separator);
        }
        if b[i] == 0 {
            return Err(BadName::Nul);
        }
        i += 1;
    }
    Ok(())
}

impl Name {
    /// A name fixed in the code (`inn`, `feil.txt`); checked at compile time
    /// when used in a `const`.
    pub const fn fixed(name: &'static str) -> Name {
        assert!(
            check_component(name.as_bytes()).is_ok(),
            "not a single path component"
        );
        Name(Cow::Borrowed(name.as_bytes()))
    }

    /// A name from anywhere else, checked.
    pub fn new(raw: impl AsRef<OsStr>) -> Result<Name, DirError> {
        let raw = raw.as_ref().as_bytes();
        match check_component(raw) {
            Ok(()) => Ok(Name(Cow::Owned(raw.to_vec()))),
            Err(why) => Err(DirError::BadName {
                shown: String::from_utf8_lossy(raw).escape_debug().to_string(),
                why: why.why(),
            }),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn as_os_str(&self) -> &OsStr {
        OsStr::from_bytes(&self.0)
    }

    /// The name as text, when it is UTF-8.
    pub fn to_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The name as text, invalid UTF-8 replaced (for messages).
    pub fn to_string_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// Whether this is `other`, ignoring ASCII case (a fagsystem reading over
    /// SMB sees `FEIL.TXT` and `feil.txt` as one file).
    pub fn eq_ignore_case(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other.as_bytes())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string_lossy())
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

impl From<&SafeName> for Name {
    fn from(name: &SafeName) -> Name {
        // A SafeName has no separator, no control character (NUL is one), no
        // leading dot and at most 200 bytes: always one component.
        Name(Cow::Owned(name.as_str().as_bytes().to_vec()))
    }
}

impl From<&ForsendelseId> for Name {
    fn from(id: &ForsendelseId) -> Name {
        // 1 to 64 of [A-Za-z0-9-]: always one component.
        Name(Cow::Owned(id.as_str().as_bytes().to_vec()))
    }
}

/// What an entry is, from `lstat` (a link is a link, never what it points to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Unknown,
}

impl Kind {
    fn of(mode: u32) -> Kind {
        match FileType::from_raw_mode(mode) {
            FileType::RegularFile => Kind::File,
            FileType::Directory => Kind::Dir,
            FileType::Symlink => Kind::Symlink,
            FileType::Fifo => Kind::Fifo,
            FileType::Socket => Kind::Socket,
            FileType::CharacterDevice => Kind::CharDevice,
            FileType::BlockDevice => Kind::BlockDevice,
            FileType::Unknown => Kind::Unknown,
        }
    }

    /// "a symbolic link", "a FIFO", …: for "refused: X is …".
    pub fn described(self) -> &'static str {
        match self {
            Kind::File => "a regular file",
            Kind::Dir => "a folder",
            Kind::Symlink => "a symbolic link",
            Kind::Fifo => "a FIFO (named pipe)",
            Kind::Socket => "a socket",
            Kind::CharDevice => "a character device",
            Kind::BlockDevice => "a block device",
            Kind::Unknown => "of an unknown type",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.described())
    }
}

/// What `lstat`/`fstat` says about an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub kind: Kind,
    pub size: u64,
    /// The permission bits (`0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub dev: u64,
    pub ino: u64,
    /// Last change of place or content (a rename updates it).
    pub changed: SystemTime,
    pub modified: SystemTime,
}

impl Meta {
    // The field types differ between targets (c_long, u32, u64).
    #[allow(clippy::useless_conversion, clippy::unnecessary_fallible_conversions)]
    fn of(st: &Stat) -> Meta {
        let time = |secs, nanos| {
            SystemTime::UNIX_EPOCH
                + Duration::new(
                    u64::try_from(secs).unwrap_or(0),
                    u32::try_from(nanos).unwrap_or(0),
                )
        };
        Meta {
            kind: Kind::of(st.st_mode),
            size: u64::try_from(st.st_size).unwrap_or(0),
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            dev: u64::try_from(st.st_dev).unwrap_or(0),
            ino: u64::try_from(st.st_ino).unwrap_or(0),
            changed: time(st.st_ctime, st.st_ctime_nsec),
            modified: time(st.st_mtime, st.st_mtime_nsec),
        }
    }
}

/// One entry of a folder listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: Name,
    pub meta: Meta,
}

/// Free and total space of a folder's filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Bytes an unprivileged user may still write.
    pub free_bytes: u64,
    pub total_bytes: u64,
    pub read_only: bool,
}

/// What went wrong beneath a drop folder. Each names the path, so a message
/// can say "refused: feilet/X/feil.txt is a symbolic link".
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    #[error(
        "refused: {} is a symbolic link; the agent never follows links in the drop folder (replace it with a regular file or folder)",
        path.display()
    )]
    SymbolicLink { path: PathBuf },
    #[error(
        "refused: {} is a FIFO (named pipe), not a regular file; the agent does not read it (remove it)",
        path.display()
    )]
    Fifo { path: PathBuf },
    #[error(
        "refused: {} is {found}, not a regular file; the agent does not read it (remove it or replace it with a regular file)",
        path.display()
    )]
    NotRegularFile { path: PathBuf, found: Kind },
    #[error(
        "refused: {} is {found}, not a folder (remove it or replace it with a folder)",
        path.display()
    )]
    NotADirectory { path: PathBuf, found: Kind },
    #[error(
        "{} is larger than the {max} bytes the agent reads of it; make it smaller",
        path.display()
    )]
    TooLarge { path: PathBuf, max: u64 },
    #[error("{shown:?} cannot be a file or folder name in the drop folder: {why}")]
    BadName { shown: String, why: &'static str },
    #[error(
        "{} is nested more than {MAX_TREE_DEPTH} folders deep; the agent does not remove it (remove it by hand)",
        path.display()
    )]
    TooDeep { path: PathBuf },
    #[error("could not {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl DirError {
    /// The entry did not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, DirError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }

    /// An entry of that name was already there.
    pub fn is_already_exists(&self) -> bool {
        matches!(self, DirError::Io { source, .. } if source.kind() == io::ErrorKind::AlreadyExists)
    }

    /// What was refused, in a few words ("a symbolic link", "a FIFO (named
    /// pipe)", "a folder"), when the entry was refused for its kind.
    pub fn refused_kind(&self) -> Option<&'static str> {
        match self {
            DirError::SymbolicLink { .. } => Some(Kind::Symlink.described()),
            DirError::Fifo { .. } => Some(Kind::Fifo.described()),
            DirError::NotRegularFile { found, .. } | DirError::NotADirectory { found, .. } => {
                Some(found.described())
            }
            _ => None,
        }
    }

    /// The path the error is about.
    pub fn path(&self) -> Option<&Path> {
        match self {
            DirError::SymbolicLink { path }
            | DirError::Fifo { path }
            | DirError::NotRegularFile { path, .. }
            | DirError::NotADirectory { path, .. }
            | DirError::TooLarge { path, .. }
            | DirError::TooDeep { path }
            | DirError::Io { path, .. } => Some(path),
            DirError::BadName { .. } => None,
        }
    }
}

/// Whether a rename may replace what is at the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// `renameat`: an existing file (or empty folder) at the target is replaced.
    Allow,
    /// `renameat2(RENAME_NOREPLACE)`: an existing target is an error
    /// ([`DirError::is_already_exists`]), atomically.
    Never,
}

/// The renames and fsyncs, so tests can make them fail. Each gets the
/// handles and the paths (for a test to tell which operation it is).
pub trait FsOps: Send + Sync {
    /// `renameat(from/from_name, to/to_name)`.
    fn rename(
        &self,
        from: &Dir,
        from_name: &Name,
        to: &Dir,
        to_name: &Name,
        replace: Replace,
    ) -> io::Result<()>;
    /// fsync of a file's data and metadata; `path` is for telling files apart.
    fn sync_file(&self, file: &File, path: &Path) -> io::Result<()>;
    /// fsync of a folder (makes the entries in it, and renames into it, durable).
    fn sync_dir(&self, dir: &Dir) -> io::Result<()>;
}

/// The real filesystem.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

impl FsOps for RealFs {
    fn rename(
        &self,
        from: &Dir,
        from_name: &Name,
        to: &Dir,
        to_name: &Name,
        replace: Replace,
    ) -> io::Result<()> {
        match replace {
            Replace::Allow => renameat(&from.fd, from_name.as_bytes(), &to.fd, to_name.as_bytes()),
            Replace::Never => renameat_with(
                &from.fd,
                from_name.as_bytes(),
                &to.fd,
                to_name.as_bytes(),
                RenameFlags::NOREPLACE,
            ),
        }
        .map_err(io::Error::from)
    }
    fn sync_file(&self, file: &File, _path: &Path) -> io::Result<()> {
        file.sync_all()
    }
    fn sync_dir(&self, dir: &Dir) -> io::Result<()> {
        rustix::fs::fsync(&*dir.fd).map_err(io::Error::from)
    }
}

/// An open folder beneath (or at the root of) a drop folder. Cheap to clone:
/// clones share the handle.
#[derive(Clone)]
pub struct Dir {
    fd: Arc<OwnedFd>,
    /// Where it was opened, for messages and for [`FsOps`] in tests; never
    /// used to reach the folder.
    path: PathBuf,
    ops: Arc<dyn FsOps>,
}

impl fmt::Debug for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dir").field("path", &self.path).finish()
    }
}

/// Flags on every open: never follow a link, never wait on a FIFO, never
/// let the handle leak into a child process or become a controlling tty.
fn base_flags() -> OFlags {
    OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY
}

/// A counter for temporary names ([`Dir::write_atomic`]).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Dir {
    /// Opens the root of a drop folder: the one path from the config.
    pub fn open_root(path: &Path, ops: Arc<dyn FsOps>) -> Result<Dir, DirError> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::empty(),
        )
        .map_err(|e| DirError::Io {
            op: "open the folder",
            path: path.to_owned(),
            source: e.into(),
        })?;
        Ok(Dir {
            fd: Arc::new(fd),
            path: path.to_owned(),
            ops,
        })
    }

    /// Where this folder was opened (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of `name` in this folder (for messages).
    pub fn path_of(&self, name: &Name) -> PathBuf {
        self.path.join(name.as_os_str())
    }

    /// The [`FsOps`] this folder's renames and fsyncs go through.
    pub fn ops(&self) -> &Arc<dyn FsOps> {
        &self.ops
    }

    fn io<'a>(
        &'a self,
        op: &'static str,
        name: &'a Name,
    ) -> impl FnOnce(rustix::io::Errno) -> DirError + 'a {
        move |e| DirError::Io {
            op,
            path: self.path_of(name),
            source: e.into(),
        }
    }

    fn io_here(&self, op: &'static str) -> impl FnOnce(rustix::io::Errno) -> DirError + '_ {
        move |e| DirError::Io {
            op,
            path: self.path.clone(),
            source: e.into(),
        }
    }

    /// The error for `name`, found to be `found` where `wanted` was wanted.
    fn refused(&self, name: &Name, found: Kind, wanted: Kind) -> DirError {
        let path = self.path_of(name);
        match (found, wanted) {
            (Kind::Symlink, _) => DirError::SymbolicLink { path },
            (Kind::Fifo, _) => DirError::Fifo { path },
            (found, Kind::Dir) => DirError::NotADirectory { path, found },
            (found, _) => DirError::NotRegularFile { path, found },
        }
    }

    /// `lstat` of `name` (a link is reported as a link). `Ok(None)`: no such entry.
    pub fn stat(&self, name: &Name) -> Result<Option<Meta>, DirError> {
        match statat(&*self.fd, name.as_bytes(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(Meta::of(&st))),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(self.io("inspect", name)(e)),
        }
    }

    /// `fstat` of this folder.
    pub fn meta(&self) -> Result<Meta, DirError> {
        fstat(&*self.fd)
            .map(|st| Meta::of(&st))
            .map_err(self.io_here("inspect"))
    }

    /// Opens the folder `name` in this one; a link, or anything but a folder,
    /// is refused.
    pub fn open_dir(&self, name: &Name) -> Result<Dir, DirError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | base_flags();
        let fd = match openat(&*self.fd, name.as_bytes(), flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(e @ (rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR)) => {
                return Err(match self.stat(name) {
                    Ok(Some(meta)) if meta.kind != Kind::Dir => {
                        self.refused(name, meta.kind, Kind::Dir)
                    }
                    _ => self.io("open the folder", name)(e),
                });
            }
            Err(e) => return Err(self.io("open the folder", name)(e)),
        };
        let found = fstat(&fd)
            .map(|st| Kind::of(st.st_mode))
            .map_err(self.io("inspect", name))?;
        if found != Kind::Dir {
            return Err(self.refused(name, found, Kind::Dir));
        }
        Ok(Dir {
            fd: Arc::new(fd),
            path: self.path_of(name),
            ops: self.ops.clone(),
        })
    }

    /// Creates the folder `name` with `mode` (less the umask) and opens it.
    /// An existing entry of that name is an error ([`DirError::is_already_exists`]).
    pub fn create_dir(&self, name: &Name, mode: u32) -> Result<Dir, DirError> {
        mkdirat(&*self.fd, name.as_bytes(), Mode::from_raw_mode(mode))
            .map_err(self.io("create the folder", name))?;
        self.open_dir(name)
    }

    /// Sets this folder's permission bits (not subject to the umask).
    pub fn set_mode(&self, mode: u32) -> Result<(), DirError> {
        rustix::fs::fchmod(&*self.fd, Mode::from_raw_mode(mode))
            .map_err(self.io_here("set the mode of"))
    }

    /// Gives this folder to `uid`/`gid` (`None`: unchanged). Only root may
    /// give a folder away; anyone may change its group to one of their own.
    pub fn set_owner(&self, uid: Option<u32>, gid: Option<u32>) -> Result<(), DirError> {
        rustix::fs::fchown(
            &*self.fd,
            uid.map(rustix::fs::Uid::from_raw),
            gid.map(rustix::fs::Gid::from_raw),
        )
        .map_err(self.io_here("change the owner of"))
    }

    /// Every entry of this folder with what `lstat` says of it, names as
    /// they are (possibly not UTF-8). An entry that vanishes while it is
    /// listed (moved by the fagsystem) is left out.
    pub fn entries(&self) -> Result<Vec<Entry>, DirError> {
        let list = rustix::fs::Dir::read_from(&*self.fd).map_err(self.io_here("list"))?;
        let mut out = Vec::new();
        for entry in list {
            let entry = entry.map_err(self.io_here("list"))?;
            let bytes = entry.file_name().to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            let name = Name(Cow::Owned(bytes.to_vec()));
            if let Some(meta) = self.stat(&name)? {
                out.push(Entry { name, meta });
            }
        }
        Ok(out)
    }

    /// Opens the regular file `name` for reading (a streamed upload, a
    /// hash). A link, a FIFO, a device, a socket or a folder is refused
    /// without being read (a device is not even opened).
    pub fn open_file(&self, name: &Name) -> Result<File, DirError> {
        match self.stat(name)? {
            None => {
                return Err(self.io("open", name)(rustix::io::Errno::NOENT));
            }
            Some(meta) if meta.kind != Kind::File => {
                return Err(self.refused(name, meta.kind, Kind::File));
            }
            Some(_) => {}
        }
        let fd = openat(
            &*self.fd,
            name.as_bytes(),
            OFlags::RDONLY | base_flags(),
            Mode::empty(),
        )
        .map_err(|e| match e {
            // Replaced by a link since the lstat.
            rustix::io::Errno::LOOP => self.refused(name, Kind::Symlink, Kind::File),
            e => self.io("open", name)(e),
        })?;
        let found = fstat(&fd)
            .map(|st| Kind::of(st.st_mode))
            .map_err(self.io("inspect", name))?;
        if found != Kind::File {
            return Err(self.refused(name, found, Kind::File));
        }
        Ok(File::from(fd))
    }

    /// The whole of the regular file `name`, if it holds at most `max`
    /// bytes; else [`DirError::TooLarge`].
    pub fn read_file(&self, name: &Name, max: u64) -> Result<Vec<u8>, DirError> {
        let (bytes, complete) = self.read_up_to(name, max)?;
        if !complete {
            return Err(DirError::TooLarge {
                path: self.path_of(name),
                max,
            });
        }
        Ok(bytes)
    }

    /// At most the first `max` bytes of the regular file `name`, and whether
    /// that was all of it.
    pub fn read_prefix(&self, name: &Name, max: u64) -> Result<(Vec<u8>, bool), DirError> {
        self.read_up_to(name, max)
    }

    fn read_up_to(&self, name: &Name, max: u64) -> Result<(Vec<u8>, bool), DirError> {
        let file = self.open_file(name)?;
        let mut bytes = Vec::new();
        file.take(max.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|source| DirError::Io {
                op: "read",
                path: self.path_of(name),
                source,
            })?;
        let complete = bytes.len() as u64 <= max;
        bytes.truncate(usize::try_from(max).unwrap_or(usize::MAX));
        Ok((bytes, complete))
    }

    /// Creates the file `name` for writing, with `mode` (less the umask):
    /// `O_CREAT | O_EXCL | O_NOFOLLOW`, so an existing entry of that name, a
    /// dangling link included, is an error ([`DirError::is_already_exists`]).
    pub fn create_file(&self, name: &Name, mode: u32) -> Result<File, DirError> {
        let fd = openat(
            &*self.fd,
            name.as_bytes(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | base_flags(),
            Mode::from_raw_mode(mode),
        )
        .map_err(self.io("create", name))?;
        Ok(File::from(fd))
    }

    /// Writes `bytes` as the file `name`, all or nothing: into a new
    /// temporary file, fsynced, then renamed over `name` (a link or file of
    /// that name is replaced, never written through), then this folder
    /// fsynced. `replace` [`Replace::Never`] leaves an existing `name` as it
    /// is and fails.
    pub fn write_atomic(
        &self,
        name: &Name,
        bytes: &[u8],
        mode: u32,
        replace: Replace,
    ) -> Result<(), DirError> {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = Name::new(format!(".mottak-tmp.{}.{n}", std::process::id()))?;
        let result = (|| {
            let mut file = self.create_file(&temp, mode)?;
            file.write_all(bytes).map_err(|source| DirError::Io {
                op: "write",
                path: self.path_of(&temp),
                source,
            })?;
            self.sync_open_file(&file, &temp)?;
            self.rename(&temp, self, name, replace)
        })();
        if result.is_err() {
            let _ = self.remove_file(&temp);
            return result;
        }
        self.sync()
    }

    /// Renames `from` in this folder to `to` in `to_dir` (through [`FsOps`]).
    /// The entry itself moves: a link is moved as a link.
    pub fn rename(
        &self,
        from: &Name,
        to_dir: &Dir,
        to: &Name,
        replace: Replace,
    ) -> Result<(), DirError> {
        self.ops
            .rename(self, from, to_dir, to, replace)
            .map_err(|source| DirError::Io {
                op: "rename",
                path: self.path_of(from),
                source,
            })
    }

    /// Removes the entry `name` if it is not a folder (a link is removed,
    /// not what it points to).
    pub fn remove_file(&self, name: &Name) -> Result<(), DirError> {
        unlinkat(&*self.fd, name.as_bytes(), AtFlags::empty()).map_err(self.io("remove", name))
    }

    /// Removes the empty folder `name`.
    pub fn remove_dir(&self, name: &Name) -> Result<(), DirError> {
        unlinkat(&*self.fd, name.as_bytes(), AtFlags::REMOVEDIR).map_err(self.io("remove", name))
    }

    /// Removes `name` and, if it is a folder, everything in it, never
    /// following a link (links are removed as links). `Ok(false)`: it was
    /// not there.
    pub fn remove_tree(&self, name: &Name) -> Result<bool, DirError> {
        self.remove_tree_at(name, 0)
    }

    fn remove_tree_at(&self, name: &Name, depth: usize) -> Result<bool, DirError> {
        let Some(meta) = self.stat(name)? else {
            return Ok(false);
        };
        if meta.kind != Kind::Dir {
            return match self.remove_file(name) {
                Err(e) if e.is_not_found() => Ok(false),
                other => other.map(|()| true),
            };
        }
        if depth >= MAX_TREE_DEPTH {
            return Err(DirError::TooDeep {
                path: self.path_of(name),
            });
        }
        let sub = match self.open_dir(name) {
            Ok(sub) => sub,
            Err(e) if e.is_not_found() => return Ok(false),
            Err(e) => return Err(e),
        };
        for entry in sub.entries()? {
            sub.remove_tree_at(&entry.name, depth + 1)?;
        }
        match self.remove_dir(name) {
            Err(e) if e.is_not_found() => Ok(false),
            other => other.map(|()| true),
        }
    }

    /// fsync of this folder (through [`FsOps`]).
    pub fn sync(&self) -> Result<(), DirError> {
        self.ops.sync_dir(self).map_err(|source| DirError::Io {
            op: "fsync",
            path: self.path.clone(),
            source,
        })
    }

    /// fsync of the regular file `name` in this folder (through [`FsOps`]).
    pub fn sync_file(&self, name: &Name) -> Result<(), DirError> {
        let file = self.open_file(name)?;
        self.sync_open_file(&file, name)
    }

    /// fsync of `file`, open from this folder as `name` (through [`FsOps`]).
    pub fn sync_open_file(&self, file: &File, name: &Name) -> Result<(), DirError> {
        let path = self.path_of(name);
        self.ops
            .sync_file(file, &path)
            .map_err(|source| DirError::Io {
                op: "fsync",
                path,
                source,
            })
    }

    /// Free and total space of this folder's filesystem.
    pub fn space(&self) -> Result<Space, DirError> {
        let st = fstatvfs(&*self.fd).map_err(self.io_here("inspect the filesystem of"))?;
        Ok(Space {
            free_bytes: st.f_bavail.saturating_mul(st.f_frsize),
            total_bytes: st.f_blocks.saturating_mul(st.f_frsize),
            read_only: st.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY),
        })
    }

    /// Whether the agent's user may create entries in this folder (checked
    /// with the effective ids, without writing anything).
    pub fn check_writable(&self) -> Result<(), DirError> {
        rustix::fs::accessat(
            &*self.fd,
            ".",
            rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK,
            AtFlags::EACCESS,
        )
        .map_err(self.io_here("write in"))
    }
}

#[cfg(test)]
mod tests;
