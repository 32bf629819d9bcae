//! Steps 1 to 3 of a turn: claimed folders against the journal, claiming
//! `ut/` folders marked `KLAR`, and starting a task per case. Separate from
//! what a task does with its update.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use time::OffsetDateTime;
use tokio::task::JoinSet;
use tracing::{info, warn};

use super::{IgnoredEntry, MAX_CASES_IN_FLIGHT, OutboundWorker};
use crate::journal::outbound::{OutboundRow, OutboundState};
use crate::outbound::error::TurnError;
use crate::outbound::{claim, validate};

impl OutboundWorker {
    /// Step 1: claimed folders against the journal.
    pub(super) async fn tidy_claims(self: &Arc<Self>) -> Result<(), TurnError> {
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
    /// `true` when a folder being written is newly watched: look again soon.
    pub(super) async fn claim_ready(self: &Arc<Self>) -> Result<bool, TurnError> {
        let folders = self.folders.clone();
        let scan = tokio::task::spawn_blocking(move || folders.scan_ut())
            .await?
            .map_err(TurnError::ReadUt)?;
        self.note_ignored(&scan.ignored);
        let newly_watched = self.watch_waiting(&scan.waiting);
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
        Ok(newly_watched)
    }

    /// Keeps [`OutboundHealth::ignored`] to what `ut/` holds now, and warns
    /// once for each entry newly found there.
    pub(super) fn note_ignored(&self, now: &[claim::Ignored]) {
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
    pub(super) async fn journal_claim(self: &Arc<Self>, update_id: &str) -> Result<(), TurnError> {
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

    /// Step 3: supersede and start. Returns when (Unix ms) the soonest
    /// update left waiting to retry comes due.
    pub(super) async fn start_due(
        self: &Arc<Self>,
        tasks: &mut JoinSet<()>,
    ) -> Result<Option<i64>, TurnError> {
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
        let mut retry_due: Option<i64> = None;
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
            if waiting {
                let at = newest.next_attempt_at.unwrap_or(now);
                retry_due = Some(retry_due.map_or(at, |d| d.min(at)));
                continue;
            }
            // Full: a task ending wakes the loop, which starts this one.
            if self.in_flight_count() >= MAX_CASES_IN_FLIGHT {
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
        Ok(retry_due)
    }

    pub(super) fn is_in_flight(&self, case: &str) -> bool {
        self.in_flight.lock().is_ok_and(|f| f.contains(case))
    }

    pub(super) fn in_flight_count(&self) -> usize {
        self.in_flight.lock().map_or(0, |f| f.len())
    }

    pub(super) async fn supersede(&self, row: &OutboundRow, by: &str) {
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
}
