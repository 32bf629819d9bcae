//! One mottakersystem's outbound loop, and the steps of one update.
//!
//! At each turn (a drop-folder event in `ut/` or in a folder there, a task
//! ending, a console's command, a retry coming due, or a rescan every
//! `poll_interval`, the mottakersystem's `rescan_interval` by default) the loop:
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
//! does waits on the inbound pipeline or makes it wait. With nothing due it
//! sleeps: no turn until one of the above.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::claim::OutFolders;
use super::error::TurnError;
use crate::backoff::Backoff;
use crate::config::DigisosSettings;
use crate::dropfolder::watch::{DropWatch, network_filesystem};
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

/// The shortest time between two turns that events asked for (a burst of
/// writes into `ut/` makes one turn, not one each).
const MIN_TURN_GAP: Duration = Duration::from_millis(10);
/// The longest time between rescans when events cannot be relied on (no
/// watcher, or a network filesystem), and between attempts to move a done
/// update's folder out of `.mottak/` that failed.
const UNWATCHED_RESCAN: Duration = Duration::from_secs(2);
/// Folders in `ut/` watched for their `KLAR` at most; past it, the others
/// are found by the rescan (a fagsystem cannot spend the agent's inotify watches).
const MAX_WATCHED_IN_UT: usize = 256;

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
    /// Wakes the loop on changes in `ut/` and in the folders being written there.
    watch: DropWatch,
    /// Told by the watcher.
    changed: Arc<Notify>,
    /// The folders in `ut/` watched for their `KLAR`.
    watched_in_ut: Mutex<HashSet<PathBuf>>,
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
            watch: DropWatch::disabled("no watcher was given to this worker"),
            changed: Arc::new(Notify::new()),
            watched_in_ut: Mutex::new(HashSet::new()),
        }
    }

    /// Wakes the loop on changes in `ut/` (the daemon's workers).
    #[must_use]
    pub fn with_watch(mut self, watch: DropWatch) -> Self {
        self.watch = watch;
        self
    }

    /// Watches `ut/`; returns how often the loop must rescan it.
    fn start_watching(&self) -> Duration {
        let every = self.settings.poll_interval;
        let often = every.min(UNWATCHED_RESCAN);
        let ut = self.folders.ut();
        let watched = self.watch.watch(&ut, &self.changed);
        if let Err(err) = &watched {
            warn!(mottakersystem = %self.name, error = %err, "outbound: no drop-folder events: ut/ is rescanned every {often:?} instead");
        }
        let network = network_filesystem(&ut);
        if let Some(fs) = network {
            warn!(mottakersystem = %self.name, ut = %ut.display(), filesystem = fs, "outbound: ut/ is on a network filesystem: updates written from other machines bring no events, so it is rescanned every {often:?}");
        }
        if watched.is_err() || network.is_some() {
            often
        } else {
            every
        }
    }

    /// Watches the folders being written in `ut/` (`waiting`, no `KLAR`
    /// yet) and no others; `true` when one is newly watched, so the loop
    /// looks again (its `KLAR` may have come before the watch).
    pub(super) fn watch_waiting(&self, waiting: &[crate::dropfolder::dirfd::Name]) -> bool {
        let ut = self.folders.ut();
        let want: HashSet<PathBuf> = waiting
            .iter()
            .take(MAX_WATCHED_IN_UT)
            .map(|n| ut.join(n.as_os_str()))
            .collect();
        let Ok(mut watched) = self.watched_in_ut.lock() else {
            return false;
        };
        for gone in watched.difference(&want) {
            self.watch.unwatch(gone);
        }
        watched.retain(|p| want.contains(p));
        let mut added = false;
        for path in want {
            if !watched.contains(&path) && self.watch.watch(&path, &self.changed).is_ok() {
                watched.insert(path);
                added = true;
            }
        }
        added
    }

    fn stop_watching(&self) {
        self.watch.unwatch(&self.folders.ut());
        if let Ok(mut watched) = self.watched_in_ut.lock() {
            for path in watched.drain() {
                self.watch.unwatch(&path);
            }
        }
    }

    /// The loop, until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let rescan_every = self.start_watching();
        let mut tasks = JoinSet::new();
        loop {
            self.health.beat();
            let last_turn = Instant::now();
            let mut wake = last_turn + rescan_every;
            match self.turn(&mut tasks).await {
                Ok(next) => {
                    if next.look_again {
                        wake = Instant::now();
                    }
                    if let Some(due) = next.retry_due {
                        wake = wake.min(due);
                    }
                }
                Err(e) => warn!(mottakersystem = %self.name, "outbound: {e}"),
            }
            if self.health.unmoved.lock().is_ok_and(|u| !u.is_empty()) {
                wake = wake.min(last_turn + UNWATCHED_RESCAN);
            }
            self.health
                .pipeline
                .idle_for(wake.saturating_duration_since(Instant::now()));
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep_until(wake) => {}
                () = self.health.pipeline.wake.notified() => {}
                () = self.changed.notified() => {
                    tokio::time::sleep_until(last_turn + MIN_TURN_GAP).await;
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
            while tasks.try_join_next().is_some() {}
        }
        self.stop_watching();
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

    async fn turn(self: &Arc<Self>, tasks: &mut JoinSet<()>) -> Result<NextTurn, TurnError> {
        self.tidy_claims().await?;
        let look_again = self.claim_ready().await?;
        let retry_due = self.start_due(tasks).await?.map(|at_ms| {
            let wait = u64::try_from(at_ms.saturating_sub(self.health.now_ms())).unwrap_or(0);
            Instant::now() + Duration::from_millis(wait)
        });
        Ok(NextTurn {
            look_again,
            retry_due,
        })
    }
}

/// What a turn says about the next.
struct NextTurn {
    /// Look again at once (a folder in `ut/` is newly watched).
    look_again: bool,
    /// When the soonest update waiting to retry comes due.
    retry_due: Option<Instant>,
}
