//! The `forsendelse` table's reads and writes (and its `attempt` events): the
//! inbound pipeline's journal, apart from opening it and its transactions.

use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;

use super::innsending::{self, Channel};
use super::{
    AttemptRecord, Change, Counters, Journal, JournalError, ListedDecision, NewForsendelse,
    Outcome, Row, State, StateCount, Work, can_transition, decide_listed,
};
use crate::clock::{from_millis, to_millis};
use crate::config::AckMode;
use crate::names::ForsendelseId;

pub(super) const COLUMNS: &str =
    "mottakersystem, forsendelse_id, state, resume_state, next_attempt_at,
    attempts, content_failures, last_error, tittel, avsender_navn, forsendelse_type, sendt_at,
    size, raw_json, digisos_id, folder_name, reason, feil_reported_at, first_seen_at,
    last_listed_at, downloaded_at, delivered_at, imported_at, acked_at, updated_at";

impl Journal {
    /// Records that SvarInn listed `f`, and says what to do about it: a new
    /// forsendelse is inserted as `listed`; a known one only has its
    /// `last_listed_at` updated (its JSON as first received is kept).
    pub fn record_listed(
        &mut self,
        mottakersystem: &str,
        f: &NewForsendelse,
    ) -> Result<ListedDecision, JournalError> {
        let now = self.now();
        let tx = self.write_tx()?;
        let decision = record_listed_in(&tx, mottakersystem, f, now)?;
        tx.commit()?;
        Ok(decision)
    }

    /// [`Journal::record_listed`] for a whole page SvarInn listed, in one
    /// transaction (one fsync for the page). Decisions in the page's order.
    pub fn record_listed_page(
        &mut self,
        mottakersystem: &str,
        page: &[NewForsendelse],
    ) -> Result<Vec<ListedDecision>, JournalError> {
        let now = self.now();
        let tx = self.write_tx()?;
        let decisions = page
            .iter()
            .map(|f| record_listed_in(&tx, mottakersystem, f, now))
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit()?;
        Ok(decisions)
    }

    /// One forsendelse, if known.
    pub fn get(
        &self,
        mottakersystem: &str,
        id: &ForsendelseId,
    ) -> Result<Option<Row>, JournalError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM forsendelse WHERE mottakersystem = ?1 AND forsendelse_id = ?2"
        );
        let row = self
            .conn
            .prepare_cached(&sql)?
            .query_row(params![mottakersystem, id.as_str()], read_row)
            .optional()?;
        row.transpose()
    }

    /// Moves a forsendelse to the state `change` names, if the transition is
    /// allowed; otherwise nothing is written and the error says why. The
    /// change is committed (and fsynced) before this returns.
    pub fn transition(
        &mut self,
        mottakersystem: &str,
        id: &ForsendelseId,
        change: Change,
    ) -> Result<Row, JournalError> {
        let now = self.now();
        let tx = self.write_tx()?;
        apply_change(&tx, mottakersystem, id.as_str(), &change, now)?;
        tx.commit()?;
        self.get(mottakersystem, id)?
            .ok_or_else(|| JournalError::NotFound {
                mottakersystem: mottakersystem.to_owned(),
                id: id.to_string(),
            })
    }

    /// Records one attempt at `action` for a forsendelse (its history), and
    /// on failure counts it and keeps the error as `last_error`.
    pub fn record_attempt(
        &mut self,
        mottakersystem: &str,
        id: &ForsendelseId,
        action: &str,
        outcome: &Outcome,
    ) -> Result<Counters, JournalError> {
        let now = self.now();
        let tx = self.write_tx()?;
        let (label, error, failed, content) = match outcome {
            Outcome::Ok => ("ok", None, 0, 0),
            Outcome::Failed { error } => ("failed", Some(error.as_str()), 1, 0),
            Outcome::ContentFailed { error } => ("content-failed", Some(error.as_str()), 1, 1),
        };
        let changed = tx
            .prepare_cached(
                "UPDATE forsendelse SET attempts = attempts + ?3,
                content_failures = content_failures + ?4,
                last_error = COALESCE(?5, last_error), updated_at = ?6
             WHERE mottakersystem = ?1 AND forsendelse_id = ?2",
            )?
            .execute(params![
                mottakersystem,
                id.as_str(),
                failed,
                content,
                error,
                now
            ])?;
        if changed == 0 {
            return Err(JournalError::NotFound {
                mottakersystem: mottakersystem.to_owned(),
                id: id.to_string(),
            });
        }
        insert_event(&tx, mottakersystem, id.as_str(), now, action, label, error)?;
        let counters = tx
            .prepare_cached(
                "SELECT attempts, content_failures FROM forsendelse
             WHERE mottakersystem = ?1 AND forsendelse_id = ?2",
            )?
            .query_row(params![mottakersystem, id.as_str()], |r| {
                Ok(Counters {
                    attempts: r.get(0)?,
                    content_failures: r.get(1)?,
                })
            })?;
        tx.commit()?;
        Ok(counters)
    }

    /// Replaces the listing of a forsendelse not yet downloaded (`listed`, or waiting to retry
    /// its download) with `f`, as listed by the SvarInn API its mottakersystem speaks since a
    /// switch: the download then follows that API's link, and `forsendelse.json` is that API's.
    /// Returns false (and changes nothing) once it is past downloading.
    pub fn replace_listing(
        &mut self,
        mottakersystem: &str,
        f: &NewForsendelse,
    ) -> Result<bool, JournalError> {
        let now = self.now();
        let tx = self.write_tx()?;
        let changed = tx
            .prepare_cached(
                "UPDATE forsendelse SET tittel = ?3, avsender_navn = ?4, forsendelse_type = ?5,
                        sendt_at = ?6, size = ?7, raw_json = ?8, updated_at = ?9
                 WHERE mottakersystem = ?1 AND forsendelse_id = ?2
                   AND (state = 'listed' OR (state = 'retry_wait' AND resume_state = 'listed'))",
            )?
            .execute(params![
                mottakersystem,
                f.id.as_str(),
                f.tittel,
                f.avsender_navn,
                f.forsendelse_type,
                f.sendt_at.map(to_millis),
                f.size.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
                f.raw_json,
                now
            ])?;
        if changed > 0 {
            insert_event(
                &tx,
                mottakersystem,
                f.id.as_str(),
                now,
                "listed",
                "replaced by the listing of the SvarInn API spoken now",
                None,
            )?;
        }
        tx.commit()?;
        Ok(changed > 0)
    }

    /// Records that mottakFeilet was sent for a `failed` or `permanent` row,
    /// so it is not sent again.
    pub fn mark_feil_reported(
        &mut self,
        mottakersystem: &str,
        id: &ForsendelseId,
    ) -> Result<(), JournalError> {
        let now = self.now();
        let tx = self.write_tx()?;
        let from = current_state(&tx, mottakersystem, id.as_str())?.0;
        if !matches!(from, State::Failed | State::Permanent) {
            return Err(JournalError::IllegalTransition {
                mottakersystem: mottakersystem.to_owned(),
                id: id.to_string(),
                from,
                to: from,
                note: Some("mottakFeilet is only reported for failed or permanent"),
            });
        }
        tx.prepare_cached(
            "UPDATE forsendelse SET feil_reported_at = ?3, updated_at = ?3
             WHERE mottakersystem = ?1 AND forsendelse_id = ?2",
        )?
        .execute(params![mottakersystem, id.as_str(), now])?;
        insert_event(
            &tx,
            mottakersystem,
            id.as_str(),
            now,
            "mottakFeilet",
            "ok",
            None,
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Returns every `retry_wait` row whose time has come (of one
    /// mottakersystem, or all) to the state it left. Returns how many.
    pub fn wake_due(&mut self, mottakersystem: Option<&str>) -> Result<usize, JournalError> {
        let now = self.now();
        let tx = self.write_tx()?;
        // Two spellings rather than `(?2 IS NULL OR mottakersystem = ?2)`,
        // which keeps SQLite from using the (mottakersystem, state) index and
        // scans every row on each turn of the loop.
        let due: Vec<(String, String)> = {
            let read = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?));
            match mottakersystem {
                Some(sys) => tx
                    .prepare(
                        "SELECT mottakersystem, forsendelse_id FROM forsendelse
                         WHERE mottakersystem = ?2 AND state = 'retry_wait' AND next_attempt_at <= ?1",
                    )?
                    .query_map(params![now, sys], read)?
                    .collect::<Result<_, _>>()?,
                None => tx
                    .prepare(
                        "SELECT mottakersystem, forsendelse_id FROM forsendelse
                         WHERE state = 'retry_wait' AND next_attempt_at <= ?1",
                    )?
                    .query_map(params![now], read)?
                    .collect::<Result<_, _>>()?,
            }
        };
        for (sys, id) in &due {
            apply_change(&tx, sys, id, &Change::Resume, now)?;
        }
        tx.commit()?;
        Ok(due.len())
    }

    /// The rows of `mottakersystem` that ask for work now, oldest first,
    /// with the work each asks for. Wakes due `retry_wait` rows first.
    ///
    /// In `on-import` mode, `delivered` rows wait for the fagsystem; they are
    /// left out (see [`Journal::awaiting_import`]) so that thousands of
    /// folders waiting in `inn/` do not make every turn of the loop heavy.
    pub fn due_work(
        &mut self,
        mottakersystem: &str,
        ack: AckMode,
    ) -> Result<Vec<(Row, Work)>, JournalError> {
        self.wake_due(Some(mottakersystem))?;
        let states = match ack {
            AckMode::OnImport => "'listed','downloaded','imported','failed','permanent'",
            AckMode::OnDelivery => {
                "'listed','downloaded','delivered','imported','failed','permanent'"
            }
        };
        // One `state IN (...)` so the (mottakersystem, state) index bounds
        // the search: acknowledged rows, the bulk of the table, are never visited.
        let sql = format!(
            "SELECT {COLUMNS} FROM forsendelse
             WHERE mottakersystem = ?1 AND state IN ({states})
               AND (state NOT IN ('failed','permanent') OR feil_reported_at IS NULL)
             ORDER BY first_seen_at, forsendelse_id"
        );
        let rows = self.query_rows(&sql, params![mottakersystem])?;
        Ok(rows
            .into_iter()
            .filter_map(|row| row.work(ack).map(|w| (row, w)))
            .collect())
    }

    /// The `delivered` rows of `mottakersystem` (id, folder name in `inn/`):
    /// light enough to compare with a listing of `inn/` on every turn.
    pub fn awaiting_import(
        &self,
        mottakersystem: &str,
    ) -> Result<Vec<(ForsendelseId, String)>, JournalError> {
        self.folders_in(mottakersystem, State::Delivered)
    }

    /// The `rejected` rows of `mottakersystem` (id, folder name): compared
    /// with a listing of `inn/` to find folders moved back whose journal
    /// change was lost (a crash inside the console's `move_to_inn`).
    pub fn rejected_folders(
        &self,
        mottakersystem: &str,
    ) -> Result<Vec<(ForsendelseId, String)>, JournalError> {
        self.folders_in(mottakersystem, State::Rejected)
    }

    /// The rows of `mottakersystem` in `state`: id and folder name.
    fn folders_in(
        &self,
        mottakersystem: &str,
        state: State,
    ) -> Result<Vec<(ForsendelseId, String)>, JournalError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT forsendelse_id, COALESCE(folder_name, forsendelse_id) FROM forsendelse
             WHERE mottakersystem = ?1 AND state = ?2",
        )?;
        let rows = stmt.query_map(params![mottakersystem, state.as_str()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        rows.map(|r| {
            let (id, folder) = r?;
            let id = ForsendelseId::parse(&id)
                .map_err(|e| JournalError::Corrupt(format!("forsendelse id: {e}")))?;
            Ok((id, folder))
        })
        .collect()
    }

    /// When the next `retry_wait` row of `mottakersystem` (or of any) comes due.
    pub fn next_wake(
        &self,
        mottakersystem: Option<&str>,
    ) -> Result<Option<OffsetDateTime>, JournalError> {
        let ms: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT MIN(next_attempt_at) FROM forsendelse
             WHERE state = 'retry_wait' AND (?1 IS NULL OR mottakersystem = ?1)",
            )?
            .query_row(params![mottakersystem], |r| r.get(0))?;
        Ok(ms.map(from_millis))
    }

    /// The rows of `mottakersystem` in `state`, oldest first, at most `limit`.
    pub fn list(
        &self,
        mottakersystem: &str,
        state: State,
        limit: usize,
    ) -> Result<Vec<Row>, JournalError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM forsendelse WHERE mottakersystem = ?1 AND state = ?2
             ORDER BY first_seen_at, forsendelse_id LIMIT ?3"
        );
        self.query_rows(
            &sql,
            params![
                mottakersystem,
                state.as_str(),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
        )
    }

    /// How many forsendelser each mottakersystem has in each state.
    pub fn counts(&self) -> Result<Vec<StateCount>, JournalError> {
        self.counts_by_state("forsendelse")?
            .into_iter()
            .map(|(mottakersystem, state, count)| {
                Ok(StateCount {
                    mottakersystem,
                    state: parse_state(&state)?,
                    count,
                })
            })
            .collect()
    }

    /// The forsendelse of `mottakersystem` that has waited longest for an
    /// acknowledgement (any state but `acked` and `permanent`).
    pub fn oldest_unacknowledged(&self, mottakersystem: &str) -> Result<Option<Row>, JournalError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM forsendelse
             WHERE mottakersystem = ?1 AND state NOT IN ('acked','permanent')
             ORDER BY first_seen_at, forsendelse_id LIMIT 1"
        );
        Ok(self
            .query_rows(&sql, params![mottakersystem])?
            .into_iter()
            .next())
    }

    /// A forsendelse's history, oldest first.
    pub fn history(
        &self,
        mottakersystem: &str,
        id: &ForsendelseId,
    ) -> Result<Vec<AttemptRecord>, JournalError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT at, action, outcome, error FROM attempt
             WHERE mottakersystem = ?1 AND forsendelse_id = ?2 ORDER BY at, id",
        )?;
        let rows = stmt.query_map(params![mottakersystem, id.as_str()], |r| {
            Ok(AttemptRecord {
                at: from_millis(r.get(0)?),
                action: r.get(1)?,
                outcome: r.get(2)?,
                error: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(super) fn query_rows(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<Row>, JournalError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params, read_row)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row??);
        }
        Ok(out)
    }
}

/// Records one listed forsendelse inside `tx` (see [`Journal::record_listed`]).
pub(super) fn record_listed_in(
    tx: &Connection,
    mottakersystem: &str,
    f: &NewForsendelse,
    now: i64,
) -> Result<ListedDecision, JournalError> {
    let existing: Option<String> = tx
        .prepare_cached(
            "SELECT state FROM forsendelse WHERE mottakersystem = ?1 AND forsendelse_id = ?2",
        )?
        .query_row(params![mottakersystem, f.id.as_str()], |r| r.get(0))
        .optional()?;
    let existing = existing.map(|s| parse_state(&s)).transpose()?;
    let decision = decide_listed(existing);
    if existing.is_none() {
        tx.prepare_cached(
            "INSERT INTO forsendelse (mottakersystem, forsendelse_id, state, tittel,
                    avsender_navn, forsendelse_type, sendt_at, size, raw_json,
                    first_seen_at, last_listed_at, updated_at)
                 VALUES (?1, ?2, 'listed', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?9)",
        )?
        .execute(params![
            mottakersystem,
            f.id.as_str(),
            f.tittel,
            f.avsender_navn,
            f.forsendelse_type,
            f.sendt_at.map(to_millis),
            f.size.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
            f.raw_json,
            now
        ])?;
        insert_event(
            tx,
            mottakersystem,
            f.id.as_str(),
            now,
            "listed",
            "new",
            None,
        )?;
    } else {
        tx.prepare_cached(
            "UPDATE forsendelse SET last_listed_at = ?3
                 WHERE mottakersystem = ?1 AND forsendelse_id = ?2",
        )?
        .execute(params![mottakersystem, f.id.as_str(), now])?;
    }
    Ok(decision)
}

pub(super) fn parse_state(s: &str) -> Result<State, JournalError> {
    State::parse(s).ok_or_else(|| JournalError::Corrupt(format!("unknown state {s:?}")))
}

pub(super) fn current_state(
    tx: &Connection,
    mottakersystem: &str,
    id: &str,
) -> Result<(State, Option<State>), JournalError> {
    let found: Option<(String, Option<String>)> = tx
        .prepare_cached(
            "SELECT state, resume_state FROM forsendelse
             WHERE mottakersystem = ?1 AND forsendelse_id = ?2",
        )?
        .query_row(params![mottakersystem, id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((state, resume)) = found else {
        return Err(JournalError::NotFound {
            mottakersystem: mottakersystem.to_owned(),
            id: id.to_owned(),
        });
    };
    Ok((
        parse_state(&state)?,
        resume.as_deref().map(parse_state).transpose()?,
    ))
}

/// Checks and writes one state change inside `tx`.
pub(super) fn apply_change(
    tx: &Connection,
    mottakersystem: &str,
    id: &str,
    change: &Change,
    now: i64,
) -> Result<(), JournalError> {
    let (from, resume) = current_state(tx, mottakersystem, id)?;
    let illegal = |to, note| JournalError::IllegalTransition {
        mottakersystem: mottakersystem.to_owned(),
        id: id.to_owned(),
        from,
        to,
        note,
    };
    let Some(to) = change.target(resume) else {
        return Err(illegal(from, Some("only a retry_wait can resume")));
    };
    if !can_transition(from, to) {
        return Err(illegal(to, None));
    }
    if from == State::RetryWait && to.is_resumable() && Some(to) != resume {
        return Err(illegal(
            to,
            Some("a retry_wait returns only to the state it left"),
        ));
    }
    let k = params![mottakersystem, id];
    let set = |sql: &str, extra: &[&dyn rusqlite::ToSql]| -> Result<(), JournalError> {
        let mut all: Vec<&dyn rusqlite::ToSql> = vec![k[0], k[1]];
        all.extend_from_slice(extra);
        tx.prepare_cached(&format!(
            "UPDATE forsendelse SET {sql} WHERE mottakersystem = ?1 AND forsendelse_id = ?2"
        ))?
        .execute(all.as_slice())?;
        Ok(())
    };
    // Common to every change: the new state, no pending wait (unless entering one).
    set(
        "state = ?3, updated_at = ?4, resume_state = NULL, next_attempt_at = NULL",
        &[&to.as_str(), &now],
    )?;
    let mut error: Option<&str> = None;
    match change {
        Change::Downloaded => set(
            "downloaded_at = ?3, attempts = 0, last_error = NULL",
            &[&now],
        )?,
        Change::Delivered {
            folder_name,
            digisos_id,
        } => set(
            "delivered_at = ?3, folder_name = ?4, digisos_id = COALESCE(?5, digisos_id),
             attempts = 0, last_error = NULL, reason = NULL",
            &[&now, folder_name, digisos_id],
        )?,
        Change::Imported => set("imported_at = ?3, attempts = 0, last_error = NULL", &[&now])?,
        Change::Acked => set("acked_at = ?3, attempts = 0, last_error = NULL", &[&now])?,
        Change::RetryWait {
            next_attempt_at,
            error: e,
        } => {
            error = Some(e);
            set(
                "resume_state = ?3, next_attempt_at = ?4, last_error = ?5",
                &[&from.as_str(), &to_millis(*next_attempt_at), e],
            )?
        }
        Change::Failed { error: e } => {
            error = Some(e);
            set("last_error = ?3, feil_reported_at = NULL", &[e])?
        }
        Change::Rejected { reason } => set("reason = ?3", &[reason])?,
        Change::Permanent { reason } => {
            set("reason = ?3, feil_reported_at = NULL", &[reason])?;
            // Given up before it was ever published: its innsending claim (if it took one)
            // must not keep the other channel from delivering it.
            let published: bool = tx
                .prepare_cached(
                    "SELECT delivered_at IS NOT NULL FROM forsendelse
                     WHERE mottakersystem = ?1 AND forsendelse_id = ?2",
                )?
                .query_row(k, |r| r.get(0))?;
            if !published {
                innsending::release_in(tx, mottakersystem, Channel::SvarInn, id)?;
            }
        }
        Change::Relisted => {
            if from == State::Failed {
                // A person retries: a fresh budget of attempts.
                set(
                    "attempts = 0, content_failures = 0, feil_reported_at = NULL",
                    &[],
                )?
            } else {
                set("attempts = 0", &[])?
            }
        }
        Change::Resume => {}
    }
    let outcome = format!("{from} -> {to}");
    let reason = match change {
        Change::Rejected { reason } => reason.as_deref(),
        Change::Permanent { reason } => Some(reason.as_str()),
        _ => error,
    };
    insert_event(tx, mottakersystem, id, now, "transition", &outcome, reason)?;
    Ok(())
}

pub(super) fn insert_event(
    tx: &Connection,
    mottakersystem: &str,
    id: &str,
    at: i64,
    action: &str,
    outcome: &str,
    error: Option<&str>,
) -> Result<(), JournalError> {
    tx.prepare_cached(
        "INSERT INTO attempt (mottakersystem, forsendelse_id, at, action, outcome, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![mottakersystem, id, at, action, outcome, error])?;
    Ok(())
}

pub(super) fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Row, JournalError>> {
    let time = |i: usize| -> rusqlite::Result<Option<OffsetDateTime>> {
        Ok(r.get::<_, Option<i64>>(i)?.map(from_millis))
    };
    let id: String = r.get(1)?;
    let state: String = r.get(2)?;
    let resume: Option<String> = r.get(3)?;
    let size: Option<i64> = r.get(12)?;
    let built = (|| -> Result<Row, JournalError> {
        Ok(Row {
            mottakersystem: r.get(0)?,
            id: ForsendelseId::parse(&id)
                .map_err(|e| JournalError::Corrupt(format!("forsendelse id: {e}")))?,
            state: parse_state(&state)?,
            resume_state: resume.as_deref().map(parse_state).transpose()?,
            next_attempt_at: time(4)?,
            attempts: r.get(5)?,
            content_failures: r.get(6)?,
            last_error: r.get(7)?,
            tittel: r.get(8)?,
            avsender_navn: r.get(9)?,
            forsendelse_type: r.get(10)?,
            sendt_at: time(11)?,
            size: size.map(|s| u64::try_from(s).unwrap_or(0)),
            raw_json: r.get(13)?,
            digisos_id: r.get(14)?,
            folder_name: r.get(15)?,
            reason: r.get(16)?,
            feil_reported_at: time(17)?,
            first_seen_at: from_millis(r.get(18)?),
            last_listed_at: from_millis(r.get(19)?),
            downloaded_at: time(20)?,
            delivered_at: time(21)?,
            imported_at: time(22)?,
            acked_at: time(23)?,
            updated_at: from_millis(r.get(24)?),
        })
    })();
    Ok(built)
}
