//! Drop-folder events: one inotify watcher (through `notify`) for the whole agent that wakes
//! the loop owning a watched folder (`inn/`, `feilet/`, `ut/` and the folders in `ut/`).
//! Events are hints, never data: the loop reads the folders itself, and rescans without them.
//!
//! Only changes of a folder's entries count (created, removed, renamed, and the kernel's "queue
//! overflowed, look again"): opening or reading a folder, which the loops do themselves, and
//! writes into files are not events here, so a loop never wakes itself. A watched path is
//! whatever it names when the watch is added (inotify resolves it; a link swapped in since the
//! loop looked gives, at worst, wake-ups that find nothing: the loop never trusts an event).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use notify::event::{EventKind, ModifyKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::Notify;

/// Linux `statfs` magic numbers of filesystems that may change without telling the local
/// kernel, so inotify sees nothing of what other machines do there (statfs(2)).
const NETWORK_FILESYSTEMS: [(i64, &str); 6] = [
    (0x6969, "NFS"),
    (0x517B, "SMB"),
    (0xFF53_4D42, "CIFS"),
    (0xFE53_4D42, "SMB2"),
    (0x6573_5546, "FUSE"),
    (0x0102_1997, "9P"),
];

/// Why a folder is not watched: its loop rescans it instead.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WatchError {
    #[error(
        "cannot start the drop-folder watcher (inotify): {0}; check fs.inotify.max_user_instances"
    )]
    Unavailable(String),
    #[error(
        "cannot watch {}: {reason}; if it says the limit is reached, raise fs.inotify.max_user_watches (sysctl)",
        path.display()
    )]
    Folder { path: PathBuf, reason: String },
}

/// The agent's watcher, shared by every pipeline (cheap to clone). One inotify instance and
/// one thread, however many mottakersystemer.
#[derive(Clone)]
pub struct DropWatch {
    inner: Result<Arc<Inner>, WatchError>,
}

struct Inner {
    /// Never locked by the event thread: `watch` waits for that thread's answer.
    watcher: Mutex<RecommendedWatcher>,
    /// Watched folder → the loop to wake; read by the event thread.
    targets: Arc<Mutex<HashMap<PathBuf, Arc<Notify>>>>,
}

impl std::fmt::Debug for DropWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DropWatch")
            .field("available", &self.inner.is_ok())
            .finish_non_exhaustive()
    }
}

impl DropWatch {
    /// Starts the watcher; when inotify cannot be had, every [`DropWatch::watch`] says why.
    pub fn start() -> DropWatch {
        let targets: Arc<Mutex<HashMap<PathBuf, Arc<Notify>>>> = Arc::default();
        let seen = Arc::clone(&targets);
        let handler = move |event: notify::Result<notify::Event>| wake_for(&seen, event);
        let inner = notify::recommended_watcher(handler)
            .map(|watcher| {
                Arc::new(Inner {
                    watcher: Mutex::new(watcher),
                    targets,
                })
            })
            .map_err(|e| WatchError::Unavailable(e.to_string()));
        DropWatch { inner }
    }

    /// A watcher that watches nothing (a loop run without one rescans only).
    pub fn disabled(reason: &str) -> DropWatch {
        DropWatch {
            inner: Err(WatchError::Unavailable(reason.to_owned())),
        }
    }

    /// Wakes `wake` whenever an entry of `dir` is created, removed or renamed.
    pub fn watch(&self, dir: &Path, wake: &Arc<Notify>) -> Result<(), WatchError> {
        let inner = self.inner.as_ref().map_err(Clone::clone)?;
        lock(&inner.targets).insert(dir.to_owned(), Arc::clone(wake));
        let added = lock(&inner.watcher).watch(dir, RecursiveMode::NonRecursive);
        added.map_err(|e| {
            lock(&inner.targets).remove(dir);
            WatchError::Folder {
                path: dir.to_owned(),
                reason: e.to_string(),
            }
        })
    }

    /// Stops watching `dir` (gone, claimed, or its loop ended).
    pub fn unwatch(&self, dir: &Path) {
        let Ok(inner) = &self.inner else { return };
        if lock(&inner.targets).remove(dir).is_some() {
            // Already gone from the kernel's side when the folder was removed: nothing to undo.
            let _ = lock(&inner.watcher).unwatch(dir);
        }
    }
}

/// Wakes the loops an event concerns: the owner of the folder an entry changed in, or, when
/// the kernel dropped events or the watcher failed, every loop (they look again).
fn wake_for(targets: &Mutex<HashMap<PathBuf, Arc<Notify>>>, event: notify::Result<notify::Event>) {
    let targets = lock(targets);
    let event = match event {
        Ok(event) if !event.need_rescan() => event,
        _ => {
            targets.values().for_each(|w| w.notify_one());
            return;
        }
    };
    let entries_changed = matches!(
        event.kind,
        EventKind::Create(_) | EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
    );
    if !entries_changed {
        return;
    }
    for path in &event.paths {
        // The folder an entry changed in, or a watched folder itself moved or removed.
        let owner = path.parent().and_then(|p| targets.get(p));
        if let Some(wake) = owner.or_else(|| targets.get(path)) {
            wake.notify_one();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The kind of network or userspace filesystem `dir` is on, when it is one: inotify does not
/// see changes made there by other machines, so its loop rescans more often.
pub fn network_filesystem(dir: &Path) -> Option<&'static str> {
    let stat = rustix::fs::statfs(dir).ok()?;
    #[allow(clippy::cast_possible_truncation, clippy::unnecessary_cast)]
    let magic = stat.f_type as i64;
    NETWORK_FILESYSTEMS
        .iter()
        .find(|(m, _)| *m == magic)
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use super::*;

    async fn woken(wake: &Notify) -> bool {
        tokio::time::timeout(Duration::from_secs(10), wake.notified())
            .await
            .is_ok()
    }

    async fn quiet(wake: &Notify) -> bool {
        tokio::time::timeout(Duration::from_millis(300), wake.notified())
            .await
            .is_err()
    }

    #[tokio::test]
    async fn a_folder_renamed_out_or_a_file_created_wakes_its_owner_only() {
        let tmp = tempfile::tempdir().unwrap();
        let (inn, other) = (tmp.path().join("inn"), tmp.path().join("other"));
        std::fs::create_dir_all(inn.join("f1")).unwrap();
        std::fs::create_dir(&other).unwrap();
        let watch = DropWatch::start();
        let (a, b) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        watch.watch(&inn, &a).unwrap();
        watch.watch(&other, &b).unwrap();

        std::fs::rename(inn.join("f1"), tmp.path().join("f1")).unwrap();
        assert!(woken(&a).await, "a rename out of inn/ wakes its loop");
        assert!(quiet(&b).await, "and not another's");
        std::fs::write(other.join("KLAR"), b"").unwrap();
        assert!(woken(&b).await, "a file created wakes its loop");
    }

    #[tokio::test]
    async fn reading_a_folder_or_writing_into_a_file_wakes_nobody() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ut");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("x"), b"1").unwrap();
        let watch = DropWatch::start();
        let wake = Arc::new(Notify::new());
        watch.watch(&dir, &wake).unwrap();
        let _ = std::fs::read_dir(&dir).unwrap().count();
        std::fs::write(dir.join("x"), b"22").unwrap();
        assert!(
            quiet(&wake).await,
            "the loop's own reading must not wake it"
        );

        watch.unwatch(&dir);
        std::fs::write(dir.join("y"), b"").unwrap();
        assert!(quiet(&wake).await, "unwatched");
    }

    #[test]
    fn a_missing_folder_or_no_watcher_is_an_error_that_says_what_to_do() {
        let tmp = tempfile::tempdir().unwrap();
        let wake = Arc::new(Notify::new());
        let err = DropWatch::start()
            .watch(&tmp.path().join("gone"), &wake)
            .unwrap_err();
        assert!(err.to_string().contains("gone"), "{err}");
        let err = DropWatch::disabled("test")
            .watch(tmp.path(), &wake)
            .unwrap_err();
        assert!(err.to_string().contains("max_user_instances"), "{err}");
    }

    #[test]
    fn a_local_folder_is_not_a_network_filesystem() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(network_filesystem(tmp.path()), None);
    }
}
