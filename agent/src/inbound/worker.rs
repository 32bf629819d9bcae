//! One mottakersystem's inbound loop: poll SvarInn, and move every forsendelse
//! the journal holds one step further, as many at a time as allowed.
//!
//! Each forsendelse is advanced by one task that loops over
//! [`Row::work`](crate::journal::Row::work) until the row waits (for time,
//! for the fagsystem, or for a person). The journal records every transition
//! before the step that depends on it, so the task can be killed anywhere and
//! a restart resumes from the journal (see `ARCHITECTURE.md`, invariants).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mottak_protocol::svarinn::{self, Forsendelse, MAX_PAGE};
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, warn};

use super::deliver::{DeliverError, Preparation, Staged, Wanted, digisos_id, download_and_stage};
use super::fetch::FailureClass;
use super::limits::DownloadLimits;
use crate::backoff::Backoff;
use crate::config::{AckMode, Mottakersystem};
use crate::dropfolder::{DeliveryStatus, DropFolder, Location, Published};
use crate::journal::{
    Change, JournalError, ListedDecision, NewForsendelse, Outcome, Row, SharedJournal, State, Work,
};
use crate::names::ForsendelseId;
use crate::pipeline::Health;
use crate::svarinn_client::{ClientError, SvarInnClient};
use crate::telemetry::SystemTelemetry;

/// How often the loop looks at the journal and the drop folder between polls
/// (imports, retries that came due). Local and cheap.
const TICK: Duration = Duration::from_millis(500);
/// SvarInn calls other than downloads in flight at once (acks, reports).
const MAX_CONCURRENT_CALLS: usize = 8;
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
    client: SvarInnClient,
    drop: DropFolder,
    journal: SharedJournal,
    preparation: Preparation,
    downloads: Arc<Semaphore>,
    calls: Semaphore,
    pub health: Arc<WorkerHealth>,
    /// Steps that failed without a journal state to wait in (reports,
    /// drop-folder checks): not retried before this instant.
    not_before: Mutex<HashMap<String, (Instant, u32)>>,
    /// Where each forsendelse's journey is timed (the daemon's workers only).
    telemetry: Option<Arc<SystemTelemetry>>,
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
        client: SvarInnClient,
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
        Worker {
            downloads: Arc::new(Semaphore::new(system.max_concurrent_downloads.max(1))),
            calls: Semaphore::new(MAX_CONCURRENT_CALLS),
            system,
            client,
            drop,
            journal,
            preparation,
            health,
            not_before: Mutex::new(HashMap::new()),
            telemetry: None,
        }
    }

    /// Times each forsendelse's journey in `telemetry` (`/metrics`).
    #[must_use]
    pub fn with_telemetry(mut self, telemetry: Arc<SystemTelemetry>) -> Self {
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
        let mut tasks: JoinSet<()> = JoinSet::new();
        let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
        let mut next_poll = Instant::now();
        // The journal is scanned for rows with work every TICK and after a
        // poll, not each time a task ends: a task ends only when its row has
        // to wait (for time, the fagsystem or a person).
        let mut next_scan = Instant::now();
        let mut page_again_soon = false;
        loop {
            self.health.beat();
            if shutdown.is_cancelled() {
                break;
            }
            let paused = self.journal.is_paused(self.name());
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
                next_scan = Instant::now() + TICK;
                if let Err(err) = self.spawn_due(&mut tasks, &in_flight, &shutdown).await {
                    error!(mottakersystem = self.name(), error = %err, "could not read the journal");
                }
            }
            if page_again_soon && tasks.len() <= PAGE_AGAIN_AT {
                page_again_soon = false;
                next_poll = Instant::now();
                continue;
            }
            let wake = if paused {
                // No poll and no scan are due while paused: look again a
                // TICK later (a resume or poll_now wakes the loop at once).
                Instant::now() + TICK
            } else {
                next_poll.min(next_scan.max(Instant::now()))
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {
                    while tasks.try_join_next().is_some() {}
                }
                () = tokio::time::sleep_until(wake.into()) => {}
                () = self.health.pipeline.wake.notified() => next_poll = Instant::now(),
            }
        }
        info!(
            mottakersystem = self.name(),
            in_flight = tasks.len(),
            "stopping: letting steps in progress finish"
        );
        while tasks.join_next().await.is_some() {
            self.health.beat();
        }
    }

    /// Lists every page SvarInn has and records each forsendelse.
    async fn poll(
        self: &Arc<Self>,
        tasks: &mut JoinSet<()>,
        shutdown: &CancellationToken,
    ) -> Result<PollSummary, WorkerError> {
        let started = Instant::now();
        let resolved = self.client.resolve().await.unwrap_or_default();
        self.health.update(|s| {
            s.last_poll_at = Some(OffsetDateTime::now_utc());
            if !resolved.is_empty() {
                s.resolved = resolved;
            }
        });
        let result = self.poll_once(tasks, shutdown).await;
        let latency = started.elapsed();
        self.health.polls.fetch_add(1, Ordering::Relaxed);
        if result.is_err() {
            self.health.poll_failures.fetch_add(1, Ordering::Relaxed);
        }
        self.health.update(|s| match &result {
            Ok(_) => {
                s.last_success_at = Some(OffsetDateTime::now_utc());
                s.last_latency = Some(latency);
                s.consecutive_failures = 0;
                s.last_error = None;
            }
            Err(err) => {
                s.consecutive_failures = s.consecutive_failures.saturating_add(1);
                s.last_error = Some(err.to_string());
            }
        });
        result
    }

    async fn poll_once(
        self: &Arc<Self>,
        tasks: &mut JoinSet<()>,
        shutdown: &CancellationToken,
    ) -> Result<PollSummary, WorkerError> {
        // An acknowledgement sent after this instant may not be reflected in
        // the list yet: such a forsendelse is not "listed again".
        let requested_at = OffsetDateTime::now_utc();
        let body = self.client.list_new().await?;
        let listed = svarinn::parse_list_lenient(&body).map_err(|err| {
            WorkerError::Client(ClientError::Malformed {
                operation: "hentNyeForsendelser",
                reason: err.to_string(),
            })
        })?;
        if listed.ignored > 0 {
            warn!(
                mottakersystem = self.name(),
                ignored = listed.ignored,
                "SvarInn listed {} items, more than the {MAX_PAGE} its API returns at most: took the first {MAX_PAGE} and ignored {} (they come back at a later poll)",
                listed.items.len() + listed.ignored,
                listed.ignored
            );
        }
        let items = listed.items;
        // One warning per kind of bad item per poll, however many there are.
        let mut unreadable = Skipped::default();
        let mut unusable_ids = Skipped::default();
        let mut page = Vec::with_capacity(items.len());
        for item in &items {
            let forsendelse = match &item.parsed {
                Ok(f) => f,
                Err(err) => {
                    unreadable
                        .note(|| format!("{}: {err}", item.id.as_deref().unwrap_or("(no id)")));
                    continue;
                }
            };
            let raw = String::from_utf8_lossy(item.raw).into_owned();
            match NewForsendelse::from_svarinn(forsendelse, &raw) {
                Ok(listed) => page.push(listed),
                Err(err) => unusable_ids.note(|| err.to_string()),
            }
        }
        unreadable.warn(
            self.name(),
            "list items do not match SvarInn's API and were skipped (the others go on)",
        );
        unusable_ids.warn(
            self.name(),
            "listed forsendelser have an unusable id and were skipped",
        );
        // The whole page in one transaction: one fsync, not one per forsendelse.
        let name = self.name().to_owned();
        let ids: Vec<ForsendelseId> = page.iter().map(|f| f.id.clone()).collect();
        let decisions = self
            .journal
            .write(move |j| j.record_listed_page(&name, &page))
            .await?;
        let mut new = 0usize;
        for (id, decision) in ids.into_iter().zip(decisions) {
            match decision {
                ListedDecision::New => new += 1,
                ListedDecision::Known(_) => {}
                ListedDecision::Reack => {
                    if self.acked_since(&id, requested_at).await? {
                        debug!(
                            mottakersystem = self.name(),
                            forsendelse = id.as_str(),
                            "acknowledged while the list was on its way; not acknowledging again"
                        );
                        continue;
                    }
                    info!(
                        mottakersystem = self.name(),
                        forsendelse = id.as_str(),
                        "listed again after its acknowledgement: acknowledging again, not delivering again"
                    );
                    let worker = Arc::clone(self);
                    tasks.spawn(async move { worker.reack(id).await }.in_current_span());
                }
                ListedDecision::ReportPermanentAgain => {
                    let worker = Arc::clone(self);
                    tasks.spawn(async move { worker.report_permanent_again(id).await });
                }
            }
            if shutdown.is_cancelled() {
                break;
            }
        }
        debug!(
            mottakersystem = self.name(),
            listed = items.len(),
            new,
            "polled SvarInn"
        );
        if new > 0 {
            info!(
                mottakersystem = self.name(),
                new, "new forsendelser from SvarInn"
            );
        }
        Ok(PollSummary {
            full_with_new: items.len() >= MAX_PAGE && new > 0,
        })
    }

    /// Whether `id` was acknowledged at or after `instant` (journal times are
    /// whole milliseconds, so within the same millisecond counts as after).
    async fn acked_since(
        &self,
        id: &ForsendelseId,
        instant: OffsetDateTime,
    ) -> Result<bool, WorkerError> {
        let name = self.name().to_owned();
        let id = id.clone();
        let row = self.journal.read(move |j| j.get(&name, &id)).await?;
        Ok(row
            .and_then(|r| r.acked_at)
            .is_some_and(|acked| acked + Duration::from_millis(1) >= instant))
    }

    /// Starts a task for every row with work that has none running.
    async fn spawn_due(
        self: &Arc<Self>,
        tasks: &mut JoinSet<()>,
        in_flight: &Arc<Mutex<HashSet<String>>>,
        shutdown: &CancellationToken,
    ) -> Result<(), WorkerError> {
        let name = self.name().to_owned();
        let ack = self.system.ack;
        let due = self.journal.write(move |j| j.due_work(&name, ack)).await?;
        let now = Instant::now();
        for (row, _) in due {
            self.spawn_row(row.id, tasks, in_flight, shutdown, now);
        }
        self.repair_moved_back().await?;
        if self.system.ack == AckMode::OnImport {
            let name = self.name().to_owned();
            let awaiting = self.journal.read(move |j| j.awaiting_import(&name)).await?;
            if !awaiting.is_empty() {
                let drop = self.drop.clone();
                let present = blocking(move || drop.inn_names()).await??;
                for (id, folder) in awaiting {
                    if present.contains(&folder) {
                        continue;
                    }
                    self.spawn_row(id, tasks, in_flight, shutdown, now);
                }
            }
        }
        Ok(())
    }

    /// `rejected` rows whose folder is back in `inn/` become `delivered`
    /// again: the folder in `inn/` wins. The console's `move_to_inn` moves
    /// the folder first and journals after, so a crash in between leaves
    /// exactly this; someone moving the folder back by hand does too.
    async fn repair_moved_back(&self) -> Result<(), WorkerError> {
        let name = self.name().to_owned();
        let rejected = self
            .journal
            .read(move |j| j.rejected_folders(&name))
            .await?;
        if rejected.is_empty() {
            return Ok(());
        }
        let drop = self.drop.clone();
        let present = blocking(move || drop.inn_names()).await??;
        for (id, folder) in rejected {
            if !present.contains(&folder) {
                continue;
            }
            let (name, id2) = (self.name().to_owned(), id.clone());
            let change = Change::Delivered {
                folder_name: folder.clone(),
                digisos_id: None,
            };
            match self
                .journal
                .write(move |j| j.transition(&name, &id2, change))
                .await
            {
                Ok(_) => warn!(
                    mottakersystem = self.name(),
                    forsendelse = id.as_str(),
                    folder = %folder,
                    "a rejected forsendelse's folder is back in inn/ (moved back by hand, or a move from the console was interrupted): delivered again, waiting for the fagsystem"
                ),
                // The console's own journal change got there first.
                Err(JournalError::IllegalTransition { .. }) => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }

    /// Starts a task advancing forsendelse `id`, unless one runs or its step
    /// is holding off. The task reads the row afresh once it holds the
    /// in-flight slot: a row read before that may be stale (a task that just
    /// finished moved it on), and acting on it would repeat a step.
    fn spawn_row(
        self: &Arc<Self>,
        id: ForsendelseId,
        tasks: &mut JoinSet<()>,
        in_flight: &Arc<Mutex<HashSet<String>>>,
        shutdown: &CancellationToken,
        now: Instant,
    ) {
        let key = id.as_str().to_owned();
        if self.waiting(&key, now) {
            return;
        }
        {
            let mut flying = in_flight.lock().unwrap_or_else(|p| p.into_inner());
            if !flying.insert(key.clone()) {
                return;
            }
        }
        let worker = Arc::clone(self);
        let in_flight = Arc::clone(in_flight);
        let shutdown = shutdown.clone();
        let span = info_span!("forsendelse", mottakersystem = self.name(), id = %key);
        tasks.spawn(
            async move {
                let name = worker.name().to_owned();
                match worker.journal.read(move |j| j.get(&name, &id)).await {
                    Ok(Some(row)) => worker.advance(row, &shutdown).await,
                    Ok(None) => {}
                    Err(err) => error!(error = %err, "could not read the journal"),
                }
                in_flight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&key);
            }
            .instrument(span),
        );
    }

    fn waiting(&self, key: &str, now: Instant) -> bool {
        let map = self.not_before.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).is_some_and(|(at, _)| *at > now)
    }

    /// Remembers a failed step with no journal state to wait in; returns the delay.
    fn hold_off(&self, key: &str) -> Duration {
        let mut map = self.not_before.lock().unwrap_or_else(|p| p.into_inner());
        let failures = map.get(key).map_or(0, |(_, n)| *n);
        let delay = STEP_BACKOFF.delay_with_random_jitter(failures);
        map.insert(key.to_owned(), (Instant::now() + delay, failures + 1));
        delay
    }

    fn clear_hold(&self, key: &str) {
        self.not_before
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
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
                    error!(error = %err, retry_in = ?delay, "{}", step_name(work));
                    return;
                }
            }
        }
    }

    /// `listed` → `downloaded`, or a retry, or `failed` after too many bad
    /// files. On success `staged` holds the synced staging folder for the
    /// publish step.
    async fn download(
        &self,
        row: &Row,
        staged: &mut Option<Staged>,
        shutdown: &CancellationToken,
    ) -> Result<Option<Row>, WorkerError> {
        let forsendelse = match Forsendelse::from_json(row.raw_json.as_bytes()) {
            Ok(f) => f,
            Err(err) => {
                // The row was recorded from this very JSON; this cannot pass by itself.
                let error = format!("the recorded forsendelse JSON no longer parses: {err}");
                return self
                    .transition(row, Change::Failed { error })
                    .await
                    .map(Some);
            }
        };
        // Never closed: an error here would be a bug, not a failed download.
        let permit = Arc::clone(&self.downloads)
            .acquire_owned()
            .await
            .map_err(|err| WorkerError::Thread(err.to_string()))?;
        let result = download_and_stage(
            &self.client,
            &self.preparation,
            &self.drop,
            Wanted {
                id: row.id.clone(),
                forsendelse,
                raw_json: row.raw_json.clone(),
            },
            permit,
            shutdown.clone(),
        )
        .await;
        match result {
            Ok(done) => {
                let p = &done.prepared;
                debug!(files = ?p.files, bytes = p.bytes, key = p.key_index, "decrypted and verified");
                // The attempt, the transition and the publish attempt in one
                // transaction. The publish attempt is recorded (durable)
                // before the rename, so a restart that finds the staging gone
                // knows the rename happened (DropFolder::locate).
                let (name, id) = (self.name().to_owned(), row.id.clone());
                let next = self
                    .journal
                    .write(move |j| {
                        j.record_attempt(&name, &id, "download", &Outcome::Ok)?;
                        let next = j.transition(&name, &id, Change::Downloaded)?;
                        j.record_attempt(&name, &id, PUBLISH, &Outcome::Ok)?;
                        Ok(next)
                    })
                    .await?;
                *staged = Some(done);
                Ok(Some(next))
            }
            Err(err) => self.download_failed(row, &err).await.map(Some),
        }
    }

    async fn download_failed(&self, row: &Row, err: &DeliverError) -> Result<Row, WorkerError> {
        let error = err.to_string();
        let class = err.class();
        let outcome = match class {
            FailureClass::Content | FailureClass::OverLimit => Outcome::ContentFailed {
                error: error.clone(),
            },
            FailureClass::LowSpace | FailureClass::Transient | FailureClass::Local => {
                Outcome::Failed {
                    error: error.clone(),
                }
            }
        };
        let counters = self.attempt(row, "download", outcome).await?;
        let backoff = STEP_BACKOFF.delay_with_random_jitter(counters.attempts.saturating_sub(1));
        match class {
            FailureClass::Content => {
                if counters.content_failures >= self.system.max_decrypt_attempts {
                    warn!(error = %error, attempts = counters.content_failures, "giving up: the forsendelse needs a person");
                    let error = format!(
                        "{error} (tried {} times; an operator can retry it or mark it permanent)",
                        counters.content_failures
                    );
                    return self.transition(row, Change::Failed { error }).await;
                }
                warn!(error = %error, attempt = counters.content_failures, of = self.system.max_decrypt_attempts, "the file was not right; trying again");
                self.retry_in(row, backoff, error).await
            }
            FailureClass::OverLimit => {
                // At once: the same body would be cut at the same byte again,
                // after taking the bandwidth and the disk once more.
                warn!(error = %error, "giving up at once: the forsendelse is over max_forsendelse_size");
                let error = format!(
                    "{error} (not retried; if it is genuine, raise max_forsendelse_size for this mottakersystem and retry it)"
                );
                self.transition(row, Change::Failed { error }).await
            }
            FailureClass::LowSpace => {
                // Looked at again at least every minute, so a freed disk is
                // used soon, however long it was full.
                let delay = backoff.min(LOW_SPACE_RECHECK);
                warn!(error = %error, retry_in = ?delay, "waiting for free space on the drop folder");
                self.retry_in(row, delay, error).await
            }
            FailureClass::Transient | FailureClass::Local => {
                warn!(error = %error, "download failed; trying again later");
                self.retry_in(row, backoff, error).await
            }
        }
    }

    async fn retry_later(
        &self,
        row: &Row,
        attempts: u32,
        error: String,
    ) -> Result<Row, WorkerError> {
        let delay = STEP_BACKOFF.delay_with_random_jitter(attempts.saturating_sub(1));
        self.retry_in(row, delay, error).await
    }

    async fn retry_in(
        &self,
        row: &Row,
        delay: Duration,
        error: String,
    ) -> Result<Row, WorkerError> {
        let next_attempt_at = OffsetDateTime::now_utc() + delay;
        self.transition(
            row,
            Change::RetryWait {
                next_attempt_at,
                error,
            },
        )
        .await
    }

    /// `downloaded` → `delivered`: the staging folder renamed into `inn/`.
    /// `staged`: what this task's download step just staged (its publish
    /// attempt journaled with `downloaded`). Without it (a restart, or a retry
    /// of a publish that failed) the folder may be published already, or
    /// even imported.
    async fn publish(&self, row: &Row, staged: Option<Staged>) -> Result<Option<Row>, WorkerError> {
        if let Some(Staged {
            staging,
            prepared,
            digisos_id,
        }) = staged
        {
            // Synced before the journal said `downloaded`: rename, and the
            // fsync of inn/ shared with the publishes running now.
            let drop = self.drop.clone();
            let published = blocking(move || drop.publish_synced(staging)).await??;
            let (Published::New { path } | Published::AlreadyThere { path }) = &published;
            // One line per forsendelse for its delivery (the other: its kvittering).
            info!(folder = %path.display(), files = ?prepared.files, bytes = prepared.bytes, key = prepared.key_index, "decrypted, verified and published");
            return self.delivered(row, digisos_id).await.map(Some);
        }
        let name = self.name().to_owned();
        let id = row.id.clone();
        let attempted_before = self
            .journal
            .read(move |j| j.history(&name, &id))
            .await?
            .iter()
            .any(|a| a.action == PUBLISH);
        let drop = self.drop.clone();
        let id = row.id.clone();
        let found = match blocking(move || drop.existing_staging(&id)).await? {
            Some(staging) => {
                if !attempted_before {
                    // A row journaled `downloaded` by an earlier version, which
                    // recorded the attempt on its own: durable before the rename.
                    self.attempt(row, PUBLISH, Outcome::Ok).await?;
                }
                let drop = self.drop.clone();
                Some(blocking(move || drop.publish_synced(staging)).await??)
            }
            None => {
                let drop = self.drop.clone();
                let id = row.id.clone();
                match blocking(move || drop.locate(&id, attempted_before)).await?? {
                    Some(Location::Published(status)) => {
                        info!(?status, "found published after a restart");
                        Some(Published::AlreadyThere {
                            path: self.drop.inn().join(row.id.as_str()),
                        })
                    }
                    Some(Location::Staged) | None => None,
                }
            }
        };
        let Some(published) = found else {
            warn!("the staging folder was lost before publishing; downloading again");
            return self.transition(row, Change::Relisted).await.map(Some);
        };
        match &published {
            Published::New { path } => info!(folder = %path.display(), "published"),
            Published::AlreadyThere { path } => {
                info!(folder = %path.display(), "already published before a restart");
            }
        }
        let (drop, id) = (self.drop.clone(), row.id.clone());
        let forsendelse_type = row.forsendelse_type.clone();
        let digisos_id = blocking(move || {
            let folder = drop.open_published(&id).ok()?;
            digisos_id(&folder, forsendelse_type.as_deref())
        })
        .await?;
        self.delivered(row, digisos_id).await.map(Some)
    }

    /// The folder is durably in `inn/` (or was taken from it): `delivered`.
    async fn delivered(&self, row: &Row, digisos_id: Option<String>) -> Result<Row, WorkerError> {
        self.transition(
            row,
            Change::Delivered {
                folder_name: row.id.as_str().to_owned(),
                digisos_id,
            },
        )
        .await
    }

    /// `delivered` (on-import): has the fagsystem taken the folder?
    async fn check_import(&self, row: &Row) -> Result<Option<Row>, WorkerError> {
        let folder = row
            .folder_name
            .clone()
            .unwrap_or_else(|| row.id.as_str().to_owned());
        let drop = self.drop.clone();
        match blocking(move || drop.status(&folder)).await?? {
            DeliveryStatus::Waiting { .. } => Ok(None),
            DeliveryStatus::Imported => {
                info!("the fagsystem imported it");
                self.transition(row, Change::Imported).await.map(Some)
            }
            DeliveryStatus::Rejected { reason, .. } => {
                warn!(
                    reason = reason.as_deref().unwrap_or("(no feil.txt)"),
                    "the fagsystem could not import it (moved to feilet/)"
                );
                self.transition(row, Change::Rejected { reason })
                    .await
                    .map(Some)
            }
        }
    }

    /// `imported` (or `delivered` on-delivery) → `acked`.
    async fn ack(&self, row: &Row) -> Result<Option<Row>, WorkerError> {
        let result = {
            let _permit = self.calls.acquire().await;
            self.client.kvitter_mottak(row.id.as_str()).await
        };
        match result {
            Ok(()) => {
                info!("acknowledged (kvitterMottak)");
                let (name, id) = (self.name().to_owned(), row.id.clone());
                let next = self
                    .journal
                    .write(move |j| {
                        j.record_attempt(&name, &id, "kvitterMottak", &Outcome::Ok)?;
                        j.transition(&name, &id, Change::Acked)
                    })
                    .await?;
                Ok(Some(next))
            }
            Err(err) => {
                let error = err.to_string();
                let counters = self
                    .attempt(
                        row,
                        "kvitterMottak",
                        Outcome::Failed {
                            error: error.clone(),
                        },
                    )
                    .await?;
                warn!(error = %error, "kvitterMottak failed; trying again later");
                self.retry_later(row, counters.attempts, error)
                    .await
                    .map(Some)
            }
        }
    }

    /// `failed`/`permanent` not yet reported → mottakFeilet.
    async fn report(&self, row: &Row, permanent: bool) -> Result<Option<Row>, WorkerError> {
        let message = feilmelding(row, permanent);
        {
            let _permit = self.calls.acquire().await;
            self.client
                .mottak_feilet(row.id.as_str(), &message, permanent)
                .await?;
        }
        let name = self.name().to_owned();
        let id = row.id.clone();
        self.journal
            .write(move |j| {
                j.record_attempt(&name, &id, "mottakFeilet", &Outcome::Ok)?;
                j.mark_feil_reported(&name, &id)
            })
            .await?;
        info!(permanent, "reported to SvarInn (mottakFeilet)");
        Ok(None)
    }

    /// Listed again after `acked`: the acknowledgement's answer was lost.
    async fn reack(&self, id: ForsendelseId) {
        let span = info_span!(
            "forsendelse",
            mottakersystem = self.name(),
            id = id.as_str()
        );
        async {
            let result = {
                let _permit = self.calls.acquire().await;
                self.client.kvitter_mottak(id.as_str()).await
            };
            let outcome = match &result {
                Ok(()) => Outcome::Ok,
                Err(err) => Outcome::Failed {
                    error: err.to_string(),
                },
            };
            let name = self.name().to_owned();
            let id2 = id.clone();
            if let Err(err) = self
                .journal
                .write(move |j| j.record_attempt(&name, &id2, "kvitterMottak (again)", &outcome))
                .await
            {
                error!(error = %err, "could not record the repeated acknowledgement");
            }
            if let Err(err) = result {
                warn!(error = %err, "acknowledging again failed; the next poll tries again");
            }
        }
        .instrument(span)
        .await;
    }

    /// Listed again after `permanent`: say so again.
    async fn report_permanent_again(&self, id: ForsendelseId) {
        let name = self.name().to_owned();
        let id2 = id.clone();
        let Ok(Some(row)) = self.journal.read(move |j| j.get(&name, &id2)).await else {
            return;
        };
        let message = feilmelding(&row, true);
        let _permit = self.calls.acquire().await;
        if let Err(err) = self.client.mottak_feilet(id.as_str(), &message, true).await {
            warn!(mottakersystem = self.name(), forsendelse = id.as_str(), error = %err, "repeating mottakFeilet (permanent) failed; the next poll tries again");
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

/// The text the sender reads in SvarUt's event log: Norwegian, what happened,
/// and that the kommune knows.
fn feilmelding(row: &Row, permanent: bool) -> String {
    let reason = row
        .reason
        .as_deref()
        .or(row.last_error.as_deref())
        .unwrap_or("ukjent feil");
    if permanent {
        format!("Mottakers system kan ikke ta imot forsendelsen og har gitt den opp: {reason}")
    } else {
        format!(
            "Mottakers system kunne ikke ta imot forsendelsen: {reason}. Kommunens driftspersonell er varslet og følger opp."
        )
    }
}

fn step_name(work: Work) -> &'static str {
    match work {
        Work::Download => "download failed",
        Work::Publish => "publishing into inn/ failed",
        Work::AwaitImport => "checking the drop folder failed",
        Work::Ack => "kvitterMottak failed",
        Work::ReportFailure | Work::ReportPermanent => "mottakFeilet failed",
    }
}

/// Items of one list skipped for one reason: counted, and only the first
/// described, so a list of a million bad items makes one log line, not a million.
#[derive(Default)]
struct Skipped {
    count: usize,
    first: Option<String>,
}

impl Skipped {
    fn note(&mut self, describe: impl FnOnce() -> String) {
        /// Enough to recognise the item; what SvarInn sent may be any length.
        const MAX_CHARS: usize = 300;
        self.count += 1;
        if self.first.is_none() {
            let text = describe();
            self.first = Some(if text.chars().count() > MAX_CHARS {
                format!("{}…", text.chars().take(MAX_CHARS).collect::<String>())
            } else {
                text
            });
        }
    }

    fn warn(self, mottakersystem: &str, what: &str) {
        if let Some(first) = self.first {
            warn!(
                mottakersystem,
                skipped = self.count,
                "{} {what}; first: {first}",
                self.count
            );
        }
    }
}

/// The history action recorded before a staging folder is renamed into `inn/`.
const PUBLISH: &str = "publish";

struct PollSummary {
    /// The page was full and brought new forsendelser: SvarInn has more.
    full_with_new: bool,
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
