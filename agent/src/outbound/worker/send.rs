//! One update's task: upload the files its case lacks, validate, post to
//! Fiks Digisos, journal the result and move the claimed folder.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use mottak_protocol::digisos::{
    DokumentInfo, FilMetadata, SakUpdate, describe_errors, replace_placeholders, validate_soker,
};
use time::OffsetDateTime;
use tracing::{debug, error, info, warn};

use super::{Done, OutboundWorker, RETRY, StepError, Unmoved};
use crate::dropfolder::dirfd::Dir;
use crate::fiks_client::mimetype_for;
use crate::journal::outbound::{OutboundFile, OutboundRow};
use crate::outbound::claim;
use crate::outbound::error::FinishError;
use crate::outbound::kvittering::{self, Fil};
use crate::outbound::validate::{self, LocalFile};

impl OutboundWorker {
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

    pub(super) async fn steps(self: &Arc<Self>, row: &OutboundRow) -> Result<Done, StepError> {
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
    pub(super) async fn finish(&self, update_id: &str, known: Option<Vec<Fil>>) {
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

    pub(super) async fn try_finish(
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
    pub(super) async fn open_claim(&self, row: &OutboundRow) -> Result<Option<Dir>, StepError> {
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

    pub(super) fn claim_gone(&self, row: &OutboundRow) -> StepError {
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
    pub(super) async fn recover_claim_dir(&self, row: &OutboundRow) -> Result<(), StepError> {
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

    pub(super) async fn newer_than(&self, row: &OutboundRow) -> Result<Option<String>, StepError> {
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
    pub(super) async fn ensure_uploaded(
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

    pub(super) async fn journal_uploaded(
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

    pub(super) async fn retry_later(&self, row: &OutboundRow, action: &'static str, error: &str) {
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
    pub(super) async fn fail(&self, row: &OutboundRow, action: &'static str, problems: &[String]) {
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
    pub(super) fn moved(&self, update_id: &str) {
        if let Ok(mut u) = self.health.unmoved.lock() {
            u.remove(update_id);
        }
    }

    /// Records that moving a done update's folder to `to/` failed; true the
    /// first time (warn once, not every turn).
    pub(super) fn not_moved(&self, update_id: &str, to: &'static str, error: &str) -> bool {
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

    pub(super) async fn move_to_feilet(&self, update_id: &str, folder: &str, text: &str) {
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
