//! [`SharedJournal`]: the one writing [`Journal`] of a running agent, shared by
//! its async tasks.
//!
//! SQLite calls block (a `synchronous=FULL` commit waits for an fsync), so
//! each call runs on tokio's blocking pool and never stalls the event loop.

use std::sync::{Arc, Mutex};

use super::{Journal, JournalError};

/// A cloneable handle to the agent's journal.
#[derive(Debug, Clone)]
pub struct SharedJournal(Arc<Mutex<Journal>>);

impl SharedJournal {
    pub fn new(journal: Journal) -> Self {
        SharedJournal(Arc::new(Mutex::new(journal)))
    }

    /// Runs `f` with the journal on the blocking pool.
    pub async fn call<T, F>(&self, f: F) -> Result<T, JournalError>
    where
        F: FnOnce(&mut Journal) -> Result<T, JournalError> + Send + 'static,
        T: Send + 'static,
    {
        let inner = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave a half-written
            // transaction (SQLite rolls it back), so a poisoned lock is safe to reuse.
            let mut journal = inner
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut journal)
        })
        .await
        .map_err(|err| JournalError::Interrupted(err.to_string()))?
    }
}
