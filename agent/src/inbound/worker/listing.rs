//! Polling SvarInn: listing every page, recording what is new, and starting
//! a task for each row that has work. Separate from the steps a task runs.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mottak_protocol::listed::parse_item;
use mottak_protocol::svarinn::MAX_PAGE;
use time::OffsetDateTime;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, warn};

use super::{STEP_BACKOFF, Worker, WorkerError, blocking};
use crate::config::AckMode;
use crate::journal::{Change, JournalError, ListedDecision, NewForsendelse, State};
use crate::names::ForsendelseId;

impl Worker {
    /// Lists every page SvarInn has and records each forsendelse.
    pub(super) async fn poll(
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

    pub(super) async fn poll_once(
        self: &Arc<Self>,
        tasks: &mut JoinSet<()>,
        shutdown: &CancellationToken,
    ) -> Result<PollSummary, WorkerError> {
        // An acknowledgement sent after this instant may not be reflected in
        // the list yet: such a forsendelse is not "listed again".
        let requested_at = OffsetDateTime::now_utc();
        let listed = self.client.list().await?;
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
            let forsendelse = match &item.listed {
                Ok(f) => f,
                Err(err) => {
                    unreadable
                        .note(|| format!("{}: {err}", item.id.as_deref().unwrap_or("(no id)")));
                    continue;
                }
            };
            match NewForsendelse::from_listed(forsendelse) {
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
        let (decisions, page) = self
            .journal
            .write(move |j| Ok((j.record_listed_page(&name, &page)?, page)))
            .await?;
        let known_not_downloaded: Vec<NewForsendelse> = page
            .into_iter()
            .zip(&decisions)
            .filter(|(_, d)| matches!(d, ListedDecision::Known(State::Listed | State::RetryWait)))
            .map(|(f, _)| f)
            .collect();
        self.take_listings_after_a_switch(known_not_downloaded)
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

    /// Forsendelser listed by the other SvarInn API before `svarinn_api` was switched and not
    /// downloaded yet: their recorded listing (download link, `forsendelse.json`) is replaced
    /// by this API's, so the download follows the link of the API spoken now. `known` are the
    /// known, not yet downloaded forsendelser of this list; those recorded from this API's
    /// listing are left as they are (the JSON as first received is kept).
    pub(super) async fn take_listings_after_a_switch(
        &self,
        known: Vec<NewForsendelse>,
    ) -> Result<(), WorkerError> {
        if known.is_empty() {
            return Ok(());
        }
        let api = self.client.api();
        let name = self.name().to_owned();
        let stale: Vec<NewForsendelse> = self
            .journal
            .read(move |j| {
                let mut stale = Vec::new();
                for f in known {
                    let Some(row) = j.get(&name, &f.id)? else {
                        continue;
                    };
                    if parse_item(api, &row.raw_json).is_err()
                        && parse_item(api.other(), &row.raw_json).is_ok()
                    {
                        stale.push(f);
                    }
                }
                Ok(stale)
            })
            .await?;
        if stale.is_empty() {
            return Ok(());
        }
        let name = self.name().to_owned();
        let replaced = self
            .journal
            .write(move |j| {
                let mut replaced = Vec::new();
                for f in &stale {
                    if j.replace_listing(&name, f)? {
                        replaced.push(f.id.clone());
                    }
                }
                Ok(replaced)
            })
            .await?;
        for id in replaced {
            info!(
                mottakersystem = self.name(),
                forsendelse = id.as_str(),
                "listed before svarinn_api was switched and not downloaded yet: took the {} listing (its download link and forsendelse.json)",
                api.as_str()
            );
        }
        Ok(())
    }

    /// Whether `id` was acknowledged at or after `instant` (journal times are
    /// whole milliseconds, so within the same millisecond counts as after).
    pub(super) async fn acked_since(
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
    pub(super) async fn spawn_due(
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
    pub(super) async fn repair_moved_back(&self) -> Result<(), WorkerError> {
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
    pub(super) fn spawn_row(
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

    pub(super) fn waiting(&self, key: &str, now: Instant) -> bool {
        let map = self.not_before.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).is_some_and(|(at, _)| *at > now)
    }

    /// Remembers a failed step with no journal state to wait in; returns the delay.
    pub(super) fn hold_off(&self, key: &str) -> Duration {
        let mut map = self.not_before.lock().unwrap_or_else(|p| p.into_inner());
        let failures = map.get(key).map_or(0, |(_, n)| *n);
        let delay = STEP_BACKOFF.delay_with_random_jitter(failures);
        map.insert(key.to_owned(), (Instant::now() + delay, failures + 1));
        delay
    }

    pub(super) fn clear_hold(&self, key: &str) {
        self.not_before
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
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
    pub(super) fn note(&mut self, describe: impl FnOnce() -> String) {
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

    pub(super) fn warn(self, mottakersystem: &str, what: &str) {
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

pub(super) struct PollSummary {
    /// The page was full and brought new forsendelser: SvarInn has more.
    pub(super) full_with_new: bool,
}
