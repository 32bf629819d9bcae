//! The group fsync of `inn/` after renames, shared by the publishes running
//! at once ([`super::DropFolder::publish_synced`]).

use std::sync::{Condvar, Mutex};

use super::DropError;

/// Group fsync of `inn/` (and `.mottak/`) after renames: a caller whose
/// rename is done waits for a sync that *started* after it; if none is
/// running, it runs one itself, covering every rename done by then. One
/// fsync then makes several publishes durable, and no caller returns before
/// a sync that covers its own rename has succeeded.
#[derive(Debug, Default)]
pub(super) struct SyncGroup {
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
    pub(super) fn sync_after(
        &self,
        sync: impl Fn() -> Result<(), DropError>,
    ) -> Result<(), DropError> {
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
