//! What the outbound pipeline keeps in the journal (migration 3): one row per
//! claimed saksoppdatering, one row per file uploaded to a case, and the
//! attempt history.
//!
//! The rows make a restart safe:
//! - An update is journaled right after its folder is claimed (renamed into
//!   `.mottak/`); a folder found in `.mottak/` without a row is journaled at
//!   the next scan, so a crash between the two loses nothing.
//! - A file is journaled `uploading` (with its sha256, name and size) before
//!   its upload starts and `uploaded` (with Fiks's `dokumentlagerDokumentId`)
//!   after; one still `uploading` after a crash is looked for in `GET
//!   .../filer` before it is uploaded again. The key is (case, sha256): the
//!   same bytes are never uploaded twice to one case.
//! - `sent` (or `superseded`) is written before the claimed folder moves to
//!   `ut-sendt/` with its `kvittering.json`; a folder left behind by a crash
//!   is moved at the next scan, its kvittering rebuilt from these rows (the
//!   sent time, the case's files by sha256, the supersede's note), so no
//!   column was needed for it.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Journal, JournalError};
use crate::clock::to_millis;

/// The migration that creates the outbound tables (appended to
/// [`super::MIGRATIONS`] as version 3).
pub const MIGRATION: &str = "CREATE TABLE outbound_update (
        mottakersystem  TEXT NOT NULL,
        update_id       TEXT NOT NULL,
        digisos_id      TEXT NOT NULL,
        claim_seq       INTEGER NOT NULL,
        state           TEXT NOT NULL CHECK (state IN ('queued','retry_wait','sent',
                            'superseded','failed','discarded')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER,
        last_error      TEXT,
        failed_folder   TEXT,
        files           INTEGER,
        bytes           INTEGER,
        claimed_at      INTEGER NOT NULL,
        sent_at         INTEGER,
        updated_at      INTEGER NOT NULL,
        PRIMARY KEY (mottakersystem, update_id)
    );
    CREATE INDEX outbound_update_by_state ON outbound_update (mottakersystem, state, next_attempt_at);
    CREATE INDEX outbound_update_by_case ON outbound_update (mottakersystem, digisos_id, claim_seq);
    CREATE TABLE outbound_file (
        mottakersystem TEXT NOT NULL,
        digisos_id     TEXT NOT NULL,
        sha256         TEXT NOT NULL,
        filnavn        TEXT NOT NULL,
        storrelse      INTEGER NOT NULL,
        state          TEXT NOT NULL CHECK (state IN ('uploading','uploaded')),
        dokument_id    TEXT,
        started_at     INTEGER NOT NULL,
        uploaded_at    INTEGER,
        PRIMARY KEY (mottakersystem, digisos_id, sha256)
    );
    CREATE TABLE outbound_attempt (
        id             INTEGER PRIMARY KEY,
        mottakersystem TEXT NOT NULL,
        update_id      TEXT NOT NULL,
        at             INTEGER NOT NULL,
        action         TEXT NOT NULL,
        outcome        TEXT NOT NULL,
        error          TEXT
    );
    CREATE INDEX outbound_attempt_by_update ON outbound_attempt (mottakersystem, update_id, at);";

/// Where a saksoppdatering is: the journal stores the console protocol's
/// states by their `as_str` names.
pub use mottak_protocol::console::OutboundState;

/// One saksoppdatering as the journal knows it. Times are Unix ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRow {
    pub mottakersystem: String,
    /// The claimed folder's name in `.mottak/`.
    pub update_id: String,
    pub digisos_id: String,
    /// Claim order within the mottakersystem: higher is newer.
    pub claim_seq: i64,
    pub state: OutboundState,
    /// Failed attempts since it was claimed or retried by a person.
    pub attempts: u32,
    pub next_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    /// The folder's name in `ut-feilet/`, once failed.
    pub failed_folder: Option<String>,
    pub files: Option<u64>,
    pub bytes: Option<u64>,
    pub claimed_at: i64,
    pub sent_at: Option<i64>,
    pub updated_at: i64,
}

/// One file on a case, as uploaded (or being uploaded) by the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundFile {
    pub digisos_id: String,
    pub sha256: String,
    pub filnavn: String,
    pub storrelse: u64,
    /// `None` while `uploading`.
    pub dokument_id: Option<String>,
}

/// One line of an update's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundAttempt {
    pub at: i64,
    pub action: String,
    pub outcome: String,
    pub error: Option<String>,
}

/// How many updates of a mottakersystem are in a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundCount {
    pub mottakersystem: String,
    pub state: OutboundState,
    pub count: u64,
}

/// The note of a supersede, before the newer update's id.
const SUPERSEDED_BY: &str = "superseded by ";

const COLUMNS: &str = "mottakersystem, update_id, digisos_id, claim_seq, state, attempts,
    next_attempt_at, last_error, failed_folder, files, bytes, claimed_at, sent_at, updated_at";

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(OutboundRow, String)> {
    let state: String = r.get(4)?;
    Ok((
        OutboundRow {
            mottakersystem: r.get(0)?,
            update_id: r.get(1)?,
            digisos_id: r.get(2)?,
            claim_seq: r.get(3)?,
            state: OutboundState::Queued,
            attempts: u32::try_from(r.get::<_, i64>(5)?.max(0)).unwrap_or(u32::MAX),
            next_attempt_at: r.get(6)?,
            last_error: r.get(7)?,
            failed_folder: r.get(8)?,
            files: r.get::<_, Option<i64>>(9)?.map(|v| v.max(0).unsigned_abs()),
            bytes: r
                .get::<_, Option<i64>>(10)?
                .map(|v| v.max(0).unsigned_abs()),
            claimed_at: r.get(11)?,
            sent_at: r.get(12)?,
            updated_at: r.get(13)?,
        },
        state,
    ))
}

fn finish(pair: (OutboundRow, String)) -> Result<OutboundRow, JournalError> {
    let (mut row, state) = pair;
    row.state = OutboundState::parse(&state)
        .ok_or_else(|| JournalError::Corrupt(format!("outbound state {state:?}")))?;
    Ok(row)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Journal {
    fn outbound_now(&self) -> i64 {
        to_millis(self.clock.now())
    }

    /// Journals a claimed folder as `queued`, newest of its mottakersystem
    /// (its `claim_seq` is one more than any before). Already journaled: the
    /// existing row is returned unchanged.
    pub fn outbound_claimed(
        &mut self,
        mottakersystem: &str,
        update_id: &str,
        digisos_id: &str,
    ) -> Result<OutboundRow, JournalError> {
        let now = self.outbound_now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing = tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM outbound_update WHERE mottakersystem = ?1 AND update_id = ?2"
            ))?
            .query_row(params![mottakersystem, update_id], read_row)
            .optional()?;
        if let Some(row) = existing {
            return finish(row);
        }
        let seq: i64 = tx
            .prepare_cached(
                "SELECT COALESCE(MAX(claim_seq), 0) + 1 FROM outbound_update
                 WHERE mottakersystem = ?1",
            )?
            .query_row(params![mottakersystem], |r| r.get(0))?;
        tx.prepare_cached(
            "INSERT INTO outbound_update (mottakersystem, update_id, digisos_id, claim_seq, state,
                 claimed_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?5)",
        )?
        .execute(params![mottakersystem, update_id, digisos_id, seq, now])?;
        tx.prepare_cached(
            "INSERT INTO outbound_attempt (mottakersystem, update_id, at, action, outcome)
             VALUES (?1, ?2, ?3, 'claim', 'ok')",
        )?
        .execute(params![mottakersystem, update_id, now])?;
        tx.commit()?;
        Ok(OutboundRow {
            mottakersystem: mottakersystem.to_owned(),
            update_id: update_id.to_owned(),
            digisos_id: digisos_id.to_owned(),
            claim_seq: seq,
            state: OutboundState::Queued,
            attempts: 0,
            next_attempt_at: None,
            last_error: None,
            failed_folder: None,
            files: None,
            bytes: None,
            claimed_at: now,
            sent_at: None,
            updated_at: now,
        })
    }

    /// One update.
    pub fn outbound_row(
        &self,
        mottakersystem: &str,
        update_id: &str,
    ) -> Result<Option<OutboundRow>, JournalError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM outbound_update WHERE mottakersystem = ?1 AND update_id = ?2"
            ))?
            .query_row(params![mottakersystem, update_id], read_row)
            .optional()?
            .map(finish)
            .transpose()
    }

    /// Updates of a mottakersystem in `states` (all states when empty),
    /// oldest claim first, at most `limit`.
    pub fn outbound_rows(
        &self,
        mottakersystem: &str,
        states: &[OutboundState],
        limit: usize,
    ) -> Result<Vec<OutboundRow>, JournalError> {
        let all: Vec<&str> = OutboundState::ALL.iter().map(|s| s.as_str()).collect();
        let wanted: Vec<&str> = if states.is_empty() {
            all
        } else {
            states.iter().map(|s| s.as_str()).collect()
        };
        // At most six fixed names: safe to inline as a list of placeholders.
        let marks = (0..wanted.len())
            .map(|i| format!("?{}", i + 3))
            .collect::<Vec<_>>()
            .join(",");
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM outbound_update WHERE mottakersystem = ?1 AND state IN ({marks})
             ORDER BY claim_seq LIMIT ?2"
        ))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut values: Vec<&dyn rusqlite::ToSql> = vec![&mottakersystem, &limit];
        for w in &wanted {
            values.push(w);
        }
        let rows = stmt.query_map(values.as_slice(), read_row)?;
        rows.map(|r| finish(r?)).collect()
    }

    /// When the newest update of a mottakersystem was sent (Unix ms).
    pub fn outbound_last_sent(&self, mottakersystem: &str) -> Result<Option<i64>, JournalError> {
        Ok(self
            .conn
            .prepare_cached("SELECT MAX(sent_at) FROM outbound_update WHERE mottakersystem = ?1")?
            .query_row(params![mottakersystem], |r| r.get(0))?)
    }

    /// Updates with work now: `queued`, and `retry_wait` whose time has come
    /// (those are moved back to `queued` first). Oldest claim first.
    pub fn outbound_due(&mut self, mottakersystem: &str) -> Result<Vec<OutboundRow>, JournalError> {
        let now = self.outbound_now();
        self.conn
            .prepare_cached(
                "UPDATE outbound_update SET state = 'queued', next_attempt_at = NULL, updated_at = ?2
                 WHERE mottakersystem = ?1 AND state = 'retry_wait' AND next_attempt_at <= ?2",
            )?
            .execute(params![mottakersystem, now])?;
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM outbound_update WHERE mottakersystem = ?1 AND state = 'queued'
             ORDER BY claim_seq"
        ))?;
        let rows = stmt.query_map(params![mottakersystem], read_row)?;
        rows.map(|r| finish(r?)).collect()
    }

    /// The newest update of the case that is pending or sent and newer than
    /// `claim_seq`: the one that supersedes an update with that `claim_seq`.
    pub fn outbound_newer(
        &self,
        mottakersystem: &str,
        digisos_id: &str,
        claim_seq: i64,
    ) -> Result<Option<OutboundRow>, JournalError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM outbound_update
                     WHERE mottakersystem = ?1 AND digisos_id = ?2 AND claim_seq > ?3
                       AND state IN ('queued','retry_wait','sent')
                     ORDER BY claim_seq DESC LIMIT 1"
            ))?
            .query_row(params![mottakersystem, digisos_id, claim_seq], read_row)
            .optional()?
            .map(finish)
            .transpose()
    }

    #[allow(clippy::too_many_arguments)]
    fn outbound_set(
        &mut self,
        mottakersystem: &str,
        update_id: &str,
        from: &[OutboundState],
        set_sql: &str,
        extra: &[&dyn rusqlite::ToSql],
        action: &str,
        outcome: &str,
        error: Option<&str>,
    ) -> Result<bool, JournalError> {
        let now = self.outbound_now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: Option<String> = tx
            .prepare_cached(
                "SELECT state FROM outbound_update WHERE mottakersystem = ?1 AND update_id = ?2",
            )?
            .query_row(params![mottakersystem, update_id], |r| r.get(0))
            .optional()?;
        let Some(current) = current else {
            return Err(JournalError::NotFound {
                mottakersystem: mottakersystem.to_owned(),
                id: update_id.to_owned(),
            });
        };
        let current = OutboundState::parse(&current)
            .ok_or_else(|| JournalError::Corrupt(format!("outbound state {current:?}")))?;
        if !from.contains(&current) {
            return Ok(false);
        }
        let mut values: Vec<&dyn rusqlite::ToSql> = vec![&mottakersystem, &update_id, &now];
        values.extend_from_slice(extra);
        tx.prepare_cached(&format!(
            "UPDATE outbound_update SET {set_sql}, updated_at = ?3
                 WHERE mottakersystem = ?1 AND update_id = ?2"
        ))?
        .execute(values.as_slice())?;
        tx.prepare_cached(
            "INSERT INTO outbound_attempt (mottakersystem, update_id, at, action, outcome, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            mottakersystem,
            update_id,
            now,
            action,
            outcome,
            error
        ])?;
        tx.commit()?;
        Ok(true)
    }

    /// `queued`/`retry_wait` → `sent`. False when it was not pending.
    pub fn outbound_sent(
        &mut self,
        mottakersystem: &str,
        update_id: &str,
        files: u64,
        bytes: u64,
    ) -> Result<bool, JournalError> {
        let (files, bytes) = (to_i64(files), to_i64(bytes));
        self.outbound_set(
            mottakersystem,
            update_id,
            &[OutboundState::Queued, OutboundState::RetryWait],
            "state = 'sent', sent_at = ?3, next_attempt_at = NULL, last_error = NULL, files = ?4, bytes = ?5",
            &[&files, &bytes],
            "post",
            "ok",
            None,
        )
    }

    /// A pending update → `superseded` (by `newer`).
    pub fn outbound_superseded(
        &mut self,
        mottakersystem: &str,
        update_id: &str,
        newer: &str,
    ) -> Result<bool, JournalError> {
        let note = format!("{SUPERSEDED_BY}{newer}");
        self.outbound_set(
            mottakersystem,
            update_id,
            &[OutboundState::Queued, OutboundState::RetryWait],
            "state = 'superseded', next_attempt_at = NULL",
            &[],
            "supersede",
            "ok",
            Some(&note),
        )
    }

    /// A pending update → `retry_wait` until `next_attempt_at` (Unix ms);
    /// returns the attempt count after this failure.
    pub fn outbound_retry_wait(
        &mut self,
        mottakersystem: &str,
        update_id: &str,
        next_attempt_at: i64,
        action: &str,
        error: &str,
    ) -> Result<u32, JournalError> {
        self.outbound_set(
            mottakersystem,
            update_id,
            &[OutboundState::Queued, OutboundState::RetryWait],
            "state = 'retry_wait', attempts = attempts + 1, next_attempt_at = ?4, last_error = ?5",
            &[&next_attempt_at, &error],
            action,
            "failed",
            Some(error),
        )?;
        Ok(self
            .outbound_row(mottakersystem, update_id)?
            .map_or(0, |r| r.attempts))
    }

    /// A pending update → `failed`, to be (or already) moved to
    /// `ut-feilet/<failed_folder>/`.
    pub fn outbound_failed(
        &mut self,
        mottakersystem: &str,
        update_id: &str,
        failed_folder: &str,
        action: &str,
        error: &str,
    ) -> Result<bool, JournalError> {
        // A refusal from Fiks (upload, post) was an attempt to send; a
        // local check that failed ("validate") was not.
        let attempted = i64::from(action != "validate");
        self.outbound_set(
            mottakersystem,
            update_id,
            &[OutboundState::Queued, OutboundState::RetryWait],
            "state = 'failed', attempts = attempts + ?6, next_attempt_at = NULL, last_error = ?4,
             failed_folder = ?5",
            &[&error, &failed_folder, &attempted],
            action,
            "failed",
            Some(error),
        )
    }

    /// `failed` → `discarded` (a person dismissed it).
    pub fn outbound_discarded(
        &mut self,
        mottakersystem: &str,
        update_id: &str,
        by: &str,
    ) -> Result<bool, JournalError> {
        let note = format!("discarded by {by}");
        self.outbound_set(
            mottakersystem,
            update_id,
            &[OutboundState::Failed],
            "state = 'discarded'",
            &[],
            "discard",
            "ok",
            Some(&note),
        )
    }

    /// `failed` → `queued` (a person retries; its folder is back in
    /// `.mottak/`). The attempt count starts again.
    pub fn outbound_requeued(
        &mut self,
        mottakersystem: &str,
        update_id: &str,
        by: &str,
    ) -> Result<bool, JournalError> {
        let note = format!("retried by {by}");
        self.outbound_set(
            mottakersystem,
            update_id,
            &[OutboundState::Failed],
            "state = 'queued', attempts = 0, next_attempt_at = NULL, failed_folder = NULL",
            &[],
            "retry",
            "ok",
            Some(&note),
        )
    }

    /// Records an attempt without changing the state.
    pub fn outbound_note(
        &mut self,
        mottakersystem: &str,
        update_id: &str,
        action: &str,
        outcome: &str,
        error: Option<&str>,
    ) -> Result<(), JournalError> {
        let now = self.outbound_now();
        self.conn
            .prepare_cached(
                "INSERT INTO outbound_attempt (mottakersystem, update_id, at, action, outcome, error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![mottakersystem, update_id, now, action, outcome, error])?;
        Ok(())
    }

    /// An update's history, oldest first.
    pub fn outbound_history(
        &self,
        mottakersystem: &str,
        update_id: &str,
    ) -> Result<Vec<OutboundAttempt>, JournalError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT at, action, outcome, error FROM outbound_attempt
             WHERE mottakersystem = ?1 AND update_id = ?2 ORDER BY at, id",
        )?;
        let rows = stmt.query_map(params![mottakersystem, update_id], |r| {
            Ok(OutboundAttempt {
                at: r.get(0)?,
                action: r.get(1)?,
                outcome: r.get(2)?,
                error: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Counts by state of every mottakersystem.
    pub fn outbound_counts(&self) -> Result<Vec<OutboundCount>, JournalError> {
        self.counts_by_state("outbound_update")?
            .into_iter()
            .map(|(mottakersystem, state, count)| {
                let state = OutboundState::parse(&state)
                    .ok_or_else(|| JournalError::Corrupt(format!("outbound state {state:?}")))?;
                Ok(OutboundCount {
                    mottakersystem,
                    state,
                    count,
                })
            })
            .collect()
    }

    /// The file with these bytes on the case, if the agent uploaded it (or began to).
    pub fn outbound_file(
        &self,
        mottakersystem: &str,
        digisos_id: &str,
        sha256: &str,
    ) -> Result<Option<OutboundFile>, JournalError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT digisos_id, sha256, filnavn, storrelse, dokument_id FROM outbound_file
                 WHERE mottakersystem = ?1 AND digisos_id = ?2 AND sha256 = ?3",
            )?
            .query_row(params![mottakersystem, digisos_id, sha256], read_file)
            .optional()?)
    }

    /// Every file the journal holds for the case (uploaded or uploading).
    pub fn outbound_case_files(
        &self,
        mottakersystem: &str,
        digisos_id: &str,
    ) -> Result<Vec<OutboundFile>, JournalError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT digisos_id, sha256, filnavn, storrelse, dokument_id FROM outbound_file
             WHERE mottakersystem = ?1 AND digisos_id = ?2 ORDER BY started_at, sha256",
        )?;
        let rows = stmt.query_map(params![mottakersystem, digisos_id], read_file)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The newer update that superseded `update_id`, and when (Unix ms),
    /// from the note [`Journal::outbound_superseded`] wrote with the state.
    pub fn outbound_superseded_by(
        &self,
        mottakersystem: &str,
        update_id: &str,
    ) -> Result<Option<(String, i64)>, JournalError> {
        let found: Option<(Option<String>, i64)> = self
            .conn
            .prepare_cached(
                "SELECT error, at FROM outbound_attempt
                 WHERE mottakersystem = ?1 AND update_id = ?2 AND action = 'supersede'
                   AND outcome = 'ok'
                 ORDER BY at DESC, id DESC LIMIT 1",
            )?
            .query_row(params![mottakersystem, update_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        Ok(found.map(|(note, at)| {
            let by = note
                .as_deref()
                .and_then(|n| n.strip_prefix(SUPERSEDED_BY))
                .unwrap_or_default()
                .to_owned();
            (by, at)
        }))
    }

    /// Every `dokumentlagerDokumentId` the journal holds for the case.
    pub fn outbound_case_document_ids(
        &self,
        mottakersystem: &str,
        digisos_id: &str,
    ) -> Result<Vec<String>, JournalError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT dokument_id FROM outbound_file
             WHERE mottakersystem = ?1 AND digisos_id = ?2 AND dokument_id IS NOT NULL",
        )?;
        let rows = stmt.query_map(params![mottakersystem, digisos_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Journals that an upload of these bytes to the case begins (before
    /// the first byte leaves). A row already there is left as it is.
    pub fn outbound_file_uploading(
        &mut self,
        mottakersystem: &str,
        file: &OutboundFile,
    ) -> Result<(), JournalError> {
        let now = self.outbound_now();
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO outbound_file (mottakersystem, digisos_id, sha256, filnavn,
                 storrelse, state, started_at) VALUES (?1, ?2, ?3, ?4, ?5, 'uploading', ?6)",
            )?
            .execute(params![
                mottakersystem,
                file.digisos_id,
                file.sha256,
                file.filnavn,
                to_i64(file.storrelse),
                now
            ])?;
        Ok(())
    }

    /// Journals Fiks's id for the uploaded bytes.
    pub fn outbound_file_uploaded(
        &mut self,
        mottakersystem: &str,
        digisos_id: &str,
        sha256: &str,
        dokument_id: &str,
    ) -> Result<(), JournalError> {
        let now = self.outbound_now();
        self.conn
            .prepare_cached(
                "UPDATE outbound_file SET state = 'uploaded', dokument_id = ?4, uploaded_at = ?5
             WHERE mottakersystem = ?1 AND digisos_id = ?2 AND sha256 = ?3",
            )?
            .execute(params![
                mottakersystem,
                digisos_id,
                sha256,
                dokument_id,
                now
            ])?;
        Ok(())
    }
}

/// One `outbound_file` row, selected as
/// `digisos_id, sha256, filnavn, storrelse, dokument_id`.
fn read_file(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboundFile> {
    Ok(OutboundFile {
        digisos_id: r.get(0)?,
        sha256: r.get(1)?,
        filnavn: r.get(2)?,
        storrelse: r.get::<_, i64>(3)?.max(0).unsigned_abs(),
        dokument_id: r.get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::journal::{Clock, ManualClock};
    use time::OffsetDateTime;

    const CASE: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

    fn journal() -> (tempfile::TempDir, Journal, Arc<ManualClock>) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(
            OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
        ));
        let j = Journal::open(&dir.path().join("j.sqlite"), clock.clone()).unwrap();
        (dir, j, clock)
    }

    #[test]
    fn claims_are_ordered_and_idempotent() {
        let (_d, mut j, _c) = journal();
        let a = j.outbound_claimed("s", "ut-a", CASE).unwrap();
        let b = j.outbound_claimed("s", "ut-b", CASE).unwrap();
        assert!(b.claim_seq > a.claim_seq);
        assert_eq!(j.outbound_claimed("s", "ut-a", CASE).unwrap(), a);
        // Another mottakersystem has its own sequence and rows.
        assert_eq!(j.outbound_claimed("t", "ut-a", CASE).unwrap().claim_seq, 1);
        assert_eq!(j.outbound_due("s").unwrap().len(), 2);
        assert_eq!(
            j.outbound_newer("s", CASE, a.claim_seq)
                .unwrap()
                .unwrap()
                .update_id,
            "ut-b"
        );
        assert_eq!(j.outbound_newer("s", CASE, b.claim_seq).unwrap(), None);
    }

    #[test]
    fn the_states_move_only_forward_and_the_history_records_each_step() {
        let (_d, mut j, clock) = journal();
        j.outbound_claimed("s", "ut-a", CASE).unwrap();
        let attempts = j
            .outbound_retry_wait(
                "s",
                "ut-a",
                to_millis(clock.now()) + 5000,
                "post",
                "Fiks answered 503",
            )
            .unwrap();
        assert_eq!(attempts, 1);
        assert!(j.outbound_due("s").unwrap().is_empty());
        clock.advance(std::time::Duration::from_secs(6));
        let due = j.outbound_due("s").unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].state, OutboundState::Queued);
        assert_eq!(due[0].attempts, 1);
        assert!(j.outbound_sent("s", "ut-a", 1, 10).unwrap());
        // Sent is final: no failure, supersede or second send changes it.
        assert!(!j.outbound_sent("s", "ut-a", 1, 10).unwrap());
        assert!(!j.outbound_failed("s", "ut-a", "x", "post", "e").unwrap());
        assert!(!j.outbound_superseded("s", "ut-a", "ut-b").unwrap());
        let row = j.outbound_row("s", "ut-a").unwrap().unwrap();
        assert_eq!(row.state, OutboundState::Sent);
        assert_eq!(row.files, Some(1));
        assert_eq!(row.sent_at, Some(to_millis(clock.now())));
        assert_eq!(j.outbound_superseded_by("s", "ut-a").unwrap(), None);
        let history: Vec<String> = j
            .outbound_history("s", "ut-a")
            .unwrap()
            .into_iter()
            .map(|a| format!("{} {}", a.action, a.outcome))
            .collect();
        assert_eq!(history, ["claim ok", "post failed", "post ok"]);
        assert!(matches!(
            j.outbound_sent("s", "nope", 0, 0),
            Err(JournalError::NotFound { .. })
        ));
    }

    #[test]
    fn a_supersede_remembers_the_newer_update_and_when() {
        let (_d, mut j, clock) = journal();
        j.outbound_claimed("s", "ut-a", CASE).unwrap();
        j.outbound_claimed("s", "ut-b", CASE).unwrap();
        clock.advance(std::time::Duration::from_millis(1500));
        assert!(j.outbound_superseded("s", "ut-a", "ut-b").unwrap());
        assert_eq!(
            j.outbound_superseded_by("s", "ut-a").unwrap(),
            Some(("ut-b".to_owned(), to_millis(clock.now())))
        );
        assert_eq!(j.outbound_superseded_by("s", "ut-b").unwrap(), None);
        assert_eq!(j.outbound_superseded_by("other", "ut-a").unwrap(), None);
    }

    #[test]
    fn failures_can_be_retried_or_discarded_by_a_person() {
        let (_d, mut j, _c) = journal();
        j.outbound_claimed("s", "ut-a", CASE).unwrap();
        assert!(
            j.outbound_failed("s", "ut-a", "case-1", "validate", "bad json")
                .unwrap()
        );
        let row = j.outbound_row("s", "ut-a").unwrap().unwrap();
        assert_eq!(row.failed_folder.as_deref(), Some("case-1"));
        // A local check is not an attempt to send.
        assert_eq!(row.attempts, 0);
        assert!(j.outbound_requeued("s", "ut-a", "ola").unwrap());
        assert_eq!(j.outbound_due("s").unwrap().len(), 1);
        assert!(!j.outbound_discarded("s", "ut-a", "ola").unwrap());
        let before = j.outbound_row("s", "ut-a").unwrap().unwrap().attempts;
        j.outbound_failed("s", "ut-a", "case-2", "post", "403")
            .unwrap();
        // Fiks refusing it was one.
        let row = j.outbound_row("s", "ut-a").unwrap().unwrap();
        assert_eq!(row.attempts, before + 1);
        assert!(j.outbound_discarded("s", "ut-a", "kari").unwrap());
        assert_eq!(
            j.outbound_row("s", "ut-a").unwrap().unwrap().state,
            OutboundState::Discarded
        );
        let counts = j.outbound_counts().unwrap();
        assert_eq!(counts.len(), 1);
        assert_eq!(counts[0].state, OutboundState::Discarded);
    }

    #[test]
    fn files_are_keyed_by_case_and_sha256() {
        let (_d, mut j, _c) = journal();
        let f = OutboundFile {
            digisos_id: CASE.into(),
            sha256: "ab".repeat(32),
            filnavn: "vedtak.pdf".into(),
            storrelse: 10,
            dokument_id: None,
        };
        assert_eq!(j.outbound_file("s", CASE, &f.sha256).unwrap(), None);
        j.outbound_file_uploading("s", &f).unwrap();
        j.outbound_file_uploading("s", &f).unwrap();
        assert_eq!(
            j.outbound_file("s", CASE, &f.sha256).unwrap(),
            Some(f.clone())
        );
        assert!(j.outbound_case_document_ids("s", CASE).unwrap().is_empty());
        j.outbound_file_uploaded("s", CASE, &f.sha256, "id-1")
            .unwrap();
        let got = j.outbound_file("s", CASE, &f.sha256).unwrap().unwrap();
        assert_eq!(got.dokument_id.as_deref(), Some("id-1"));
        assert_eq!(j.outbound_case_document_ids("s", CASE).unwrap(), ["id-1"]);
        let all = j.outbound_case_files("s", CASE).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].dokument_id.as_deref(), Some("id-1"));
        assert!(j.outbound_case_files("s", "other").unwrap().is_empty());
        assert_eq!(j.outbound_file("s", "other", &f.sha256).unwrap(), None);
    }
}
