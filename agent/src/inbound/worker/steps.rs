//! The steps one forsendelse's task runs: download, publish, check the import,
//! acknowledge, report a failure. Each records its transition in the journal.

use std::time::Duration;

use mottak_protocol::listed::parse_item;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, warn};

use super::duplicate::{PUBLISH, claim_for_publish};
use super::{LOW_SPACE_RECHECK, STEP_BACKOFF, Worker, WorkerError, blocking};
use crate::dropfolder::{DeliveryStatus, Location, Published};
use crate::inbound::deliver::{DeliverError, Staged, Wanted, download_and_stage, innsending_key};
use crate::inbound::fetch::FailureClass;
use crate::inbound::link::Pool;
use crate::journal::{Change, Outcome, Row};
use crate::names::ForsendelseId;

impl Worker {
    /// `listed` → `downloaded`, or a retry, or `failed` after too many bad
    /// files. On success `staged` holds the synced staging folder for the
    /// publish step.
    pub(super) async fn download(
        &self,
        row: &Row,
        staged: &mut Option<Staged>,
        shutdown: &CancellationToken,
    ) -> Result<Option<Row>, WorkerError> {
        // Recorded from the configured API's list, or (listed before a switch) the other's.
        let api = self.client.api();
        let forsendelse = match parse_item(api, &row.raw_json)
            .or_else(|err| parse_item(api.other(), &row.raw_json).map_err(|_| err))
        {
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
        let permit = self.link.slot(Pool::Downloads).await;
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
                // The attempt, the transition, the innsending's claim and the
                // publish attempt in one transaction. The publish attempt is
                // recorded (durable) before the rename, so a restart that finds
                // the staging gone knows the rename happened (DropFolder::locate).
                // A duplicate records its link instead, and is never published.
                let (name, id) = (self.name().to_owned(), row.id.clone());
                let key = done.innsending.clone();
                let (next, duplicate) = self
                    .journal
                    .write(move |j| {
                        j.record_attempt(&name, &id, "download", &Outcome::Ok)?;
                        let next = j.transition(&name, &id, Change::Downloaded)?;
                        let duplicate = claim_for_publish(j, &name, &id, key.as_ref(), true)?;
                        Ok((next, duplicate))
                    })
                    .await?;
                if duplicate.is_none() {
                    *staged = Some(done);
                }
                // Else the publish step finds the link, removes the staging and acknowledges.
                Ok(Some(next))
            }
            Err(err) => self.download_failed(row, &err).await.map(Some),
        }
    }

    pub(super) async fn download_failed(
        &self,
        row: &Row,
        err: &DeliverError,
    ) -> Result<Row, WorkerError> {
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

    pub(super) async fn retry_later(
        &self,
        row: &Row,
        attempts: u32,
        error: String,
    ) -> Result<Row, WorkerError> {
        let delay = STEP_BACKOFF.delay_with_random_jitter(attempts.saturating_sub(1));
        self.retry_in(row, delay, error).await
    }

    pub(super) async fn retry_in(
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
    pub(super) async fn publish(
        &self,
        row: &Row,
        staged: Option<Staged>,
    ) -> Result<Option<Row>, WorkerError> {
        if let Some(Staged {
            staging,
            prepared,
            innsending,
        }) = staged
        {
            // Synced before the journal said `downloaded`: rename, and the
            // fsync of inn/ shared with the publishes running now.
            let drop = self.drop.clone();
            let published = blocking(move || drop.publish_synced(staging)).await??;
            let (Published::New { path } | Published::AlreadyThere { path }) = &published;
            // One line per forsendelse for its delivery (the other: its kvittering).
            info!(folder = %path.display(), files = ?prepared.files, bytes = prepared.bytes, key = prepared.key_index, "decrypted, verified and published");
            let digisos_id = innsending.map(|k| k.digisos_id);
            return self.delivered(row, digisos_id).await.map(Some);
        }
        // A restart, a retry, or a duplicate found by the download step: the link first,
        // so a duplicate is acknowledged and never published.
        if let Some(holder) = self.duplicate_link(row).await? {
            return self.acknowledge_duplicate(row, &holder).await.map(Some);
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
                // Claimed (again: the same claim is ours) before the rename: a row
                // journaled `downloaded` by an earlier version took none. Such a row
                // also recorded the publish attempt on its own: durable before the rename.
                let forsendelse_type = row.forsendelse_type.clone();
                let id = row.id.clone();
                let (staging, key) = blocking(move || {
                    let key = innsending_key(staging.dir(), &id, forsendelse_type.as_deref());
                    (staging, key)
                })
                .await?;
                if key.is_some() || !attempted_before {
                    let (name, id) = (self.name().to_owned(), row.id.clone());
                    let duplicate = self
                        .journal
                        .write(move |j| {
                            claim_for_publish(j, &name, &id, key.as_ref(), !attempted_before)
                        })
                        .await?;
                    if let Some(holder) = duplicate {
                        std::mem::drop(staging);
                        return self.acknowledge_duplicate(row, &holder).await.map(Some);
                    }
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
            innsending_key(&folder, &id, forsendelse_type.as_deref()).map(|k| k.digisos_id)
        })
        .await?;
        self.delivered(row, digisos_id).await.map(Some)
    }

    /// The folder is durably in `inn/` (or was taken from it): `delivered`.
    pub(super) async fn delivered(
        &self,
        row: &Row,
        digisos_id: Option<String>,
    ) -> Result<Row, WorkerError> {
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
    pub(super) async fn check_import(&self, row: &Row) -> Result<Option<Row>, WorkerError> {
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
    pub(super) async fn ack(&self, row: &Row) -> Result<Option<Row>, WorkerError> {
        let action = self.client.ack_name();
        let result = {
            let _slot = self.link.slot(Pool::Calls).await;
            self.client.acknowledge(row.id.as_str()).await
        };
        match result {
            Ok(()) => {
                info!("acknowledged ({action})");
                let (name, id) = (self.name().to_owned(), row.id.clone());
                let next = self
                    .journal
                    .write(move |j| {
                        j.record_attempt(&name, &id, action, &Outcome::Ok)?;
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
                        action,
                        Outcome::Failed {
                            error: error.clone(),
                        },
                    )
                    .await?;
                warn!(error = %error, "{action} failed; trying again later");
                self.retry_later(row, counters.attempts, error)
                    .await
                    .map(Some)
            }
        }
    }

    /// `failed`/`permanent` not yet reported → mottakFeilet.
    pub(super) async fn report(
        &self,
        row: &Row,
        permanent: bool,
    ) -> Result<Option<Row>, WorkerError> {
        let message = feilmelding(row, permanent);
        let action = self.client.report_name();
        {
            let _slot = self.link.slot(Pool::Calls).await;
            self.client
                .report_failure(row.id.as_str(), &message, permanent)
                .await?;
        }
        let name = self.name().to_owned();
        let id = row.id.clone();
        self.journal
            .write(move |j| {
                j.record_attempt(&name, &id, action, &Outcome::Ok)?;
                j.mark_feil_reported(&name, &id)
            })
            .await?;
        info!(permanent, "reported to SvarInn ({action})");
        Ok(None)
    }

    /// Listed again after `acked`: the acknowledgement's answer was lost.
    pub(super) async fn reack(&self, id: ForsendelseId) {
        let span = info_span!(
            "forsendelse",
            mottakersystem = self.name(),
            id = id.as_str()
        );
        async {
            let result = {
                let _slot = self.link.slot(Pool::Calls).await;
                self.client.acknowledge(id.as_str()).await
            };
            let outcome = match &result {
                Ok(()) => Outcome::Ok,
                Err(err) => Outcome::Failed {
                    error: err.to_string(),
                },
            };
            let name = self.name().to_owned();
            let id2 = id.clone();
            let action = format!("{} (again)", self.client.ack_name());
            if let Err(err) = self
                .journal
                .write(move |j| j.record_attempt(&name, &id2, &action, &outcome))
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
    pub(super) async fn report_permanent_again(&self, id: ForsendelseId) {
        let name = self.name().to_owned();
        let id2 = id.clone();
        let Ok(Some(row)) = self.journal.read(move |j| j.get(&name, &id2)).await else {
            return;
        };
        let message = feilmelding(&row, true);
        let _slot = self.link.slot(Pool::Calls).await;
        if let Err(err) = self
            .client
            .report_failure(id.as_str(), &message, true)
            .await
        {
            warn!(mottakersystem = self.name(), forsendelse = id.as_str(), error = %err, "repeating {} (permanent) failed; the next poll tries again", self.client.report_name());
        }
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
