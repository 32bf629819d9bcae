//! One mottakersystem's inbound loop: poll SvarInn, and move every forsendelse
//! the journal holds one step further, as many at a time as allowed.
//!
//! Each forsendelse is advanced by one task that loops over
//! [`Row::work`](crate::journal::Row::work) until the row waits (for time,
//! for the fagsystem, or for a person). The journal records every transition
//! before the step that depends on it, so the task can be killed anywhere and
//! a restart resumes from the journal (see `ARCHITECTURE.md`, invariants).
//!
//! With nothing due the loop sleeps: until the next poll, the next retry, a
//! drop-folder event (`inn/`, `feilet/`: [`DropWatch`]), a console's command,
//! or the next rescan (`rescan_interval`, the safety net for filesystems that
//! deliver no events).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::deliver::{Preparation, Staged};
use super::limits::DownloadLimits;
use super::link::Link;
use crate::backoff::Backoff;
use crate::config::Mottakersystem;
use crate::dropfolder::watch::{DropWatch, network_filesystem};
use crate::dropfolder::{DropFolder, FEILET_DIR, INN_DIR};
use crate::journal::{Change, JournalError, Outcome, Row, SharedJournal, State, Work};
use crate::pipeline::Health;
use crate::svarinn_client::{ApiClient, ClientError};
use crate::telemetry::SystemTelemetry;

mod duplicate;
mod listing;
mod steps;

/// The shortest time between two looks at the journal and the drop folder
/// that events asked for: a burst of events (the agent's own publishing into
/// `inn/` among them) makes one look, not one each.
const MIN_SCAN_GAP: Duration = Duration::from_millis(10);
/// After a scan that found tasks running, the next task to end brings
/// another scan, at least this long after it: a row that scan skipped
/// because its task was still finishing (the fagsystem took its folder just
/// then) is not left for the rescan, and a busy drain scans no more often.
const SCAN_AFTER_TASK_GAP: Duration = Duration::from_millis(500);
/// The longest time between rescans when events cannot be relied on (no
/// watcher, or a network filesystem that delivers none for other machines' changes).
const UNWATCHED_RESCAN: Duration = Duration::from_secs(2);
/// After a full page, the next one is listed once this few forsendelser are
/// still being worked on, so that it arrives while they finish rather than
/// after them (a list takes a round trip and a journal commit). Those still
/// in flight come back in it and are recognised as known.
const PAGE_AGAIN_AT: usize = 32;
/// Backoff for steps that fail on our side (disk, drop folder) or at SvarInn's.
const STEP_BACKOFF: Backoff = Backoff::NETWORK;
/// A download waiting for free space tries again at least this often.
const LOW_SPACE_RECHECK: Duration = Duration::from_secs(60);

/// What an operator needs to know about a mottakersystem's link to SvarInn.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollStatus {
    pub last_poll_at: Option<OffsetDateTime>,
    pub last_success_at: Option<OffsetDateTime>,
    pub last_error: Option<String>,
    pub last_latency: Option<Duration>,
    pub consecutive_failures: u32,
    /// The addresses SvarInn's host resolved to at the last poll.
    pub resolved: Vec<SocketAddr>,
}

/// Shared between a worker and whoever reports on it (systemd, consoles).
#[derive(Debug, Default)]
pub struct WorkerHealth {
    /// What every pipeline reports (heartbeat, setup failure, wake: a
    /// console's resume or poll-now polls at once).
    pub pipeline: Arc<Health>,
    pub status: Mutex<PollStatus>,
    /// Polls since start, and those that failed (metrics).
    pub polls: AtomicU64,
    pub poll_failures: AtomicU64,
    /// Look at the rows and the drop folder now (a drop-folder event, or a
    /// person's command on a forsendelse); no poll.
    pub rescan: Arc<Notify>,
}

impl WorkerHealth {
    pub fn new(pipeline: Arc<Health>) -> Self {
        WorkerHealth {
            pipeline,
            ..WorkerHealth::default()
        }
    }

    fn beat(&self) {
        self.pipeline.beat();
    }

    fn update(&self, f: impl FnOnce(&mut PollStatus)) {
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut status);
    }
}

/// Everything one mottakersystem's tasks share.
pub struct Worker {
    pub system: Mottakersystem,
    client: ApiClient,
    drop: DropFolder,
    journal: SharedJournal,
    preparation: Preparation,
    /// Slots for downloads and for the other calls, as many as the link bears now.
    link: Arc<Link>,
    pub health: Arc<WorkerHealth>,
    /// Steps that failed without a journal state to wait in (reports,
    /// drop-folder checks): not retried before this instant.
    not_before: Mutex<HashMap<String, (Instant, u32)>>,
    /// Where each forsendelse's journey is timed (the daemon's workers only).
    telemetry: Option<Arc<SystemTelemetry>>,
    /// Wakes the loop on changes in `inn/` and `feilet/`.
    watch: DropWatch,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("system", &self.system.name.as_str())
            .finish_non_exhaustive()
    }
}

impl Worker {
    pub fn new(
        system: Mottakersystem,
        client: ApiClient,
        drop: DropFolder,
        journal: SharedJournal,
        keys: Vec<mottak_protocol::cms::RecipientKey>,
        health: Arc<WorkerHealth>,
    ) -> Self {
        let preparation = Preparation {
            keys: Arc::new(keys),
            unzip: system.unzip,
            zip_limits: system.zip,
            download_timeout: system.download_timeout,
            limits: DownloadLimits::new(
                system.max_forsendelse_size,
                drop.root(),
                system.min_free_space,
            ),
        };
        let link = Link::new(system.max_concurrent_downloads);
        Worker {
            client: client.with_pacer(Arc::clone(&link) as Arc<dyn crate::svarinn_client::Pacer>),
            link,
            system,
            drop,
            journal,
            preparation,
            health,
            not_before: Mutex::new(HashMap::new()),
            telemetry: None,
            watch: DropWatch::disabled("no watcher was given to this worker"),
        }
    }

    /// Wakes the loop on changes in `inn/` and `feilet/` (the daemon's workers).
    #[must_use]
    pub fn with_watch(mut self, watch: DropWatch) -> Self {
        self.watch = watch;
        self
    }

    /// Watches `inn/` and `feilet/`; returns how often the loop must rescan
    /// them: `rescan_interval`, or more often when events cannot be relied on.
    fn start_watching(&self) -> Duration {
        let every = self.system.rescan_interval;
        let often = every.min(UNWATCHED_RESCAN);
        let root = self.drop.root();
        // Watched even on a network filesystem: changes made on this machine are seen at once.
        let watched = self.watch_folders();
        if let Err(err) = &watched {
            warn!(mottakersystem = self.name(), error = %err, "no drop-folder events: inn/ and feilet/ are rescanned every {often:?} instead");
        }
        let network = network_filesystem(root);
        if let Some(fs) = network {
            warn!(mottakersystem = self.name(), drop_folder = %root.display(), filesystem = fs, "the drop folder is on a network filesystem: changes made from other machines bring no events, so it is rescanned every {often:?} (rescan_interval)");
        }
        if watched.is_err() || network.is_some() {
            often
        } else {
            every
        }
    }

    fn watch_folders(&self) -> Result<(), crate::dropfolder::watch::WatchError> {
        for dir in [INN_DIR, FEILET_DIR] {
            self.watch
                .watch(&self.drop.root().join(dir), &self.health.rescan)?;
        }
        Ok(())
    }

    fn stop_watching(&self) {
        for dir in [INN_DIR, FEILET_DIR] {
            self.watch.unwatch(&self.drop.root().join(dir));
        }
    }

    /// The soonest a row comes due without an event: its `retry_wait` ends,
    /// or a step's hold-off does. Only times still ahead: what is past was
    /// seen by the last scan (or waits for the next, if the journal failed it).
    async fn next_due(&self) -> Option<Instant> {
        let name = self.name().to_owned();
        let retry = match self.journal.read(move |j| j.next_wake(Some(&name))).await {
            Ok(at) => at.map(|at| {
                let wait = at - OffsetDateTime::now_utc();
                // A millisecond late, so the journal (whole milliseconds) sees it due.
                Instant::now()
                    + Duration::try_from(wait).unwrap_or(Duration::ZERO)
                    + Duration::from_millis(1)
            }),
            Err(err) => {
                error!(mottakersystem = self.name(), error = %err, "could not read the journal");
                None
            }
        };
        let now = Instant::now();
        let held = self
            .not_before
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|(at, _)| *at)
            .filter(|at| *at > now)
            .min();
        let retry = retry.filter(|at| *at > now);
        match (retry, held) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Times each forsendelse's journey in `telemetry` (`/metrics`).
    #[must_use]
    pub fn with_telemetry(mut self, telemetry: Arc<SystemTelemetry>) -> Self {
        self.link.report_to(Arc::clone(&telemetry));
        self.telemetry = Some(telemetry);
        self
    }

    /// A step moved `before` to `after`: on arriving at `delivered`,
    /// `imported` or `acked`, how long it took (from the journal's stamps, so
    /// a restart in between is counted in).
    fn time_journey(&self, before: &Row, after: &Row) {
        let Some(t) = &self.telemetry else { return };
        if before.state == after.state {
            return;
        }
        match (after.state, after.delivered_at) {
            (State::Delivered, Some(delivered)) => t
                .listed_to_published
                .observe_between(after.first_seen_at, delivered),
            (State::Imported, Some(delivered)) => {
                if let Some(imported) = after.imported_at {
                    t.published_to_imported.observe_between(delivered, imported);
                }
            }
            (State::Acked, Some(delivered)) => {
                if let Some(acked) = after.acked_at {
                    t.published_to_acknowledged
                        .observe_between(delivered, acked);
                }
            }
            _ => {}
        }
    }

    fn name(&self) -> &str {
        self.system.name.as_str()
    }

    /// Startup: lay out the drop folder and remove staging an earlier run
    /// left, except the staging of forsendelser the journal has at
    /// `downloaded` (they are published from it).
    pub async fn recover(&self) -> Result<(), WorkerError> {
        let created = self.drop.ensure_layout()?;
        for dir in created {
            info!(mottakersystem = self.name(), folder = %dir.display(), "created drop folder");
        }
        self.drop.check_same_filesystem()?;
        let name = self.name().to_owned();
        let downloaded: HashSet<String> = self
            .journal
            .call(move |j| j.list(&name, State::Downloaded, usize::MAX >> 1))
            .await?
            .into_iter()
            .map(|row| row.id.as_str().to_owned())
            .collect();
        let removed = self
            .drop
            .clean_staging(&|id| downloaded.contains(id.as_str()))?;
        for dir in removed {
            info!(mottakersystem = self.name(), folder = %dir.display(), "removed staging left by an earlier run");
        }
        Ok(())
    }

    /// The loop: poll every `poll_interval` (at once again after a full page
    /// that brought new forsendelser, once they are nearly all handled), and advance
    /// every row that has work, until `shutdown`. In-flight steps finish
    /// before it returns, except downloads, which are abandoned (a restart
    /// discards their staging and downloads again).
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let rescan_every = self.start_watching();
        let mut tasks: JoinSet<()> = JoinSet::new();
        let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
        let mut next_poll = Instant::now();
        // The journal is scanned for rows with work after a poll, an event,
        // a command, a retry coming due and every rescan, not each time a
        // task ends: a task ends only when its row has to wait (for time,
        // the fagsystem or a person).
        let mut next_scan = Instant::now();
        let mut last_scan = Instant::now();
        let mut scan_after_task = false;
        let mut page_again_soon = false;
        loop {
            self.health.beat();
            if shutdown.is_cancelled() {
                break;
            }
            let paused = self.journal.is_paused(self.name());
            if paused && Instant::now() >= next_poll {
                // No poll, but the loop still turns when one would have.
                next_poll = Instant::now() + self.system.poll_interval;
            }
            if !paused && Instant::now() >= next_poll {
                match self.poll(&mut tasks, &shutdown).await {
                    Ok(summary) => {
                        next_poll = Instant::now() + self.system.poll_interval;
                        next_scan = Instant::now();
                        page_again_soon = summary.full_with_new;
                    }
                    Err(err) => {
                        let failures = self
                            .health
                            .status
                            .lock()
                            .map_or(1, |s| s.consecutive_failures);
                        let delay = STEP_BACKOFF
                            .delay_with_random_jitter(failures.saturating_sub(1))
                            .min(self.system.poll_interval);
                        error!(mottakersystem = self.name(), error = %err, retry_in = ?delay, "polling SvarInn failed");
                        next_poll = Instant::now() + delay;
                    }
                }
            }
            if paused || Instant::now() < next_scan {
                // Paused: steps in progress finish; no new ones start.
            } else {
                last_scan = Instant::now();
                next_scan = last_scan + rescan_every;
                scan_after_task = !tasks.is_empty();
                if let Err(err) = self.spawn_due(&mut tasks, &in_flight, &shutdown).await {
                    error!(mottakersystem = self.name(), error = %err, "could not read the journal");
                }
            }
            if page_again_soon && tasks.len() <= PAGE_AGAIN_AT {
                page_again_soon = false;
                next_poll = Instant::now();
                continue;
            }
            if !paused && let Some(due) = self.next_due().await {
                next_scan = next_scan.min(due);
            }
            // Paused: no poll and no scan; a resume or poll_now wakes the loop at once.
            let wake = if paused {
                next_poll
            } else {
                next_poll.min(next_scan)
            };
            self.health
                .pipeline
                .idle_for(wake.saturating_duration_since(Instant::now()));
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {
                    while tasks.try_join_next().is_some() {}
                    if std::mem::take(&mut scan_after_task) {
                        let at = Instant::now().max(last_scan + SCAN_AFTER_TASK_GAP);
                        next_scan = next_scan.min(at);
                    }
                }
                () = tokio::time::sleep_until(wake.into()) => {}
                () = self.health.pipeline.wake.notified() => {
                    next_poll = Instant::now();
                    next_scan = Instant::now();
                }
                () = self.health.rescan.notified() => {
                    next_scan = next_scan.min(Instant::now().max(last_scan + MIN_SCAN_GAP));
                }
            }
        }
        self.stop_watching();
        info!(
            mottakersystem = self.name(),
            in_flight = tasks.len(),
            "stopping: letting steps in progress finish"
        );
        while tasks.join_next().await.is_some() {
            self.health.beat();
        }
    }

    /// Moves one forsendelse forward until it has to wait.
    async fn advance(self: &Arc<Self>, mut row: Row, shutdown: &CancellationToken) {
        // What this task's download staged, handed to its publish step.
        let mut staged: Option<Staged> = None;
        while let Some(work) = row.work(self.system.ack) {
            if shutdown.is_cancelled() {
                return;
            }
            let step = match work {
                Work::Download => {
                    tokio::select! {
                        // Abandoning a download is safe: the row stays `listed`
                        // and the next run discards the staging.
                        () = shutdown.cancelled() => return,
                        step = self.download(&row, &mut staged, shutdown) => step,
                    }
                }
                Work::Publish => self.publish(&row, staged.take()).await,
                Work::AwaitImport => self.check_import(&row).await,
                Work::Ack => self.ack(&row).await,
                Work::ReportFailure => self.report(&row, false).await,
                Work::ReportPermanent => self.report(&row, true).await,
            };
            match step {
                Ok(Some(next)) => {
                    self.clear_hold(row.id.as_str());
                    self.time_journey(&row, &next);
                    row = next;
                }
                Ok(None) => return,
                Err(err) => {
                    let delay = self.hold_off(row.id.as_str());
                    error!(error = %err, retry_in = ?delay, "{}", step_name(work, &self.client));
                    return;
                }
            }
        }
    }

    async fn transition(&self, row: &Row, change: Change) -> Result<Row, WorkerError> {
        let name = self.name().to_owned();
        let id = row.id.clone();
        Ok(self
            .journal
            .write(move |j| j.transition(&name, &id, change))
            .await?)
    }

    async fn attempt(
        &self,
        row: &Row,
        action: &'static str,
        outcome: Outcome,
    ) -> Result<crate::journal::Counters, WorkerError> {
        let name = self.name().to_owned();
        let id = row.id.clone();
        Ok(self
            .journal
            .write(move |j| j.record_attempt(&name, &id, action, &outcome))
            .await?)
    }
}

fn step_name(work: Work, client: &ApiClient) -> String {
    match work {
        Work::Download => "download failed".to_owned(),
        Work::Publish => "publishing into inn/ failed".to_owned(),
        Work::AwaitImport => "checking the drop folder failed".to_owned(),
        Work::Ack => format!("{} failed", client.ack_name()),
        Work::ReportFailure | Work::ReportPermanent => {
            format!("{} failed", client.report_name())
        }
    }
}

/// A step that could not run; the row stays where it was.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Drop(#[from] crate::dropfolder::DropError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("a file operation did not finish: {0}")]
    Thread(String),
}

/// Runs blocking file work (fsync, rename, directory reads) on the blocking
/// pool, never on the event loop.
async fn blocking<T, F>(f: F) -> Result<T, WorkerError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|err| WorkerError::Thread(err.to_string()))
}
