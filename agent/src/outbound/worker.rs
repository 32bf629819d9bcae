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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mottak_protocol::digisos::{
    DokumentInfo, FilMetadata, SakUpdate, describe_errors, replace_placeholders, validate_soker,
};
use time::OffsetDateTime;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::claim::{self, OutFolders};
use super::error::{FinishError, TurnError};
use super::kvittering::{self, Fil};
use super::validate::{self, LocalFile};
use crate::backoff::Backoff;
use crate::config::DigisosSettings;
use crate::dropfolder::dirfd::Dir;
use crate::fiks_client::{FiksCallError, FiksClient, mimetype_for};
use crate::journal::outbound::{OutboundFile, OutboundRow, OutboundState};
use crate::journal::{JournalError, SharedJournal};
use crate::pipeline::Health;

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

    /// Step 1: claimed folders against the journal.
    async fn tidy_claims(self: &Arc<Self>) -> Result<(), TurnError> {
        let folders = self.folders.clone();
        let claims = tokio::task::spawn_blocking(move || folders.claims())
            .await?
            .map_err(TurnError::ListClaims)?;
        for update_id in claims {
            let name = self.name.clone();
            let id = update_id.clone();
            let row = self
                .journal
                .call(move |j| j.outbound_row(&name, &id))
                .await?;
            match row {
                None => {
                    // Claimed, then a crash before the journal heard of it.
                    info!(mottakersystem = %self.name, update = %update_id, "outbound: journaling a claimed update found after a restart");
                    self.journal_claim(&update_id).await?;
                }
                Some(row) if row.state.is_pending() => {}
                Some(row)
                    if matches!(row.state, OutboundState::Failed | OutboundState::Discarded) =>
                {
                    let text = row.last_error.clone().unwrap_or_default();
                    let folder = row.failed_folder.clone().unwrap_or_else(|| {
                        claim::feilet_name(&update_id, OffsetDateTime::now_utc())
                    });
                    self.move_to_feilet(&update_id, &folder, &text).await;
                }
                // Sent or superseded: the task that journaled it is moving
                // it now, or a crash came between the journal and the move.
                Some(row) if self.is_in_flight(&row.digisos_id) => {}
                Some(_) => {
                    let warned = self
                        .health
                        .unmoved
                        .lock()
                        .is_ok_and(|w| w.contains_key(&update_id));
                    if !warned {
                        info!(mottakersystem = %self.name, update = %update_id, "outbound: finishing an update journaled as done whose folder had not reached ut-sendt/ (a restart, or a failed move)");
                    }
                    self.finish(&update_id, None).await;
                }
            }
        }
        Ok(())
    }

    /// Step 2: claim what the fagsystem finished, and check it at once.
    async fn claim_ready(self: &Arc<Self>) -> Result<(), TurnError> {
        let folders = self.folders.clone();
        let scan = tokio::task::spawn_blocking(move || folders.scan_ut())
            .await?
            .map_err(TurnError::ReadUt)?;
        self.note_ignored(&scan.ignored);
        for r in scan.ready {
            let n = self.claims.fetch_add(1, Ordering::Relaxed);
            let folders = self.folders.clone();
            let r2 = r.clone();
            let claimed = tokio::task::spawn_blocking(move || {
                folders.claim(&r2, OffsetDateTime::now_utc(), n)
            })
            .await?;
            match claimed {
                Ok(Some(update_id)) => {
                    info!(mottakersystem = %self.name, folder = %r.shown().escape_debug(), update = %update_id, "outbound: claimed an update from ut/");
                    self.journal_claim(&update_id).await?;
                }
                Ok(None) => {}
                Err(source) => {
                    return Err(TurnError::Claim {
                        folder: r.shown().escape_debug().to_string(),
                        staging: self.folders.staging().display().to_string(),
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    /// Keeps [`OutboundHealth::ignored`] to what `ut/` holds now, and warns
    /// once for each entry newly found there.
    fn note_ignored(&self, now: &[claim::Ignored]) {
        let Ok(mut known) = self.health.ignored.lock() else {
            return;
        };
        known.retain(|name, _| now.iter().any(|i| &i.name == name));
        for i in now {
            if known.contains_key(&i.name) {
                continue;
            }
            let reason = i.reason();
            warn!(mottakersystem = %self.name, "outbound: {reason}");
            known.insert(
                i.name.clone(),
                IgnoredEntry {
                    reason,
                    since_ms: self.health.now_ms(),
                },
            );
        }
    }

    /// Journals a claimed folder and checks it; bad input goes to `ut-feilet/`.
    async fn journal_claim(self: &Arc<Self>, update_id: &str) -> Result<(), TurnError> {
        let name = self.name.clone();
        let id = update_id.to_owned();
        let digisos_id = claim::original_name(update_id).to_ascii_lowercase();
        let row = self
            .journal
            .call(move |j| j.outbound_claimed(&name, &id, &digisos_id))
            .await?;
        if !row.state.is_pending() {
            return Ok(());
        }
        let folders = self.folders.clone();
        let id = update_id.to_owned();
        let original = claim::original_name(update_id).to_owned();
        let checked = tokio::task::spawn_blocking(move || match folders.claimed_dir(&id) {
            Ok(Some(dir)) => validate::check_unsent(&dir, &original).map(drop),
            // Gone: the task that sends it finds out and says so.
            Ok(None) => Ok(()),
            Err(e) if validate::refused(&e).is_some() => {
                Err(vec![format!("the claimed folder cannot be used: {e}")])
            }
            // The agent's side (handles, permissions): the task retries it.
            Err(_) => Ok(()),
        })
        .await?;
        if let Err(problems) = checked {
            self.fail(&row, "validate", &problems).await;
        }
        Ok(())
    }

    /// Step 3: supersede and start.
    async fn start_due(self: &Arc<Self>, tasks: &mut JoinSet<()>) -> Result<(), TurnError> {
        let name = self.name.clone();
        let due = self
            .journal
            .call(move |j| {
                j.outbound_rows(
                    &name,
                    &[OutboundState::Queued, OutboundState::RetryWait],
                    usize::MAX,
                )
            })
            .await?;
        let now = self.health.now_ms();
        let mut by_case: BTreeMap<String, Vec<OutboundRow>> = BTreeMap::new();
        for row in due {
            by_case.entry(row.digisos_id.clone()).or_default().push(row);
        }
        for (case, mut rows) in by_case {
            if self.is_in_flight(&case) {
                continue;
            }
            rows.sort_by_key(|r| r.claim_seq);
            let Some(newest) = rows.pop() else { continue };
            for old in rows {
                self.supersede(&old, &newest.update_id).await;
            }
            let waiting = newest.state == OutboundState::RetryWait
                && newest.next_attempt_at.is_some_and(|t| t > now);
            if waiting || self.in_flight_count() >= MAX_CASES_IN_FLIGHT {
                continue;
            }
            if let Ok(mut f) = self.in_flight.lock() {
                f.insert(case.clone());
            }
            let me = Arc::clone(self);
            tasks.spawn(async move {
                me.process(newest).await;
                if let Ok(mut f) = me.in_flight.lock() {
                    f.remove(&case);
                }
            });
        }
        Ok(())
    }

    fn is_in_flight(&self, case: &str) -> bool {
        self.in_flight.lock().is_ok_and(|f| f.contains(case))
    }

    fn in_flight_count(&self) -> usize {
        self.in_flight.lock().map_or(0, |f| f.len())
    }

    async fn supersede(&self, row: &OutboundRow, by: &str) {
        let name = self.name.clone();
        let id = row.update_id.clone();
        let newer = by.to_owned();
        match self
            .journal
            .call(move |j| j.outbound_superseded(&name, &id, &newer))
            .await
        {
            Ok(true) => {
                info!(mottakersystem = %self.name, update = %row.update_id, digisos_id = %row.digisos_id, newer = %by, "outbound: superseded by a newer update for the same case; not sent");
                self.finish(&row.update_id, None).await;
            }
            Ok(false) => {}
            Err(e) => {
                warn!(mottakersystem = %self.name, update = %row.update_id, "outbound: cannot journal the supersede: {e}")
            }
        }
    }

    /// One update, from its claimed folder to Fiks.
    pub async fn process(self: &Arc<Self>, row: OutboundRow) {
        match self.steps(&row).await {
            Ok(Done::Sent { files, bytes }) => {
                self.health.sent.fetch_add(1, Ordering::Relaxed);
                info!(mottakersystem = %self.name, update = %row.update_id, digisos_id = %row.digisos_id, files, bytes, "outbound: saksoppdatering sent to Fiks Digisos");
            }
            Ok(Done::Superseded { by }) => {
                let name = self.name.clone();
                let id = row.update_id.clone();
                let by2 = by.clone();
                let _ = self
                    .journal
                    .call(move |j| j.outbound_superseded(&name, &id, &by2))
                    .await;
                info!(mottakersystem = %self.name, update = %row.update_id, newer = %by, "outbound: superseded before it was posted");
                self.finish(&row.update_id, None).await;
            }
            Err(StepError::Invalid { action, problems }) => {
                self.fail(&row, action, &problems).await;
            }
            Err(StepError::Fiks { action, error }) if error.is_permanent() => {
                self.fail(&row, action, &[error.to_string()]).await;
            }
            Err(StepError::Fiks { action, error }) => {
                self.retry_later(&row, action, &error.to_string()).await;
            }
            Err(StepError::Local { action, error }) => {
                self.retry_later(&row, action, &error).await;
            }
        }
    }

    async fn steps(self: &Arc<Self>, row: &OutboundRow) -> Result<Done, StepError> {
        let case = row.digisos_id.clone();
        let dir = match self.open_claim(row).await? {
            Some(dir) => dir,
            None => {
                self.recover_claim_dir(row).await?;
                self.open_claim(row)
                    .await?
                    .ok_or_else(|| self.claim_gone(row))?
            }
        };
        let original = claim::original_name(&row.update_id).to_owned();
        let d = dir.clone();
        let prepared = tokio::task::spawn_blocking(move || validate::check_unsent(&d, &original))
            .await
            .map_err(|e| StepError::Local {
                action: "validate",
                error: e.to_string(),
            })?
            .map_err(|problems| StepError::Invalid {
                action: "validate",
                problems,
            })?;
        if let Some(by) = self.newer_than(row).await? {
            return Ok(Done::Superseded { by });
        }

        // Files: each distinct content once per case.
        let mut ids: HashMap<String, String> = HashMap::new();
        let mut listing: Option<Vec<DokumentInfo>> = None;
        let mut total_bytes = 0u64;
        // For the kvittering: filename → (sha256, size), sha256 → id.
        let mut shas = BTreeMap::new();
        let mut ids_by_sha = HashMap::new();
        for file in prepared.files.values() {
            total_bytes += file.size;
            // Opened once (never through a link), hashed and uploaded from
            // the same handle: what is hashed is what is sent.
            let (open, sha) = open_and_hash(&dir, file).await?;
            let id = self
                .ensure_uploaded(row, file, open, &sha, &mut listing)
                .await?;
            ids.insert(file.filename.clone(), id.clone());
            shas.insert(file.filename.clone(), (sha.clone(), file.size));
            ids_by_sha.insert(sha, id);
        }
        let filer = kvittering::filer(&prepared.doc, &shas, &ids_by_sha);

        let mut doc = prepared.doc;
        replace_placeholders(&mut doc, &ids).map_err(|errors| StepError::Invalid {
            action: "replace placeholders",
            problems: errors.iter().map(ToString::to_string).collect(),
        })?;
        validate_soker(&doc).map_err(|errors| StepError::Invalid {
            action: "validate",
            problems: describe_errors(&errors)
                .lines()
                .map(|l| l.trim_start_matches("- ").to_owned())
                .collect(),
        })?;
        if let Some(by) = self.newer_than(row).await? {
            return Ok(Done::Superseded { by });
        }
        self.fiks
            .post_update(&case, &SakUpdate::new(doc))
            .await
            .map_err(|error| StepError::Fiks {
                action: "post",
                error,
            })?;
        let files = prepared.files.len() as u64;
        let name = self.name.clone();
        let id = row.update_id.clone();
        self.journal
            .call(move |j| j.outbound_sent(&name, &id, files, total_bytes))
            .await?;
        // Durably `sent`: from here on the update is only moved, never sent
        // again (a failed move is tried again at every turn).
        self.finish(&row.update_id, Some(filer)).await;
        Ok(Done::Sent {
            files,
            bytes: total_bytes,
        })
    }

    /// Moves the claimed folder of an update journaled `sent` or
    /// `superseded` to `ut-sendt/` with its `kvittering.json`. `known`: a
    /// sent update's files, when the caller has them (else read again from
    /// the folder). A failure is logged once and tried again at every turn
    /// (the claim stays in `.mottak/`, and the row says what to do with it).
    async fn finish(&self, update_id: &str, known: Option<Vec<Fil>>) {
        match self.try_finish(update_id, known).await {
            Ok(Some(folder)) => {
                self.moved(update_id);
                info!(mottakersystem = %self.name, update = %update_id, folder = %format!("ut-sendt/{folder}"), "outbound: moved to ut-sendt/ with kvittering.json");
            }
            // Nothing left in .mottak/ to move.
            Ok(None) => self.moved(update_id),
            Err(e) => {
                if self.not_moved(update_id, crate::dropfolder::UT_SENDT_DIR, &e.to_string()) {
                    error!(mottakersystem = %self.name, update = %update_id, "outbound: {e}; the update is done (the journal says so) but the fagsystem cannot see it until the folder moves; tried again every turn");
                }
            }
        }
    }

    async fn try_finish(
        &self,
        update_id: &str,
        known: Option<Vec<Fil>>,
    ) -> Result<Option<String>, FinishError> {
        let (name, id) = (self.name.clone(), update_id.to_owned());
        let facts = self
            .journal
            .call(move |j| kvittering::facts(j, &name, &id))
            .await
            .map_err(FinishError::ReadJournal)?;
        let Some(facts) = facts else {
            return Ok(None);
        };
        let folders = self.folders.clone();
        let moved = tokio::task::spawn_blocking(move || {
            let k = kvittering::build(&facts, &folders, known);
            kvittering::move_finished(&folders, &facts, &k)
        })
        .await??;
        if let Some(folder) = moved.clone() {
            let (name, id) = (self.name.clone(), update_id.to_owned());
            if let Err(e) = self
                .journal
                .call(move |j| kvittering::note_moved(j, &name, &id, &folder))
                .await
            {
                // Only the history line is missing; the move is done.
                warn!(mottakersystem = %self.name, update = %update_id, "outbound: cannot note the move to ut-sendt/ in the journal: {e}");
            }
        }
        Ok(moved)
    }

    /// The claimed folder, opened; `None` when it is not there.
    async fn open_claim(&self, row: &OutboundRow) -> Result<Option<Dir>, StepError> {
        let folders = self.folders.clone();
        let id = row.update_id.clone();
        match tokio::task::spawn_blocking(move || folders.claimed_dir(&id)).await {
            Ok(Ok(dir)) => Ok(dir),
            Ok(Err(e)) if validate::refused(&e).is_some() => Err(StepError::Invalid {
                action: "claim",
                problems: vec![format!("the claimed folder cannot be used: {e}")],
            }),
            Ok(Err(e)) => Err(StepError::Local {
                action: "claim",
                error: e.to_string(),
            }),
            Err(e) => Err(StepError::Local {
                action: "claim",
                error: e.to_string(),
            }),
        }
    }

    fn claim_gone(&self, row: &OutboundRow) -> StepError {
        StepError::Invalid {
            action: "claim",
            problems: vec![format!(
                "the claimed folder {} is gone (removed by someone else?); write the update again to ut/",
                self.folders.claimed(&row.update_id).display()
            )],
        }
    }

    /// The claimed folder is missing: a person retried the update and the
    /// agent stopped between the journal and the move back from `ut-feilet/`.
    async fn recover_claim_dir(&self, row: &OutboundRow) -> Result<(), StepError> {
        if let Some(failed) = row.failed_folder.clone() {
            let folders = self.folders.clone();
            let id = row.update_id.clone();
            let moved =
                tokio::task::spawn_blocking(move || folders.take_back_from_feilet(&failed, &id))
                    .await;
            match moved {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) if validate::refused(&e).is_some() => {
                    return Err(StepError::Invalid {
                        action: "claim",
                        problems: vec![format!("cannot take the update back for its retry: {e}")],
                    });
                }
                _ => {}
            }
        }
        Err(self.claim_gone(row))
    }

    async fn newer_than(&self, row: &OutboundRow) -> Result<Option<String>, StepError> {
        let name = self.name.clone();
        let case = row.digisos_id.clone();
        let seq = row.claim_seq;
        Ok(self
            .journal
            .call(move |j| j.outbound_newer(&name, &case, seq))
            .await?
            .map(|r| r.update_id))
    }

    /// The case's `dokumentlagerDokumentId` for this content: journaled,
    /// found in Fiks's list after a crash, or uploaded now.
    async fn ensure_uploaded(
        &self,
        row: &OutboundRow,
        file: &LocalFile,
        open: Arc<std::fs::File>,
        sha: &str,
        listing: &mut Option<Vec<DokumentInfo>>,
    ) -> Result<String, StepError> {
        let case = row.digisos_id.clone();
        let name = self.name.clone();
        let (c, s) = (case.clone(), sha.to_owned());
        let known = self
            .journal
            .call(move |j| j.outbound_file(&name, &c, &s))
            .await?;
        let journaled_name = match known {
            Some(OutboundFile {
                dokument_id: Some(id),
                ..
            }) => {
                debug!(mottakersystem = %self.name, update = %row.update_id, file = %file.filename, "outbound: already on the case");
                return Ok(id);
            }
            Some(f) => {
                // Began before a crash or a lost answer: did it arrive?
                if listing.is_none() {
                    *listing = Some(self.fiks.list_files(&case).await.map_err(|error| {
                        StepError::Fiks {
                            action: "reconcile",
                            error,
                        }
                    })?);
                }
                let name = self.name.clone();
                let c = case.clone();
                let known_ids: HashSet<String> = self
                    .journal
                    .call(move |j| j.outbound_case_document_ids(&name, &c))
                    .await?
                    .into_iter()
                    .collect();
                let found = listing.as_ref().and_then(|l| {
                    l.iter().find(|i| {
                        i.filnavn == f.filnavn
                            && i.storrelse == f.storrelse
                            && !known_ids
                                .contains(&i.dokumentlager_dokument_id.to_ascii_lowercase())
                    })
                });
                if let Some(info) = found {
                    let id = info.dokumentlager_dokument_id.to_ascii_lowercase();
                    info!(mottakersystem = %self.name, update = %row.update_id, file = %file.filename, "outbound: the upload before the restart had arrived (found in GET .../filer); not uploading it again");
                    self.journal_uploaded(row, &case, sha, &id, "reconcile")
                        .await?;
                    return Ok(id);
                }
                f.filnavn
            }
            None => {
                let entry = OutboundFile {
                    digisos_id: case.clone(),
                    sha256: sha.to_owned(),
                    filnavn: file.filename.clone(),
                    storrelse: file.size,
                    dokument_id: None,
                };
                let name = self.name.clone();
                self.journal
                    .call(move |j| j.outbound_file_uploading(&name, &entry))
                    .await?;
                file.filename.clone()
            }
        };
        let meta = FilMetadata {
            filnavn: journaled_name.clone(),
            mimetype: mimetype_for(&journaled_name).to_owned(),
            storrelse: file.size,
        };
        let info = self
            .fiks
            .upload(&case, open, &meta)
            .await
            .map_err(|error| StepError::Fiks {
                action: "upload",
                error,
            })?;
        let id = info.dokumentlager_dokument_id;
        self.journal_uploaded(row, &case, sha, &id, "upload")
            .await?;
        info!(mottakersystem = %self.name, update = %row.update_id, file = %file.filename, bytes = file.size, "outbound: file uploaded");
        Ok(id)
    }

    async fn journal_uploaded(
        &self,
        row: &OutboundRow,
        case: &str,
        sha: &str,
        id: &str,
        action: &'static str,
    ) -> Result<(), StepError> {
        let (name, c, s, i, u) = (
            self.name.clone(),
            case.to_owned(),
            sha.to_owned(),
            id.to_owned(),
            row.update_id.clone(),
        );
        self.journal
            .call(move |j| {
                j.outbound_file_uploaded(&name, &c, &s, &i)?;
                j.outbound_note(&name, &u, action, "ok", None)
            })
            .await?;
        Ok(())
    }

    async fn retry_later(&self, row: &OutboundRow, action: &'static str, error: &str) {
        let delay = RETRY.delay_with_random_jitter(row.attempts);
        let next = self.health.now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
        let (name, id, e) = (self.name.clone(), row.update_id.clone(), error.to_owned());
        match self
            .journal
            .call(move |j| j.outbound_retry_wait(&name, &id, next, action, &e))
            .await
        {
            Ok(attempts) => {
                warn!(mottakersystem = %self.name, update = %row.update_id, digisos_id = %row.digisos_id, attempts, retry_in = ?delay, "outbound: {action} failed, will retry: {error}")
            }
            Err(e) => {
                error!(mottakersystem = %self.name, update = %row.update_id, "outbound: cannot journal a retry: {e}")
            }
        }
    }

    /// Journals `failed` with every problem, then moves the folder to `ut-feilet/`.
    async fn fail(&self, row: &OutboundRow, action: &'static str, problems: &[String]) {
        let folder = claim::feilet_name(&row.update_id, OffsetDateTime::now_utc());
        let text = validate::feil_txt(&row.digisos_id, &row.update_id, problems);
        let (name, id, f, t) = (
            self.name.clone(),
            row.update_id.clone(),
            folder.clone(),
            text.clone(),
        );
        match self
            .journal
            .call(move |j| j.outbound_failed(&name, &id, &f, action, &t))
            .await
        {
            Ok(true) => {
                warn!(mottakersystem = %self.name, update = %row.update_id, digisos_id = %row.digisos_id, folder = %folder, problems = problems.len(), "outbound: not sent; moved to ut-feilet/ with feil.txt: {}", problems.join("; "));
                self.move_to_feilet(&row.update_id, &folder, &text).await;
            }
            Ok(false) => {}
            Err(e) => {
                error!(mottakersystem = %self.name, update = %row.update_id, "outbound: cannot journal a failure: {e}")
            }
        }
    }

    /// A done update's folder moved out of `.mottak/`.
    fn moved(&self, update_id: &str) {
        if let Ok(mut u) = self.health.unmoved.lock() {
            u.remove(update_id);
        }
    }

    /// Records that moving a done update's folder to `to/` failed; true the
    /// first time (warn once, not every turn).
    fn not_moved(&self, update_id: &str, to: &'static str, error: &str) -> bool {
        let Ok(mut u) = self.health.unmoved.lock() else {
            return false;
        };
        match u.get_mut(update_id) {
            Some(known) => {
                known.to = to;
                error.clone_into(&mut known.error);
                false
            }
            None => {
                u.insert(
                    update_id.to_owned(),
                    Unmoved {
                        to,
                        error: error.to_owned(),
                        since_ms: self.health.now_ms(),
                    },
                );
                true
            }
        }
    }

    async fn move_to_feilet(&self, update_id: &str, folder: &str, text: &str) {
        let folders = self.folders.clone();
        let (id, f, t) = (update_id.to_owned(), folder.to_owned(), text.to_owned());
        let result = tokio::task::spawn_blocking(move || folders.move_to_feilet(&id, &f, &t)).await;
        match result {
            Ok(Ok(())) => self.moved(update_id),
            Ok(Err(e)) => {
                if self.not_moved(update_id, crate::dropfolder::UT_FEILET_DIR, &e.to_string()) {
                    error!(mottakersystem = %self.name, update = %update_id, "outbound: cannot move the update to {}: {e}; tried again every turn", self.folders.ut_feilet().join(folder).display());
                }
            }
            Err(e) => error!("outbound: {e}"),
        }
    }
}

/// Opens a referenced file of the claimed folder and hashes it, on the
/// blocking pool. A file replaced since the check (a link, a FIFO, gone)
/// fails the update with the reason; a read error is retried.
async fn open_and_hash(
    dir: &Dir,
    file: &LocalFile,
) -> Result<(Arc<std::fs::File>, String), StepError> {
    let (d, f) = (dir.clone(), file.clone());
    tokio::task::spawn_blocking(move || {
        let open = d
            .open_file(&f.name)
            .map_err(|e| match validate::open_problem(&f, &e) {
                Some(problem) => StepError::Invalid {
                    action: "hash",
                    problems: vec![problem],
                },
                None => StepError::Local {
                    action: "hash",
                    error: e.to_string(),
                },
            })?;
        let sha = validate::sha256_open(&open, f.size).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                StepError::Invalid {
                    action: "hash",
                    problems: vec![format!(
                        "{} was cut short after the agent claimed the folder ({e})",
                        f.filename
                    )],
                }
            } else {
                StepError::Local {
                    action: "hash",
                    error: format!("cannot read {}: {e}", d.path_of(&f.name).display()),
                }
            }
        })?;
        Ok((Arc::new(open), sha))
    })
    .await
    .map_err(|e| StepError::Local {
        action: "hash",
        error: e.to_string(),
    })?
}
