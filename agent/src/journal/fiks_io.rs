//! What the Fiks IO pipeline keeps in the journal (migration 5): one
//! row per `(mottakersystem, melding_id)` with the message's headers, where
//! it is, and the receipt it owes.
//!
//! The order a restart relies on (see `crate::fiks_io::deliver`):
//! - `received` is written before anything is done with a message, so a
//!   redelivery (after a crash or a reconnect) is recognised by its id;
//! - `staged` after the staging folder is durable, before the rename into
//!   `inn/`: a `staged` row whose staging is gone was published;
//! - with `staged`, in the same transaction, the Digisos innsending's
//!   cross-channel claim (`super::innsending`): held by another delivery, the
//!   message is `duplicate` with the link instead, never published;
//! - `delivered` and the receipt duty in one transaction, only after
//!   `inn/<melding-id>/` is durable; only then is the message acked.
//!
//! A message that cannot be decrypted or whose digests are wrong is `failed`
//! with the path of its kept encrypted copy, and owes no receipt.

use rusqlite::{OptionalExtension, params};

use super::innsending::{
    Channel, Claim, ClaimHolder, InnsendingKey, claim_in, record_duplicate_in,
};
use super::{Journal, JournalError};
use crate::clock::to_millis;

/// The migration that creates the Fiks IO table (appended to
/// [`super::MIGRATIONS`] as version 5; self-contained).
pub const MIGRATION: &str = "CREATE TABLE fiks_io_melding (
        mottakersystem   TEXT NOT NULL,
        melding_id       TEXT NOT NULL,
        melding_type     TEXT NOT NULL,
        avsender_konto   TEXT NOT NULL,
        svar_til         TEXT,
        dokumentlager_id TEXT,
        state            TEXT NOT NULL CHECK (state IN ('received','staged','delivered',
                             'imported','failed','duplicate')),
        receipt          TEXT NOT NULL CHECK (receipt IN ('none','owed','sent')),
        receipt_attempts INTEGER NOT NULL DEFAULT 0,
        receipt_next_at  INTEGER,
        receipt_error    TEXT,
        digisos_id       TEXT,
        ekstern_ref      TEXT,
        reason           TEXT,
        kept_copy        TEXT,
        size             INTEGER,
        received_at      INTEGER NOT NULL,
        staged_at        INTEGER,
        delivered_at     INTEGER,
        imported_at      INTEGER,
        receipt_sent_at  INTEGER,
        updated_at       INTEGER NOT NULL,
        PRIMARY KEY (mottakersystem, melding_id)
    );
    CREATE INDEX fiks_io_melding_by_state ON fiks_io_melding (mottakersystem, state);
    CREATE INDEX fiks_io_melding_by_receipt ON fiks_io_melding (mottakersystem, receipt, receipt_next_at);";

/// Where a Fiks IO message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FiksIoState {
    /// Journaled by its id; nothing durable of it yet.
    Received,
    /// Decrypted, checked and durable in its staging folder; the rename
    /// into `inn/` may have happened.
    Staged,
    /// Durably in `inn/<melding-id>/`.
    Delivered,
    /// The fagsystem took the folder out of `inn/` (on-import mode watches this).
    Imported,
    /// Could not be decrypted, or its digests are wrong: kept for a person.
    Failed,
    /// The same søknad was already delivered over another channel.
    Duplicate,
}

impl FiksIoState {
    pub const ALL: [FiksIoState; 6] = [
        FiksIoState::Received,
        FiksIoState::Staged,
        FiksIoState::Delivered,
        FiksIoState::Imported,
        FiksIoState::Failed,
        FiksIoState::Duplicate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FiksIoState::Received => "received",
            FiksIoState::Staged => "staged",
            FiksIoState::Delivered => "delivered",
            FiksIoState::Imported => "imported",
            FiksIoState::Failed => "failed",
            FiksIoState::Duplicate => "duplicate",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// A message in this state is done with: a redelivery is only acked.
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            FiksIoState::Delivered
                | FiksIoState::Imported
                | FiksIoState::Failed
                | FiksIoState::Duplicate
        )
    }

    /// The transitions the pipeline makes (a person's retry of a failed
    /// message takes it back to `received`).
    pub fn can_become(self, to: FiksIoState) -> bool {
        use FiksIoState::*;
        matches!(
            (self, to),
            (Received, Staged | Failed | Duplicate)
                | (Staged, Delivered | Failed | Received)
                | (Delivered, Imported)
                | (Failed, Received)
        )
    }
}

impl std::fmt::Display for FiksIoState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The receipt (`*.mottatt.v1`) a message owes its sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptDuty {
    /// Not a Digisos message, failed, or not delivered yet.
    None,
    /// To be sent (at once, or once imported: the mottakersystem's `ack`).
    Owed,
    Sent,
}

impl ReceiptDuty {
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptDuty::None => "none",
            ReceiptDuty::Owed => "owed",
            ReceiptDuty::Sent => "sent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [ReceiptDuty::None, ReceiptDuty::Owed, ReceiptDuty::Sent]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A message as it arrived: its Fiks IO headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMelding {
    pub melding_id: String,
    pub melding_type: String,
    pub avsender_konto: String,
    pub svar_til: Option<String>,
    pub dokumentlager_id: Option<String>,
}

/// One message as the journal knows it. Times are Unix ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiksIoRow {
    pub mottakersystem: String,
    pub melding: NewMelding,
    pub state: FiksIoState,
    pub receipt: ReceiptDuty,
    /// Failed receipt sends since the duty arose.
    pub receipt_attempts: u32,
    pub receipt_next_at: Option<i64>,
    pub receipt_error: Option<String>,
    pub digisos_id: Option<String>,
    pub ekstern_ref: Option<String>,
    /// `failed`: why; `duplicate`: which delivery it duplicates.
    pub reason: Option<String>,
    /// The encrypted bytes as received, while they are kept (until
    /// delivered; for good when failed).
    pub kept_copy: Option<String>,
    pub size: Option<u64>,
    pub received_at: i64,
    pub staged_at: Option<i64>,
    pub delivered_at: Option<i64>,
    pub imported_at: Option<i64>,
    pub receipt_sent_at: Option<i64>,
    pub updated_at: i64,
}

const COLUMNS: &str = "mottakersystem, melding_id, melding_type, avsender_konto, svar_til,
    dokumentlager_id, state, receipt, receipt_attempts, receipt_next_at, receipt_error,
    digisos_id, ekstern_ref, reason, kept_copy, size, received_at, staged_at, delivered_at,
    imported_at, receipt_sent_at, updated_at";

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(FiksIoRow, String, String)> {
    Ok((
        FiksIoRow {
            mottakersystem: r.get(0)?,
            melding: NewMelding {
                melding_id: r.get(1)?,
                melding_type: r.get(2)?,
                avsender_konto: r.get(3)?,
                svar_til: r.get(4)?,
                dokumentlager_id: r.get(5)?,
            },
            state: FiksIoState::Received,
            receipt: ReceiptDuty::None,
            receipt_attempts: u32::try_from(r.get::<_, i64>(8)?.max(0)).unwrap_or(u32::MAX),
            receipt_next_at: r.get(9)?,
            receipt_error: r.get(10)?,
            digisos_id: r.get(11)?,
            ekstern_ref: r.get(12)?,
            reason: r.get(13)?,
            kept_copy: r.get(14)?,
            size: r
                .get::<_, Option<i64>>(15)?
                .map(|v| v.max(0).unsigned_abs()),
            received_at: r.get(16)?,
            staged_at: r.get(17)?,
            delivered_at: r.get(18)?,
            imported_at: r.get(19)?,
            receipt_sent_at: r.get(20)?,
            updated_at: r.get(21)?,
        },
        r.get(6)?,
        r.get(7)?,
    ))
}

fn finish(triple: (FiksIoRow, String, String)) -> Result<FiksIoRow, JournalError> {
    let (mut row, state, receipt) = triple;
    row.state = FiksIoState::parse(&state)
        .ok_or_else(|| JournalError::Corrupt(format!("Fiks IO state {state:?}")))?;
    row.receipt = ReceiptDuty::parse(&receipt)
        .ok_or_else(|| JournalError::Corrupt(format!("Fiks IO receipt {receipt:?}")))?;
    Ok(row)
}

impl Journal {
    fn fiks_io_now(&self) -> i64 {
        to_millis(self.clock.now())
    }

    /// One message.
    pub fn fiks_io_row(
        &self,
        mottakersystem: &str,
        melding_id: &str,
    ) -> Result<Option<FiksIoRow>, JournalError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM fiks_io_melding WHERE mottakersystem = ?1 AND melding_id = ?2"
            ))?
            .query_row(params![mottakersystem, melding_id], read_row)
            .optional()?
            .map(finish)
            .transpose()
    }

    /// Journals a message by its id as `received`; a message already known
    /// (a redelivery) is returned as it is, unchanged.
    pub fn fiks_io_received(
        &mut self,
        mottakersystem: &str,
        melding: &NewMelding,
    ) -> Result<FiksIoRow, JournalError> {
        let now = self.fiks_io_now();
        let tx = self.write_tx()?;
        tx.prepare_cached(
            "INSERT INTO fiks_io_melding (mottakersystem, melding_id, melding_type, avsender_konto,
                 svar_til, dokumentlager_id, state, receipt, received_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'received', 'none', ?7, ?7)
             ON CONFLICT (mottakersystem, melding_id) DO NOTHING",
        )?
        .execute(params![
            mottakersystem,
            melding.melding_id,
            melding.melding_type,
            melding.avsender_konto,
            melding.svar_til,
            melding.dokumentlager_id,
            now
        ])?;
        tx.commit()?;
        self.fiks_io_row(mottakersystem, &melding.melding_id)?
            .ok_or_else(|| JournalError::NotFound {
                mottakersystem: mottakersystem.to_owned(),
                id: melding.melding_id.clone(),
            })
    }

    /// Runs `set_sql` (an `UPDATE ... SET` list, `?1`/`?2` the key, `?3` now,
    /// then `extra`) if the row is in a state that may become `to`.
    fn fiks_io_move(
        &mut self,
        mottakersystem: &str,
        melding_id: &str,
        to: FiksIoState,
        set_sql: &str,
        extra: &[&dyn rusqlite::ToSql],
    ) -> Result<(), JournalError> {
        let now = self.fiks_io_now();
        let tx = self.write_tx()?;
        let from = state_in(&tx, mottakersystem, melding_id)?;
        if !from.can_become(to) {
            return Err(illegal(mottakersystem, melding_id, from, to));
        }
        let mut values: Vec<&dyn rusqlite::ToSql> = vec![
            &mottakersystem,
            &melding_id,
            &now,
            &to as &dyn rusqlite::ToSql,
        ];
        values.extend_from_slice(extra);
        tx.prepare_cached(&format!(
            "UPDATE fiks_io_melding SET state = ?4, updated_at = ?3, {set_sql}
             WHERE mottakersystem = ?1 AND melding_id = ?2"
        ))?
        .execute(values.as_slice())?;
        tx.commit()?;
        Ok(())
    }

    /// `received` → `staged`: the staging folder is durable (files,
    /// `melding.json`, the folder); the rename into `inn/` comes next.
    /// `kept_copy` is the encrypted copy, `size` the decrypted bytes. With a
    /// `key` (a Digisos innsending), its cross-channel claim is taken in the
    /// same transaction: held by another delivery, the message becomes
    /// `duplicate` with the link instead (and owes its receipt when
    /// `receipt_owed`), and must not be published.
    #[allow(clippy::too_many_arguments)]
    pub fn fiks_io_stage(
        &mut self,
        mottakersystem: &str,
        melding_id: &str,
        key: Option<&InnsendingKey>,
        kept_copy: &str,
        size: u64,
        receipt_owed: bool,
    ) -> Result<Staged, JournalError> {
        let now = self.fiks_io_now();
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        let (digisos_id, ekstern_ref) = (
            key.map(|k| k.digisos_id.as_str()),
            key.map(|k| k.ekstern_ref.as_str()),
        );
        let tx = self.write_tx()?;
        let from = state_in(&tx, mottakersystem, melding_id)?;
        let claim = match key {
            Some(key) => claim_in(&tx, mottakersystem, key, Channel::FiksIo, melding_id, now)?,
            None => Claim::Ours,
        };
        let (to, staged) = match &claim {
            Claim::Ours => (FiksIoState::Staged, Staged::Staged),
            Claim::DeliveredBy(holder) => {
                (FiksIoState::Duplicate, Staged::Duplicate(holder.clone()))
            }
        };
        if !from.can_become(to) {
            return Err(illegal(mottakersystem, melding_id, from, to));
        }
        match (&claim, key) {
            (Claim::DeliveredBy(holder), Some(key)) => {
                record_duplicate_in(
                    &tx,
                    mottakersystem,
                    key,
                    Channel::FiksIo,
                    melding_id,
                    holder,
                    now,
                )?;
                let link = format!(
                    "already delivered by {} {}",
                    holder.channel.title(),
                    holder.id
                );
                let receipt = if receipt_owed {
                    ReceiptDuty::Owed
                } else {
                    ReceiptDuty::None
                };
                tx.prepare_cached(
                    "UPDATE fiks_io_melding SET state = 'duplicate', reason = ?3, digisos_id = ?4,
                         ekstern_ref = ?5, receipt = ?6, size = ?7, updated_at = ?8
                     WHERE mottakersystem = ?1 AND melding_id = ?2",
                )?
                .execute(params![
                    mottakersystem,
                    melding_id,
                    link,
                    digisos_id,
                    ekstern_ref,
                    receipt.as_str(),
                    size,
                    now
                ])?;
            }
            _ => {
                tx.prepare_cached(
                    "UPDATE fiks_io_melding SET state = 'staged', staged_at = ?3, digisos_id = ?4,
                         ekstern_ref = ?5, kept_copy = ?6, size = ?7, reason = NULL, updated_at = ?3
                     WHERE mottakersystem = ?1 AND melding_id = ?2",
                )?
                .execute(params![
                    mottakersystem,
                    melding_id,
                    now,
                    digisos_id,
                    ekstern_ref,
                    kept_copy,
                    size
                ])?;
            }
        }
        tx.commit()?;
        Ok(staged)
    }

    /// `staged` → `delivered` and the receipt duty (`receipt_owed`: the
    /// Digisos types), in one transaction: the message may be acked once
    /// this returns.
    pub fn fiks_io_delivered(
        &mut self,
        mottakersystem: &str,
        melding_id: &str,
        receipt_owed: bool,
    ) -> Result<(), JournalError> {
        let receipt = if receipt_owed {
            ReceiptDuty::Owed
        } else {
            ReceiptDuty::None
        };
        self.fiks_io_move(
            mottakersystem,
            melding_id,
            FiksIoState::Delivered,
            "delivered_at = ?3, receipt = ?5, receipt_attempts = 0, receipt_next_at = NULL",
            &[&receipt.as_str()],
        )
    }

    /// → `failed` with a reason for a person and the kept encrypted copy; no
    /// receipt (so Fiks falls back to SvarInn).
    pub fn fiks_io_failed(
        &mut self,
        mottakersystem: &str,
        melding_id: &str,
        reason: &str,
        kept_copy: Option<&str>,
    ) -> Result<(), JournalError> {
        self.fiks_io_move(
            mottakersystem,
            melding_id,
            FiksIoState::Failed,
            "reason = ?5, kept_copy = ?6, receipt = 'none'",
            &[&reason, &kept_copy],
        )
    }

    /// `staged` → `received`: the staging was lost before the rename (it
    /// is prepared again from the message).
    pub fn fiks_io_unstaged(
        &mut self,
        mottakersystem: &str,
        melding_id: &str,
    ) -> Result<(), JournalError> {
        self.fiks_io_move(
            mottakersystem,
            melding_id,
            FiksIoState::Received,
            "staged_at = NULL",
            &[],
        )
    }

    /// `delivered` → `imported`: the folder left `inn/`.
    pub fn fiks_io_imported(
        &mut self,
        mottakersystem: &str,
        melding_id: &str,
    ) -> Result<(), JournalError> {
        self.fiks_io_move(
            mottakersystem,
            melding_id,
            FiksIoState::Imported,
            "imported_at = ?3",
            &[],
        )
    }

    /// The kept encrypted copy was removed (the message is delivered).
    pub fn fiks_io_copy_dropped(
        &mut self,
        mottakersystem: &str,
        melding_id: &str,
    ) -> Result<(), JournalError> {
        let tx = self.write_tx()?;
        tx.prepare_cached(
            "UPDATE fiks_io_melding SET kept_copy = NULL
             WHERE mottakersystem = ?1 AND melding_id = ?2",
        )?
        .execute(params![mottakersystem, melding_id])?;
        tx.commit()?;
        Ok(())
    }

    /// The receipt was sent: `owed` → `sent`.
    pub fn fiks_io_receipt_sent(
        &mut self,
        mottakersystem: &str,
        melding_id: &str,
    ) -> Result<(), JournalError> {
        let now = self.fiks_io_now();
        let tx = self.write_tx()?;
        tx.prepare_cached(
            "UPDATE fiks_io_melding SET receipt = 'sent', receipt_sent_at = ?3,
                 receipt_next_at = NULL, receipt_error = NULL, updated_at = ?3
             WHERE mottakersystem = ?1 AND melding_id = ?2 AND receipt = 'owed'",
        )?
        .execute(params![mottakersystem, melding_id, now])?;
        tx.commit()?;
        Ok(())
    }

    /// A receipt send failed: counted, with its error and the time of the
    /// next try. Returns the attempts so far.
    pub fn fiks_io_receipt_failed(
        &mut self,
        mottakersystem: &str,
        melding_id: &str,
        error: &str,
        next_at: i64,
    ) -> Result<u32, JournalError> {
        let now = self.fiks_io_now();
        let tx = self.write_tx()?;
        tx.prepare_cached(
            "UPDATE fiks_io_melding SET receipt_attempts = receipt_attempts + 1,
                 receipt_error = ?3, receipt_next_at = ?4, updated_at = ?5
             WHERE mottakersystem = ?1 AND melding_id = ?2 AND receipt = 'owed'",
        )?
        .execute(params![mottakersystem, melding_id, error, next_at, now])?;
        tx.commit()?;
        Ok(self
            .fiks_io_row(mottakersystem, melding_id)?
            .map_or(0, |r| r.receipt_attempts))
    }

    /// Messages in `states`, oldest first.
    pub fn fiks_io_in_states(
        &self,
        mottakersystem: &str,
        states: &[FiksIoState],
    ) -> Result<Vec<FiksIoRow>, JournalError> {
        let mut out = Vec::new();
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM fiks_io_melding WHERE mottakersystem = ?1 AND state = ?2
             ORDER BY received_at, melding_id"
        ))?;
        for state in states {
            let rows = stmt.query_map(params![mottakersystem, state.as_str()], read_row)?;
            for r in rows {
                out.push(finish(r?)?);
            }
        }
        out.sort_by(|a, b| {
            (a.received_at, &a.melding.melding_id).cmp(&(b.received_at, &b.melding.melding_id))
        });
        Ok(out)
    }

    /// Messages whose receipt is owed and whose next try has come (`now`,
    /// Unix ms), oldest first.
    pub fn fiks_io_receipts_due(
        &self,
        mottakersystem: &str,
        now: i64,
    ) -> Result<Vec<FiksIoRow>, JournalError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM fiks_io_melding WHERE mottakersystem = ?1 AND receipt = 'owed'
                 AND (receipt_next_at IS NULL OR receipt_next_at <= ?2)
             ORDER BY received_at, melding_id"
        ))?;
        let rows = stmt.query_map(params![mottakersystem, now], read_row)?;
        rows.map(|r| finish(r?)).collect()
    }
}

/// A mottakersystem's Fiks IO messages as consoles count them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FiksIoSummary {
    /// Delivered to `inn/` (delivered or imported since).
    pub delivered: u64,
    /// Kept as failed, for a person.
    pub failed: u32,
    pub receipts_owed: u32,
    /// Owed receipts whose last send failed.
    pub receipts_failing: u32,
    pub oldest_receipt_owed_at: Option<i64>,
    /// The newest failed send's error.
    pub last_receipt_error: Option<String>,
}

impl Journal {
    /// [`FiksIoSummary`] of `mottakersystem`, in one read.
    pub fn fiks_io_summary(&self, mottakersystem: &str) -> Result<FiksIoSummary, JournalError> {
        let (delivered, failed, owed, failing, oldest): (i64, i64, i64, i64, Option<i64>) =
            self.conn.query_row(
                "SELECT
                    COALESCE(SUM(state IN ('delivered', 'imported')), 0),
                    COALESCE(SUM(state = 'failed'), 0),
                    COALESCE(SUM(receipt = 'owed'), 0),
                    COALESCE(SUM(receipt = 'owed' AND receipt_attempts > 0), 0),
                    MIN(CASE WHEN receipt = 'owed' THEN COALESCE(delivered_at, received_at) END)
                 FROM fiks_io_melding WHERE mottakersystem = ?1",
                params![mottakersystem],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )?;
        let last_receipt_error = self
            .conn
            .query_row(
                "SELECT receipt_error FROM fiks_io_melding
                 WHERE mottakersystem = ?1 AND receipt = 'owed' AND receipt_error IS NOT NULL
                 ORDER BY updated_at DESC LIMIT 1",
                params![mottakersystem],
                |r| r.get(0),
            )
            .optional()?;
        let n = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
        Ok(FiksIoSummary {
            delivered: u64::try_from(delivered.max(0)).unwrap_or(0),
            failed: n(failed),
            receipts_owed: n(owed),
            receipts_failing: n(failing),
            oldest_receipt_owed_at: oldest,
            last_receipt_error,
        })
    }
}

/// What [`Journal::fiks_io_stage`] made of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Staged {
    /// Staged: publish it.
    Staged,
    /// Delivered before by `0`: do not publish; it is `duplicate`.
    Duplicate(ClaimHolder),
}

/// The state of a message, read inside `tx`.
fn state_in(
    tx: &rusqlite::Connection,
    mottakersystem: &str,
    melding_id: &str,
) -> Result<FiksIoState, JournalError> {
    let from: Option<String> = tx
        .prepare_cached(
            "SELECT state FROM fiks_io_melding WHERE mottakersystem = ?1 AND melding_id = ?2",
        )?
        .query_row(params![mottakersystem, melding_id], |r| r.get(0))
        .optional()?;
    let Some(from) = from else {
        return Err(JournalError::NotFound {
            mottakersystem: mottakersystem.to_owned(),
            id: melding_id.to_owned(),
        });
    };
    FiksIoState::parse(&from)
        .ok_or_else(|| JournalError::Corrupt(format!("Fiks IO state {from:?}")))
}

fn illegal(
    mottakersystem: &str,
    melding_id: &str,
    from: FiksIoState,
    to: FiksIoState,
) -> JournalError {
    JournalError::IllegalFiksIoTransition {
        mottakersystem: mottakersystem.to_owned(),
        id: melding_id.to_owned(),
        from: from.as_str(),
        to: to.as_str(),
    }
}

impl rusqlite::ToSql for FiksIoState {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

#[cfg(test)]
mod tests;
