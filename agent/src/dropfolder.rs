//! The drop folder: where the fagsystem receives forsendelser (see DESIGN.md,
//! "Drop folder contract").
//!
//! ```text
//! <drop_folder>/
//!   .mottak/<id>.partial/   staging, written by the agent only (`.mottak` is 0700)
//!   inn/<id>/               appears whole, in one rename
//!   feilet/<id>/            moved here by the fagsystem, optionally with feil.txt
//!   ut/ ut-sendt/ ut-feilet/
//! ```
//!
//! Publishing is: fsync every file, fsync the staging folder, rename it to
//! `inn/<id>/`, fsync `inn/`. Only then may the journal say `delivered`. If
//! `inn/<id>/` already exists (a crash after the rename, before the journal
//! heard of it) it is recognised by its `forsendelse.json` and not written again.
//!
//! A folder that left `inn/` counts as imported unless it is in `feilet/`.
//! `inn/` is always read before `feilet/`: the fagsystem's move from one to the
//! other is a single rename, so a folder missing from `inn/` is already in
//! `feilet/` when `feilet/` is read, and a rejection is never taken for an import.
//!
//! Every operation goes through [`dirfd`], relative to directory handles: a
//! link, a FIFO or a device the fagsystem leaves in `inn/` or `feilet/` is
//! refused, never followed, opened or read. The operations tests must break
//! (rename, fsync) go through [`dirfd::FsOps`].

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::names::{ForsendelseId, SafeName};

pub mod dirfd;
mod sync_group;

use sync_group::SyncGroup;

use dirfd::{Dir, DirError, Kind, Name, Replace};

/// The agent's own staging folder.
pub const STAGING_DIR: &str = ".mottak";
pub const INN_DIR: &str = "inn";
pub const FEILET_DIR: &str = "feilet";
pub const UT_DIR: &str = "ut";
pub const UT_SENDT_DIR: &str = "ut-sendt";
pub const UT_FEILET_DIR: &str = "ut-feilet";
/// Every folder of the layout, in the order they are created.
pub const LAYOUT: [&str; 6] = [
    STAGING_DIR,
    INN_DIR,
    FEILET_DIR,
    UT_DIR,
    UT_SENDT_DIR,
    UT_FEILET_DIR,
];
/// SvarInn's metadata as received, in every delivered folder.
pub const FORSENDELSE_JSON: &str = "forsendelse.json";
/// The fagsystem's reason for a rejection, in `feilet/<id>/`.
pub const FEIL_TXT: &str = "feil.txt";
/// The suffix of a staging folder.
pub const PARTIAL_SUFFIX: &str = ".partial";
/// The suffix of a Fiks IO message's staging folder: its own, so neither
/// channel's cleanup at startup ever takes the other's staging.
pub const FIKS_IO_PARTIAL_SUFFIX: &str = ".fiksio-partial";
/// Fiks IO's metadata of a message, in every folder it delivers.
pub const MELDING_JSON: &str = "melding.json";

/// The layout's names as [`Name`]s.
pub const STAGING: Name = Name::fixed(STAGING_DIR);
pub const INN: Name = Name::fixed(INN_DIR);
pub const FEILET: Name = Name::fixed(FEILET_DIR);
const FORSENDELSE_JSON_NAME: Name = Name::fixed(FORSENDELSE_JSON);
const MELDING_JSON_NAME: Name = Name::fixed(MELDING_JSON);
const FEIL_TXT_NAME: Name = Name::fixed(FEIL_TXT);

/// How much of `forsendelse.json` is read.
const MAX_READ: u64 = 1 << 20;
/// How much of `feil.txt` is read (it goes into the journal, the console
/// and the mottakFeilet text).
pub const MAX_FEIL_TXT: u64 = 64 * 1024;

/// The mode a file the agent writes into a delivered folder is created
/// with, less the umask (the folder's mode and group decide who reads it).
const FILE_MODE: u32 = 0o666;

/// The path-based filesystem operations of the outbound side
/// (`outbound::claim`), until it moves onto [`dirfd`] and its
/// [`dirfd::FsOps`]; the inbound side no longer uses these.
pub trait FsOps: Send + Sync {
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// fsync of a file's data and metadata.
    fn sync_file(&self, path: &Path) -> io::Result<()>;
    /// fsync of a directory (makes the entries in it, and renames into it, durable).
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
}

/// The real filesystem, by path (see [`FsOps`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

impl FsOps for RealFs {
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn sync_file(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }
}

/// What went wrong in the drop folder. Each names the path and, where it
/// helps, the forsendelse.
#[derive(Debug, thiserror::Error)]
pub enum DropError {
    #[error(transparent)]
    Dir(#[from] DirError),
    #[error(
        "the drop folder {} does not exist or is not a folder; create it (owned so the agent and the fagsystem can both use it) or fix drop_folder in the config",
        path.display()
    )]
    NoRoot { path: PathBuf },
    #[error(
        "{} and {} are on different filesystems, so publishing could not be a single rename; make .mottak/ a plain folder inside the drop folder (not a mount or a symlink)",
        staging.display(), inn.display()
    )]
    DifferentFilesystems { staging: PathBuf, inn: PathBuf },
    #[error(
        "forsendelse {id}: {} already exists and was not delivered by the agent (its forsendelse.json is missing or names another forsendelse); move it aside and the agent will deliver again",
        path.display()
    )]
    InnOccupied { id: ForsendelseId, path: PathBuf },
    #[error("forsendelse {id}: the staging folder {} is gone; download it again", path.display())]
    StagingGone { id: ForsendelseId, path: PathBuf },
    #[error("forsendelse {id}: {} is not in feilet/, nothing to retry", path.display())]
    NotRejected { id: ForsendelseId, path: PathBuf },
    #[error(
        "forsendelse {id}: cannot move it back to {}, a folder of that name is already there; remove one of the two",
        path.display()
    )]
    RetryTargetExists { id: ForsendelseId, path: PathBuf },
}

/// One mottakersystem's drop folder.
#[derive(Clone)]
pub struct DropFolder {
    root: PathBuf,
    ops: Arc<dyn dirfd::FsOps>,
    /// Shares the directory fsyncs after renames into `inn/` between the
    /// publishes running at once.
    publish_sync: Arc<SyncGroup>,
}

impl std::fmt::Debug for DropFolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DropFolder")
            .field("root", &self.root)
            .finish()
    }
}

/// The result of [`DropFolder::publish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// Renamed into `inn/<id>/` just now.
    New { path: PathBuf },
    /// `inn/<id>/` was already there, with our `forsendelse.json` (a crash
    /// after the rename): not written again; the new staging was discarded.
    AlreadyThere { path: PathBuf },
}

impl Published {
    pub fn path(&self) -> &Path {
        match self {
            Published::New { path } | Published::AlreadyThere { path } => path,
        }
    }
}

/// Where a delivered forsendelse is now, as the fagsystem left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Still in `inn/`, since `since` (the folder's last change: the rename).
    Waiting { since: SystemTime },
    /// In `feilet/`: the fagsystem could not import it. `reason` is what
    /// [`FeilTxt::reason`] makes of its `feil.txt`.
    Rejected {
        reason: Option<String>,
        since: SystemTime,
    },
    /// Gone from `inn/` and not in `feilet/`: imported.
    Imported,
}

impl DeliveryStatus {
    /// How long it has sat in `inn/` or `feilet/` at `now`.
    pub fn age(&self, now: SystemTime) -> Option<Duration> {
        match self {
            DeliveryStatus::Waiting { since } | DeliveryStatus::Rejected { since, .. } => {
                Some(now.duration_since(*since).unwrap_or_default())
            }
            DeliveryStatus::Imported => None,
        }
    }
}

/// What the agent could read of `feilet/<id>/feil.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeilTxt {
    /// No `feil.txt` (or an empty one).
    Absent,
    /// Its text, trimmed (invalid UTF-8 replaced; cut at [`MAX_FEIL_TXT`]).
    Text(String),
    /// It (or the folder) is not a regular file (a symbolic link, a FIFO,
    /// a folder, …): not read, nothing of it kept. The words say what it is.
    Refused(&'static str),
    /// It could not be read (permissions, I/O): the error, naming the path.
    Unreadable(String),
}

impl FeilTxt {
    /// The rejection's reason as the journal keeps it and a console shows it.
    pub fn reason(&self) -> Option<String> {
        match self {
            FeilTxt::Absent => None,
            FeilTxt::Text(text) => Some(text.clone()),
            FeilTxt::Refused(what) => Some(format!(
                "feil.txt refused: it is {what}, not a regular file; the agent did not read it"
            )),
            FeilTxt::Unreadable(err) => Some(format!("feil.txt could not be read: {err}")),
        }
    }
}

/// Where a forsendelse's files are after a restart (see [`DropFolder::locate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// Its staging folder exists: not published yet.
    Staged,
    /// Published: in `inn/`, in `feilet/`, or imported.
    Published(DeliveryStatus),
}

/// One scan of `inn/` and `feilet/`, keyed by folder name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    pub inn: HashMap<String, SystemTime>,
    pub feilet: HashMap<String, (Option<String>, SystemTime)>,
}

impl Scan {
    /// The status of the delivered folder `folder`.
    pub fn status(&self, folder: &str) -> DeliveryStatus {
        if let Some(since) = self.inn.get(folder) {
            DeliveryStatus::Waiting { since: *since }
        } else if let Some((reason, since)) = self.feilet.get(folder) {
            DeliveryStatus::Rejected {
                reason: reason.clone(),
                since: *since,
            }
        } else {
            DeliveryStatus::Imported
        }
    }
}

/// A staging folder being filled: `.mottak/<id>.partial/`.
#[derive(Debug)]
pub struct Staging {
    id: ForsendelseId,
    /// `.mottak/`.
    parent: Dir,
    /// `<id>.partial` in it.
    name: Name,
    dir: Dir,
}

impl Staging {
    pub fn id(&self) -> &ForsendelseId {
        &self.id
    }

    /// The staging folder's handle: everything written into it goes through this.
    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    /// Where it is (for messages).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The path of `name` in the staging folder (for messages).
    pub fn path_of(&self, name: &SafeName) -> PathBuf {
        self.dir.path_of(&Name::from(name))
    }

    /// Creates a new file (never overwriting: a second file of the same name
    /// is an error).
    pub fn create_file(&self, name: &SafeName) -> Result<File, DropError> {
        Ok(self.dir.create_file(&Name::from(name), FILE_MODE)?)
    }

    /// Writes `forsendelse.json` (SvarInn's JSON as received).
    pub fn write_forsendelse_json(&self, json: &[u8]) -> Result<(), DropError> {
        self.write_contract_file(&FORSENDELSE_JSON_NAME, json)
    }

    /// Writes `melding.json` (a Fiks IO message's metadata).
    pub fn write_melding_json(&self, json: &[u8]) -> Result<(), DropError> {
        self.write_contract_file(&MELDING_JSON_NAME, json)
    }

    fn write_contract_file(&self, name: &Name, json: &[u8]) -> Result<(), DropError> {
        let mut f = self.dir.create_file(name, FILE_MODE)?;
        io::Write::write_all(&mut f, json).map_err(|source| DirError::Io {
            op: "write",
            path: self.dir.path_of(name),
            source,
        })?;
        Ok(())
    }
}

/// Which channel a staging folder is for: each has its own suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// `<id>.partial`.
    SvarInn,
    /// `<melding-id>.fiksio-partial`.
    FiksIo,
}

impl Channel {
    fn suffix(self) -> &'static str {
        match self {
            Channel::SvarInn => PARTIAL_SUFFIX,
            Channel::FiksIo => FIKS_IO_PARTIAL_SUFFIX,
        }
    }

    fn staging_name(self, id: &ForsendelseId) -> Result<Name, DirError> {
        Name::new(format!("{}{}", id.as_str(), self.suffix()))
    }
}

impl DropFolder {
    /// The drop folder at `root`, on the real filesystem.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self::with_fs(root, Arc::new(dirfd::RealFs))
    }

    /// The drop folder at `root`, with `ops` doing renames and fsyncs.
    pub fn with_fs(root: impl Into<PathBuf>, ops: Arc<dyn dirfd::FsOps>) -> Self {
        DropFolder {
            root: root.into(),
            ops,
            publish_sync: Arc::default(),
        }
    }

    /// Where it is (for messages).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `inn/` is (for messages).
    pub fn inn(&self) -> PathBuf {
        self.root.join(INN_DIR)
    }

    /// Where `feilet/` is (for messages).
    pub fn feilet(&self) -> PathBuf {
        self.root.join(FEILET_DIR)
    }

    /// Where `.mottak/` is (for messages).
    pub fn staging_root(&self) -> PathBuf {
        self.root.join(STAGING_DIR)
    }

    /// The drop folder itself, opened (the one path opened: the config's).
    pub fn open_root(&self) -> Result<Dir, DropError> {
        match Dir::open_root(&self.root, self.ops.clone()) {
            Ok(dir) => Ok(dir),
            Err(DirError::Io { source, .. })
                if matches!(
                    source.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                Err(DropError::NoRoot {
                    path: self.root.clone(),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A folder of the layout (`inn/`, `feilet/`, `.mottak/`, `ut/`, …), opened.
    pub fn open(&self, folder: &Name) -> Result<Dir, DropError> {
        Ok(self.open_root()?.open_dir(folder)?)
    }

    /// `inn/<id>/`, opened (a link or anything but a folder is refused).
    pub fn open_published(&self, id: &ForsendelseId) -> Result<Dir, DropError> {
        Ok(self.open(&INN)?.open_dir(&Name::from(id))?)
    }

    /// Creates the folders of the layout that are missing and returns the
    /// ones it created. The drop folder itself must exist. New folders take
    /// the drop folder's mode, owner and group (so a setgid, group-shared
    /// drop folder stays shared, and folders made by root for the service
    /// user belong to that user), except `.mottak/`, which only its owner
    /// may enter. A name of the layout that is a link or not a folder is
    /// refused, not followed.
    pub fn ensure_layout(&self) -> Result<Vec<PathBuf>, DropError> {
        let root = self.open_root()?;
        let root_meta = root.meta()?;
        let shared_mode = root_meta.mode;
        let mut created = Vec::new();
        for folder in LAYOUT {
            let name = Name::new(folder)?;
            let dir = match root.create_dir(&name, 0o700) {
                Ok(dir) => dir,
                Err(e) if e.is_already_exists() => {
                    // There already: it must be a folder, not a link to one.
                    root.open_dir(&name)?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            // Owner and group first: chown clears the setgid bit.
            // Best effort: only root may give a folder away; anyone else
            // made it as themselves, which is what the agent needs.
            let _ = dir.set_owner(Some(root_meta.uid), Some(root_meta.gid));
            let mode = if folder == STAGING_DIR {
                0o700
            } else {
                shared_mode
            };
            dir.set_mode(mode)?;
            created.push(dir.path().to_owned());
        }
        if !created.is_empty() {
            root.sync()?;
        }
        Ok(created)
    }

    /// Checks `.mottak/` and `inn/` are on one filesystem (so publishing is
    /// one atomic rename).
    pub fn check_same_filesystem(&self) -> Result<(), DropError> {
        let root = self.open_root()?;
        let staging = root.open_dir(&STAGING)?;
        let inn = root.open_dir(&INN)?;
        if staging.meta()?.dev != inn.meta()?.dev {
            return Err(DropError::DifferentFilesystems {
                staging: staging.path().to_owned(),
                inn: inn.path().to_owned(),
            });
        }
        Ok(())
    }

    /// A fresh staging folder for `id`: whatever an earlier attempt left
    /// there is removed first. It gets `inn/`'s group and mode, because it
    /// becomes `inn/<id>/` as it is: the fagsystem must be able to read it,
    /// and to move or delete it (which needs write permission on the folder
    /// itself). With a setgid `inn/`, the files inside inherit its group too.
    pub fn stage(&self, id: &ForsendelseId) -> Result<Staging, DropError> {
        self.stage_for(Channel::SvarInn, id)
    }

    /// [`DropFolder::stage`] for `channel`'s staging name.
    pub fn stage_for(&self, channel: Channel, id: &ForsendelseId) -> Result<Staging, DropError> {
        let root = self.open_root()?;
        let parent = root.open_dir(&STAGING)?;
        let name = channel.staging_name(id)?;
        parent.remove_tree(&name)?;
        let dir = parent.create_dir(&name, 0o700)?;
        let inn_meta = root.open_dir(&INN)?.meta()?;
        // Best effort: the agent's user may give the folder only to a group
        // it belongs to; if it cannot, the mode below still applies.
        let _ = dir.set_owner(None, Some(inn_meta.gid));
        dir.set_mode(inn_meta.mode)?;
        Ok(Staging {
            id: id.clone(),
            parent,
            name,
            dir,
        })
    }

    /// The staging folder of `id`, if one survived (a restart with the
    /// journal at `downloaded`).
    pub fn existing_staging(&self, id: &ForsendelseId) -> Option<Staging> {
        self.existing_staging_for(Channel::SvarInn, id)
    }

    /// [`DropFolder::existing_staging`] for `channel`'s staging name.
    pub fn existing_staging_for(&self, channel: Channel, id: &ForsendelseId) -> Option<Staging> {
        let parent = self.open(&STAGING).ok()?;
        let name = channel.staging_name(id).ok()?;
        let dir = parent.open_dir(&name).ok()?;
        Some(Staging {
            id: id.clone(),
            parent,
            name,
            dir,
        })
    }

    /// Removes a staging folder that will not be published.
    pub fn discard(&self, staging: Staging) -> Result<(), DropError> {
        staging.parent.remove_tree(&staging.name)?;
        Ok(())
    }

    /// fsyncs every file of the staging folder and the folder itself: after
    /// this the staged files survive a power cut (call it before the journal
    /// says `downloaded`; then publish with [`DropFolder::publish_synced`]).
    pub fn sync_staging(&self, staging: &Staging) -> Result<(), DropError> {
        let dir = &staging.dir;
        for entry in dir.entries()? {
            match entry.meta.kind {
                Kind::File => dir.sync_file(&entry.name)?,
                Kind::Dir => dir.open_dir(&entry.name)?.sync()?,
                // Only the agent writes here; refused (with its kind) all the same.
                _ => {
                    dir.open_file(&entry.name)?;
                }
            }
        }
        Ok(dir.sync()?)
    }

    /// Publishes a staging folder as `inn/<id>/` (see the module doc). When
    /// this returns `Ok`, the folder is durably in `inn/`.
    pub fn publish(&self, staging: Staging) -> Result<Published, DropError> {
        let inn = self.open(&INN)?;
        if staging.parent.stat(&staging.name)?.is_some()
            && inn.stat(&Name::from(&staging.id))?.is_none()
        {
            self.sync_staging(&staging)?;
        }
        self.publish_synced(staging)
    }

    /// [`DropFolder::publish`] of a staging folder already made durable by
    /// [`DropFolder::sync_staging`] (the pipeline syncs it before the journal
    /// says `downloaded`, and a `downloaded` row's staging is never written
    /// again): rename, then the directory fsyncs, shared with the publishes
    /// running at the same time.
    pub fn publish_synced(&self, staging: Staging) -> Result<Published, DropError> {
        let inn = self.open(&INN)?;
        let target = Name::from(&staging.id);
        if inn.stat(&target)?.is_some() {
            return self.recognise(staging, &inn, &target);
        }
        if staging.parent.stat(&staging.name)?.is_none() {
            return Err(DropError::StagingGone {
                id: staging.id.clone(),
                path: staging.dir.path().to_owned(),
            });
        }
        // Never replacing: an `inn/<id>` that appeared since is recognised
        // (or reported), not overwritten.
        match staging
            .parent
            .rename(&staging.name, &inn, &target, Replace::Never)
        {
            Ok(()) => {}
            Err(e) if e.is_already_exists() => return self.recognise(staging, &inn, &target),
            Err(e) => return Err(e.into()),
        }
        self.publish_sync.sync_after(|| {
            inn.sync()?;
            // The staging root lost an entry; make that durable too, so a
            // restart does not find a ghost staging folder.
            Ok(staging.parent.sync()?)
        })?;
        Ok(Published::New {
            path: inn.path_of(&target),
        })
    }

    /// `inn/<id>/` exists: ours (its forsendelse.json names `id`) or not.
    fn recognise(
        &self,
        staging: Staging,
        inn: &Dir,
        target: &Name,
    ) -> Result<Published, DropError> {
        if !is_our_delivery(inn, target, &staging.id) {
            return Err(DropError::InnOccupied {
                id: staging.id.clone(),
                path: inn.path_of(target),
            });
        }
        // The rename happened, but its durability may not have been made
        // sure of before the crash: fsync inn/ now.
        inn.sync()?;
        if staging.parent.stat(&staging.name)?.is_some() {
            self.discard(staging)?;
        }
        Ok(Published::AlreadyThere {
            path: inn.path_of(target),
        })
    }

    /// Where `id`'s files are after a restart that found the journal at
    /// `downloaded`: still staged, or published and now in `inn/`, in
    /// `feilet/`, or gone (imported). `Ok(None)`: neither staged nor
    /// published: download again.
    ///
    /// A folder that is nowhere is ambiguous on its own: published and then
    /// imported, or never published. `publish_attempted` settles it: the
    /// pipeline records a `publish` attempt in the journal before calling
    /// [`DropFolder::publish`]. The staging folder disappears only by that
    /// rename (as long as [`DropFolder::clean_staging`] keeps the staging of
    /// `downloaded` forsendelser), so "attempted, not staged, nowhere" means
    /// the rename happened and the fagsystem has taken the folder.
    pub fn locate(
        &self,
        id: &ForsendelseId,
        publish_attempted: bool,
    ) -> Result<Option<Location>, DropError> {
        self.locate_for(Channel::SvarInn, id, publish_attempted)
    }

    /// [`DropFolder::locate`] for `channel`'s staging name.
    pub fn locate_for(
        &self,
        channel: Channel,
        id: &ForsendelseId,
        publish_attempted: bool,
    ) -> Result<Option<Location>, DropError> {
        let published = self.status(id.as_str())?;
        let staged = || -> Result<bool, DropError> {
            let meta = self.open(&STAGING)?.stat(&channel.staging_name(id)?)?;
            Ok(meta.is_some_and(|m| m.kind == Kind::Dir))
        };
        match published {
            DeliveryStatus::Waiting { .. } | DeliveryStatus::Rejected { .. } => {
                Ok(Some(Location::Published(published)))
            }
            DeliveryStatus::Imported if staged()? => Ok(Some(Location::Staged)),
            DeliveryStatus::Imported if publish_attempted => {
                Ok(Some(Location::Published(published)))
            }
            DeliveryStatus::Imported => Ok(None),
        }
    }

    /// The status of the delivered folder `folder` (`inn/` read before `feilet/`).
    pub fn status(&self, folder: &str) -> Result<DeliveryStatus, DropError> {
        let name = Name::new(folder)?;
        let root = self.open_root()?;
        if let Some(meta) = root.open_dir(&INN)?.stat(&name)? {
            return Ok(DeliveryStatus::Waiting {
                since: meta.changed,
            });
        }
        let feilet = root.open_dir(&FEILET)?;
        match feilet.stat(&name)? {
            Some(meta) => Ok(DeliveryStatus::Rejected {
                reason: read_feil_txt(&feilet, &name).reason(),
                since: meta.changed,
            }),
            None => Ok(DeliveryStatus::Imported),
        }
    }

    /// The names of the folders in `inn/` now: one directory listing, for
    /// spotting which delivered forsendelser the fagsystem has taken.
    pub fn inn_names(&self) -> Result<HashSet<String>, DropError> {
        Ok(list_dirs(&self.open(&INN)?)?
            .into_iter()
            .map(|(name, _)| name)
            .collect())
    }

    /// Lists `inn/` and then `feilet/` (with each `feil.txt`).
    pub fn scan(&self) -> Result<Scan, DropError> {
        let root = self.open_root()?;
        let mut scan = Scan::default();
        for (name, changed) in list_dirs(&root.open_dir(&INN)?)? {
            scan.inn.insert(name, changed);
        }
        let feilet = root.open_dir(&FEILET)?;
        for (name, changed) in list_dirs(&feilet)? {
            let reason = Name::new(&name)
                .ok()
                .and_then(|n| read_feil_txt(&feilet, &n).reason());
            scan.feilet.insert(name, (reason, changed));
        }
        Ok(scan)
    }

    /// Moves `feilet/<id>/` back to `inn/<id>/` so the fagsystem tries again.
    /// `feil.txt` is removed first (what could be read of it is returned,
    /// for the message): the fagsystem must not import it as a document. A
    /// `feil.txt` that is a link, a FIFO, a socket or a device is removed as
    /// an entry, never opened; one that is a folder is left, and the move
    /// refused with the reason. Nothing here waits on what the fagsystem left.
    pub fn retry_rejected(&self, id: &ForsendelseId) -> Result<FeilTxt, DropError> {
        let root = self.open_root()?;
        let feilet = root.open_dir(&FEILET)?;
        let inn = root.open_dir(&INN)?;
        let name = Name::from(id);
        let from = match feilet.open_dir(&name) {
            Ok(dir) => dir,
            Err(e) if e.is_not_found() => {
                return Err(DropError::NotRejected {
                    id: id.clone(),
                    path: feilet.path_of(&name),
                });
            }
            Err(e) => return Err(e.into()),
        };
        if inn.stat(&name)?.is_some() {
            return Err(DropError::RetryTargetExists {
                id: id.clone(),
                path: inn.path_of(&name),
            });
        }
        let feil = read_feil_txt(&feilet, &name);
        match from.stat(&FEIL_TXT_NAME)? {
            None => {}
            Some(meta) if meta.kind == Kind::Dir => {
                return Err(DirError::NotRegularFile {
                    path: from.path_of(&FEIL_TXT_NAME),
                    found: Kind::Dir,
                }
                .into());
            }
            Some(_) => match from.remove_file(&FEIL_TXT_NAME) {
                Err(e) if !e.is_not_found() => return Err(e.into()),
                _ => {}
            },
        }
        from.sync()?;
        feilet.rename(&name, &inn, &name, Replace::Never)?;
        inn.sync()?;
        feilet.sync()?;
        Ok(feil)
    }

    /// Removes staging folders left by an earlier run, except those `keep`
    /// says are still needed (forsendelser the journal has at `downloaded`,
    /// which [`DropFolder::locate`] relies on). Returns what it removed.
    /// Only `*.partial` folders are touched: `.mottak/` is shared with the
    /// outbound pipeline.
    pub fn clean_staging(
        &self,
        keep: &dyn Fn(&ForsendelseId) -> bool,
    ) -> Result<Vec<PathBuf>, DropError> {
        self.clean_staging_for(Channel::SvarInn, keep)
    }

    /// [`DropFolder::clean_staging`] of `channel`'s staging folders only.
    pub fn clean_staging_for(
        &self,
        channel: Channel,
        keep: &dyn Fn(&ForsendelseId) -> bool,
    ) -> Result<Vec<PathBuf>, DropError> {
        let staging = self.open(&STAGING)?;
        let mut removed = Vec::new();
        for (name, _) in list_dirs(&staging)? {
            let Some(stem) = name.strip_suffix(channel.suffix()) else {
                continue;
            };
            if let Ok(id) = ForsendelseId::parse(stem)
                && keep(&id)
            {
                continue;
            }
            let name = Name::new(&name)?;
            staging.remove_tree(&name)?;
            removed.push(staging.path_of(&name));
        }
        Ok(removed)
    }
}

/// Whether `inn/<folder>/forsendelse.json` is valid JSON naming `id` (its
/// `id`), or `melding.json` does (its `meldingId`: a Fiks IO message).
fn is_our_delivery(inn: &Dir, folder: &Name, id: &ForsendelseId) -> bool {
    let Ok(dir) = inn.open_dir(folder) else {
        return false;
    };
    [
        (&FORSENDELSE_JSON_NAME, "id"),
        (&MELDING_JSON_NAME, "meldingId"),
    ]
    .into_iter()
    .any(|(file, key)| {
        dir.read_file(file, MAX_READ)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .and_then(|v| v.get(key).and_then(|i| i.as_str().map(str::to_owned)))
            .is_some_and(|found| found == id.as_str())
    })
}

/// `feilet/<folder>/feil.txt`, as far as the agent may read it: never
/// through a link (the folder's or the file's), never a FIFO or a device,
/// at most [`MAX_FEIL_TXT`] bytes.
pub fn read_feil_txt(feilet: &Dir, folder: &Name) -> FeilTxt {
    let read = feilet
        .open_dir(folder)
        .and_then(|dir| dir.read_prefix(&FEIL_TXT_NAME, MAX_FEIL_TXT));
    match read {
        Ok((bytes, complete)) => {
            let mut text = String::from_utf8_lossy(&bytes).trim().to_owned();
            if text.is_empty() {
                return FeilTxt::Absent;
            }
            if !complete {
                text.push_str(" … (cut: feil.txt is longer)");
            }
            FeilTxt::Text(text)
        }
        Err(e) if e.is_not_found() => FeilTxt::Absent,
        Err(e) => match e.refused_kind() {
            Some(what) => FeilTxt::Refused(what),
            None => FeilTxt::Unreadable(e.to_string()),
        },
    }
}

/// The subfolders of `dir` (real folders: a link to one is not listed), by
/// name, with their last change; names that are not UTF-8 are left out
/// (the agent's folders have ASCII names).
fn list_dirs(dir: &Dir) -> Result<Vec<(String, SystemTime)>, DirError> {
    Ok(dir
        .entries()?
        .into_iter()
        .filter(|e| e.meta.kind == Kind::Dir)
        .filter_map(|e| Some((e.name.to_str()?.to_owned(), e.meta.changed)))
        .collect())
}

#[cfg(test)]
mod tests;
