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
//! The operations tests must break (rename, fsync) go through [`FsOps`].

use std::collections::HashMap;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

use crate::names::{ForsendelseId, SafeName};

pub mod dirfd;

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

/// How much of `forsendelse.json` or `feil.txt` is read.
const MAX_READ: u64 = 1 << 20;

/// The filesystem operations a publish depends on, so tests can make them fail.
pub trait FsOps: Send + Sync {
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// fsync of a file's data and metadata.
    fn sync_file(&self, path: &Path) -> io::Result<()>;
    /// fsync of a directory (makes the entries in it, and renames into it, durable).
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
}

/// The real filesystem.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

impl FsOps for RealFs {
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
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
    #[error("could not {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
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

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> DropError + 'a {
    move |source| DropError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// One mottakersystem's drop folder.
#[derive(Clone)]
pub struct DropFolder {
    root: PathBuf,
    fs: Arc<dyn FsOps>,
    /// Shares the directory fsyncs after renames into `inn/` between the
    /// publishes running at once.
    publish_sync: Arc<SyncGroup>,
}

/// Group fsync of `inn/` (and `.mottak/`) after renames: a caller whose
/// rename is done waits for a sync that *started* after it; if none is
/// running, it runs one itself, covering every rename done by then. One
/// fsync then makes several publishes durable, and no caller returns before
/// a sync that covers its own rename has succeeded.
#[derive(Debug, Default)]
struct SyncGroup {
    state: Mutex<SyncState>,
    done: Condvar,
}

#[derive(Debug, Default)]
struct SyncState {
    /// Renames finished (tickets handed out).
    issued: u64,
    /// Every ticket up to this one is covered by a successful sync.
    synced: u64,
    running: bool,
}

impl SyncGroup {
    fn lock(&self) -> std::sync::MutexGuard<'_, SyncState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Call after the rename; returns once a sync started after it succeeded
    /// (or with the error of the sync this caller ran).
    fn sync_after(&self, sync: impl Fn() -> Result<(), DropError>) -> Result<(), DropError> {
        let mut state = self.lock();
        state.issued += 1;
        let ticket = state.issued;
        loop {
            if state.synced >= ticket {
                return Ok(());
            }
            if state.running {
                state = self.done.wait(state).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            state.running = true;
            let covers = state.issued;
            drop(state);
            let result = sync();
            state = self.lock();
            state.running = false;
            if result.is_ok() {
                state.synced = state.synced.max(covers);
            }
            self.done.notify_all();
            result?;
        }
    }
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
    /// In `feilet/`: the fagsystem could not import it.
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
    dir: PathBuf,
}

impl Staging {
    pub fn id(&self) -> &ForsendelseId {
        &self.id
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of `name` in the staging folder.
    pub fn path_of(&self, name: &SafeName) -> PathBuf {
        self.dir.join(name.as_str())
    }

    /// Creates a new file (never overwriting: a second file of the same name
    /// is an error).
    pub fn create_file(&self, name: &SafeName) -> Result<File, DropError> {
        let path = self.path_of(name);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err("create", &path))
    }

    /// Writes `forsendelse.json` (SvarInn's JSON as received).
    pub fn write_forsendelse_json(&self, json: &[u8]) -> Result<(), DropError> {
        let path = self.dir.join(FORSENDELSE_JSON);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err("create", &path))?;
        io::Write::write_all(&mut f, json).map_err(io_err("write", &path))
    }
}

impl DropFolder {
    /// The drop folder at `root`, on the real filesystem.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self::with_fs(root, Arc::new(RealFs))
    }

    /// The drop folder at `root`, with `fs` doing renames and fsyncs.
    pub fn with_fs(root: impl Into<PathBuf>, fs: Arc<dyn FsOps>) -> Self {
        DropFolder {
            root: root.into(),
            fs,
            publish_sync: Arc::default(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn inn(&self) -> PathBuf {
        self.root.join(INN_DIR)
    }

    pub fn feilet(&self) -> PathBuf {
        self.root.join(FEILET_DIR)
    }

    pub fn staging_root(&self) -> PathBuf {
        self.root.join(STAGING_DIR)
    }

    fn staging_dir(&self, id: &ForsendelseId) -> PathBuf {
        self.staging_root()
            .join(format!("{}{PARTIAL_SUFFIX}", id.as_str()))
    }

    /// Creates the folders of the layout that are missing and returns the
    /// ones it created. The drop folder itself must exist. New folders take
    /// the drop folder's mode, owner and group (so a setgid, group-shared
    /// drop folder stays shared, and folders made by root for the service
    /// user belong to that user), except `.mottak/`, which only its owner
    /// may enter.
    pub fn ensure_layout(&self) -> Result<Vec<PathBuf>, DropError> {
        let root_meta = match fs::metadata(&self.root) {
            Ok(m) if m.is_dir() => m,
            _ => {
                return Err(DropError::NoRoot {
                    path: self.root.clone(),
                });
            }
        };
        let shared_mode = root_meta.mode() & 0o7777;
        let mut created = Vec::new();
        for name in LAYOUT {
            let path = self.root.join(name);
            match DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => continue,
                Err(e) => return Err(io_err("create the folder", &path)(e)),
            }
            // Owner and group first: chown clears the setgid bit.
            // Best effort: only root may give a folder away; anyone else
            // made it as themselves, which is what the agent needs.
            let _ = std::os::unix::fs::chown(&path, Some(root_meta.uid()), Some(root_meta.gid()));
            let mode = if name == STAGING_DIR {
                0o700
            } else {
                shared_mode
            };
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                .map_err(io_err("set the mode of", &path))?;
            created.push(path);
        }
        if !created.is_empty() {
            self.fs
                .sync_dir(&self.root)
                .map_err(io_err("fsync", &self.root))?;
        }
        Ok(created)
    }

    /// Checks `.mottak/` and `inn/` are on one filesystem (so publishing is
    /// one atomic rename).
    pub fn check_same_filesystem(&self) -> Result<(), DropError> {
        let staging = self.staging_root();
        let inn = self.inn();
        let s = fs::metadata(&staging).map_err(io_err("inspect", &staging))?;
        let i = fs::metadata(&inn).map_err(io_err("inspect", &inn))?;
        if s.dev() != i.dev() {
            return Err(DropError::DifferentFilesystems { staging, inn });
        }
        Ok(())
    }

    /// A fresh staging folder for `id`: whatever an earlier attempt left
    /// there is removed first. It gets `inn/`'s group and mode, because it
    /// becomes `inn/<id>/` as it is: the fagsystem must be able to read it,
    /// and to move or delete it (which needs write permission on the folder
    /// itself). With a setgid `inn/`, the files inside inherit its group too.
    pub fn stage(&self, id: &ForsendelseId) -> Result<Staging, DropError> {
        let dir = self.staging_dir(id);
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove the old staging folder", &dir)(e)),
        }
        DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(io_err("create the staging folder", &dir))?;
        let inn = self.inn();
        let inn_meta = fs::metadata(&inn).map_err(io_err("inspect", &inn))?;
        // Best effort: the agent's user may give the folder only to a group
        // it belongs to; if it cannot, the mode below still applies.
        let _ = std::os::unix::fs::chown(&dir, None, Some(inn_meta.gid()));
        fs::set_permissions(&dir, fs::Permissions::from_mode(inn_meta.mode() & 0o7777))
            .map_err(io_err("set the mode of", &dir))?;
        Ok(Staging {
            id: id.clone(),
            dir,
        })
    }

    /// The staging folder of `id`, if one survived (a restart with the
    /// journal at `downloaded`).
    pub fn existing_staging(&self, id: &ForsendelseId) -> Option<Staging> {
        let dir = self.staging_dir(id);
        dir.is_dir().then(|| Staging {
            id: id.clone(),
            dir,
        })
    }

    /// Removes a staging folder that will not be published.
    pub fn discard(&self, staging: Staging) -> Result<(), DropError> {
        fs::remove_dir_all(&staging.dir).map_err(io_err("remove", &staging.dir))
    }

    /// fsyncs every file of the staging folder and the folder itself: after
    /// this the staged files survive a power cut (call it before the journal
    /// says `downloaded`; then publish with [`DropFolder::publish_synced`]).
    pub fn sync_staging(&self, staging: &Staging) -> Result<(), DropError> {
        let dir = &staging.dir;
        for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
            let entry = entry.map_err(io_err("list", dir))?;
            let path = entry.path();
            self.fs.sync_file(&path).map_err(io_err("fsync", &path))?;
        }
        self.fs.sync_dir(dir).map_err(io_err("fsync", dir))
    }

    /// Publishes a staging folder as `inn/<id>/` (see the module doc). When
    /// this returns `Ok`, the folder is durably in `inn/`.
    pub fn publish(&self, staging: Staging) -> Result<Published, DropError> {
        if staging.dir.is_dir() && !self.inn().join(staging.id.as_str()).exists() {
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
        let inn = self.inn();
        let target = inn.join(staging.id.as_str());
        if target.exists() {
            return self.recognise(staging, target);
        }
        if !staging.dir.is_dir() {
            return Err(DropError::StagingGone {
                id: staging.id.clone(),
                path: staging.dir.clone(),
            });
        }
        self.fs
            .rename(&staging.dir, &target)
            .map_err(io_err("rename into inn/", &staging.dir))?;
        let root = self.staging_root();
        self.publish_sync.sync_after(|| {
            self.fs.sync_dir(&inn).map_err(io_err("fsync", &inn))?;
            // The staging root lost an entry; make that durable too, so a
            // restart does not find a ghost staging folder.
            self.fs.sync_dir(&root).map_err(io_err("fsync", &root))
        })?;
        Ok(Published::New { path: target })
    }

    /// `inn/<id>/` exists: ours (its forsendelse.json names `id`) or not.
    fn recognise(&self, staging: Staging, target: PathBuf) -> Result<Published, DropError> {
        if !is_our_delivery(&target, &staging.id) {
            return Err(DropError::InnOccupied {
                id: staging.id.clone(),
                path: target,
            });
        }
        // The rename happened, but its durability may not have been made
        // sure of before the crash: fsync inn/ now.
        let inn = self.inn();
        self.fs.sync_dir(&inn).map_err(io_err("fsync", &inn))?;
        if staging.dir.exists() {
            self.discard(staging)?;
        }
        Ok(Published::AlreadyThere { path: target })
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
        let published = self.status(id.as_str())?;
        match published {
            DeliveryStatus::Waiting { .. } | DeliveryStatus::Rejected { .. } => {
                Ok(Some(Location::Published(published)))
            }
            DeliveryStatus::Imported if self.staging_dir(id).is_dir() => Ok(Some(Location::Staged)),
            DeliveryStatus::Imported if publish_attempted => {
                Ok(Some(Location::Published(published)))
            }
            DeliveryStatus::Imported => Ok(None),
        }
    }

    /// The status of the delivered folder `folder` (`inn/` read before `feilet/`).
    pub fn status(&self, folder: &str) -> Result<DeliveryStatus, DropError> {
        let in_inn = self.inn().join(folder);
        match fs::metadata(&in_inn) {
            Ok(m) => {
                return Ok(DeliveryStatus::Waiting {
                    since: changed_at(&m),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("inspect", &in_inn)(e)),
        }
        let in_feilet = self.feilet().join(folder);
        match fs::metadata(&in_feilet) {
            Ok(m) => Ok(DeliveryStatus::Rejected {
                reason: read_feil_txt(&in_feilet),
                since: changed_at(&m),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(DeliveryStatus::Imported),
            Err(e) => Err(io_err("inspect", &in_feilet)(e)),
        }
    }

    /// The names of the folders in `inn/` now: one directory listing, for
    /// spotting which delivered forsendelser the fagsystem has taken.
    pub fn inn_names(&self) -> Result<std::collections::HashSet<String>, DropError> {
        Ok(list_dirs(&self.inn())?
            .into_iter()
            .map(|(name, _)| name)
            .collect())
    }

    /// Lists `inn/` and then `feilet/` (with each `feil.txt`).
    pub fn scan(&self) -> Result<Scan, DropError> {
        let mut scan = Scan::default();
        for (name, meta) in list_dirs(&self.inn())? {
            scan.inn.insert(name, changed_at(&meta));
        }
        let feilet = self.feilet();
        for (name, meta) in list_dirs(&feilet)? {
            let reason = read_feil_txt(&feilet.join(&name));
            scan.feilet.insert(name, (reason, changed_at(&meta)));
        }
        Ok(scan)
    }

    /// Moves `feilet/<id>/` back to `inn/<id>/` so the fagsystem tries again.
    /// `feil.txt` is removed first (its reason is returned, for the journal):
    /// the fagsystem must not import it as a document.
    pub fn retry_rejected(&self, id: &ForsendelseId) -> Result<Option<String>, DropError> {
        let from = self.feilet().join(id.as_str());
        let to = self.inn().join(id.as_str());
        if !from.is_dir() {
            return Err(DropError::NotRejected {
                id: id.clone(),
                path: from,
            });
        }
        if to.exists() {
            return Err(DropError::RetryTargetExists {
                id: id.clone(),
                path: to,
            });
        }
        let reason = read_feil_txt(&from);
        let feil = from.join(FEIL_TXT);
        match fs::remove_file(&feil) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove", &feil)(e)),
        }
        self.fs.sync_dir(&from).map_err(io_err("fsync", &from))?;
        self.fs
            .rename(&from, &to)
            .map_err(io_err("move back into inn/", &from))?;
        let inn = self.inn();
        self.fs.sync_dir(&inn).map_err(io_err("fsync", &inn))?;
        let feilet = self.feilet();
        self.fs
            .sync_dir(&feilet)
            .map_err(io_err("fsync", &feilet))?;
        Ok(reason)
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
        let root = self.staging_root();
        let mut removed = Vec::new();
        for (name, _) in list_dirs(&root)? {
            let Some(stem) = name.strip_suffix(PARTIAL_SUFFIX) else {
                continue;
            };
            if let Ok(id) = ForsendelseId::parse(stem)
                && keep(&id)
            {
                continue;
            }
            let path = root.join(&name);
            fs::remove_dir_all(&path).map_err(io_err("remove", &path))?;
            removed.push(path);
        }
        Ok(removed)
    }
}

/// Whether `dir/forsendelse.json` is valid JSON naming `id`.
fn is_our_delivery(dir: &Path, id: &ForsendelseId) -> bool {
    let Ok(file) = File::open(dir.join(FORSENDELSE_JSON)) else {
        return false;
    };
    let mut bytes = Vec::new();
    if file.take(MAX_READ).read_to_end(&mut bytes).is_err() {
        return false;
    }
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("id").and_then(|i| i.as_str().map(str::to_owned)))
        .is_some_and(|found| found == id.as_str())
}

/// `feil.txt` in `dir`, trimmed, if present and not empty.
fn read_feil_txt(dir: &Path) -> Option<String> {
    let file = File::open(dir.join(FEIL_TXT)).ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_READ).read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// The subfolders of `dir` (not following symlinks), by name.
fn list_dirs(dir: &Path) -> Result<Vec<(String, fs::Metadata)>, DropError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
        let entry = entry.map_err(io_err("list", dir))?;
        let Ok(meta) = entry.metadata() else {
            continue; // vanished while listing: moved by the fagsystem
        };
        if !meta.is_dir() {
            continue;
        }
        if let Some(name) = entry.file_name().to_str() {
            out.push((name.to_owned(), meta));
        }
    }
    Ok(out)
}

/// When the folder last changed place or content (ctime: a rename updates it).
fn changed_at(meta: &fs::Metadata) -> SystemTime {
    let secs = u64::try_from(meta.ctime()).unwrap_or(0);
    let nanos = u32::try_from(meta.ctime_nsec()).unwrap_or(0);
    SystemTime::UNIX_EPOCH + Duration::new(secs, nanos)
}

#[cfg(test)]
mod tests;
