//! One mottakersystem's outbound loop, and the steps of one update.
//!
//! Every `poll_interval` (1 s by default) the loop:
//! 1. looks at `.mottak/`: a claimed folder without a journal row (a crash
//!    between the rename and the journal) is journaled now; one whose row is
//!    `sent`/`superseded` (a crash between the journal and the move) is moved
//!    to `ut-sendt/` with its `kvittering.json`, never sent again; one whose
//!    row is `failed`/`discarded` is moved (again) to `ut-feilet/`;
//! 2. claims every `ut/<name>/` with `KLAR` (oldest first) and checks it at
//!    once: bad input goes to `ut-feilet/` before it can supersede anything;
//! 3. for each case not in flight, supersedes all but its newest pending
//!    update and starts a task for that one (at most [`MAX_CASES_IN_FLIGHT`]).
//!
//! A task ([`OutboundWorker::process`]) uploads the files the case does not
//! have yet (journal: sha256 → `dokumentlagerDokumentId`; a file left
//! `uploading` by a crash is first looked for in `GET .../filer`), replaces
//! the placeholders, validates, checks once more that nothing newer came,
//! posts, journals `sent` and moves the claimed folder to
//! `ut-sendt/<digisos-id>-<time>/` with `kvittering.json` (see
//! [`super::kvittering`]). A superseded update goes there too, its
//! kvittering saying `"status": "erstattet"`.
//!
//! The worker has its own journal connection and its own tasks: nothing it
//! does waits on the inbound pipeline or makes it wait.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::claim::OutFolders;
use super::error::TurnError;
use crate::backoff::Backoff;
use crate::config::DigisosSettings;
use crate::fiks_client::{FiksCallError, FiksClient};
use crate::journal::{JournalError, SharedJournal};
use crate::pipeline::Health;

mod claims;
mod send;

/// Cases being uploaded or posted at once, per mottakersystem.
pub const MAX_CASES_IN_FLIGHT: usize = 4;

/// Retries of one update: quick at first, then at most every 5 minutes.
pub const RETRY: Backoff = Backoff {
    base: Duration::from_secs(2),
    max: Duration::from_secs(5 * 60),
};

/// How long in-flight tasks may finish after SIGTERM before they are
/// stopped (safe either way: the journal knows where each one was).
const DRAIN: Duration = Duration::from_secs(5);

/// What the supervisor, the watchdog and the console see of the outbound worker.
#[derive(Debug, Default)]
pub struct OutboundHealth {
    /// What every pipeline reports (heartbeat, why setup fails, wake: a
    /// person acted from the console, look again now).
    pub pipeline: Arc<Health>,
    /// The Fiks client, once set up (its status and Maskinporten's).
    pub fiks: Mutex<Option<Arc<FiksClient>>>,
    /// Updates sent since start.
    pub sent: AtomicU64,
    /// Done updates whose folder could not be moved out of `.mottak/`, by
    /// update id (tried again every turn; shown in the console and alerted).
    pub unmoved: Mutex<BTreeMap<String, Unmoved>>,
    /// Entries in `ut/` that are not folders (links, FIFOs, ...), by name,
    /// while they are there: never followed, logged once, shown in the
    /// console and alerted.
    pub ignored: Mutex<BTreeMap<String, IgnoredEntry>>,
}

/// An entry in `ut/` the agent leaves alone (see [`OutboundHealth::ignored`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredEntry {
    /// Why, in a sentence.
    pub reason: String,
    /// Unix ms when it was first seen.
    pub since_ms: i64,
}

/// A failed move of a done update's folder (see [`OutboundHealth::unmoved`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmoved {
    /// `ut-sendt` or `ut-feilet`.
    pub to: &'static str,
    pub error: String,
    /// Unix ms of the first failure.
    pub since_ms: i64,
}

impl OutboundHealth {
    pub fn new(pipeline: Arc<Health>) -> Self {
        OutboundHealth {
            pipeline,
            ..OutboundHealth::default()
        }
    }

    pub fn beat(&self) {
        self.pipeline.beat();
    }

    fn now_ms(&self) -> i64 {
        self.pipeline.now_ms()
    }
}

/// Why a step did not finish.
#[derive(Debug)]
enum StepError {
    /// Fiks or Maskinporten (classified by [`FiksCallError::is_permanent`]).
    Fiks {
        action: &'static str,
        error: FiksCallError,
    },
    /// The update itself is wrong: these problems go to `feil.txt`.
    Invalid {
        action: &'static str,
        problems: Vec<String>,
    },
    /// Our side (disk, journal): retried.
    Local { action: &'static str, error: String },
}

impl From<JournalError> for StepError {
    fn from(e: JournalError) -> Self {
        StepError::Local {
            action: "journal",
            error: e.to_string(),
        }
    }
}

/// How a task ended.
enum Done {
    Sent { files: u64, bytes: u64 },
    Superseded { by: String },
}

/// One mottakersystem's outbound worker.
pub struct OutboundWorker {
    name: String,
    folders: OutFolders,
    settings: DigisosSettings,
    fiks: Arc<FiksClient>,
    journal: SharedJournal,
    health: Arc<OutboundHealth>,
    claims: AtomicU64,
    /// Cases with a task running.
    in_flight: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for OutboundWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundWorker")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl OutboundWorker {
    pub fn new(
        name: &str,
        drop_folder: &std::path::Path,
        settings: DigisosSettings,
        fiks: Arc<FiksClient>,
        journal: SharedJournal,
        health: Arc<OutboundHealth>,
    ) -> Self {
        OutboundWorker {
            name: name.to_owned(),
            folders: OutFolders::new(drop_folder),
            settings,
            fiks,
            journal,
            health,
            claims: AtomicU64::new(0),
            in_flight: Mutex::new(HashSet::new()),
        }
    }

    /// The loop, until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tasks = JoinSet::new();
        loop {
            self.health.beat();
            if let Err(e) = self.turn(&mut tasks).await {
                warn!(mottakersystem = %self.name, "outbound: {e}");
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(self.settings.poll_interval) => {}
                () = self.health.pipeline.wake.notified() => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
            while tasks.try_join_next().is_some() {}
        }
        if !tasks.is_empty() {
            info!(mottakersystem = %self.name, in_flight = tasks.len(), "outbound: letting updates in flight finish");
            let drained =
                tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} })
                    .await;
            if drained.is_err() {
                // Safe: the journal says which files were uploaded; the rest is redone.
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
            }
        }
    }

    async fn turn(self: &Arc<Self>, tasks: &mut JoinSet<()>) -> Result<(), TurnError> {
        self.tidy_claims().await?;
        self.claim_ready().await?;
        self.start_due(tasks).await
    }
}
