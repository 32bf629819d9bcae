//! The journal's schema: the versioned migrations and applying them on open.
//! Separate so the append-only history of `CREATE` statements is read on its own.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::{JournalError, fiks_io, innsending, outbound};

/// The schema, one migration per version: `MIGRATIONS[n]` takes version `n`
/// to `n + 1`. Append only; never edit a migration that has shipped.
pub const MIGRATIONS: &[&str] = &[
    // 1: forsendelser and their attempts.
    "CREATE TABLE forsendelse (
        mottakersystem   TEXT NOT NULL,
        forsendelse_id   TEXT NOT NULL,
        state            TEXT NOT NULL CHECK (state IN ('listed','downloaded','delivered',
                             'imported','acked','retry_wait','failed','rejected','permanent')),
        resume_state     TEXT,
        next_attempt_at  INTEGER,
        attempts         INTEGER NOT NULL DEFAULT 0,
        content_failures INTEGER NOT NULL DEFAULT 0,
        last_error       TEXT,
        tittel           TEXT NOT NULL,
        avsender_navn    TEXT,
        forsendelse_type TEXT,
        sendt_at         INTEGER,
        size             INTEGER,
        raw_json         TEXT NOT NULL,
        digisos_id       TEXT,
        folder_name      TEXT,
        reason           TEXT,
        feil_reported_at INTEGER,
        first_seen_at    INTEGER NOT NULL,
        last_listed_at   INTEGER NOT NULL,
        downloaded_at    INTEGER,
        delivered_at     INTEGER,
        imported_at      INTEGER,
        acked_at         INTEGER,
        updated_at       INTEGER NOT NULL,
        PRIMARY KEY (mottakersystem, forsendelse_id)
    );
    CREATE INDEX forsendelse_by_state ON forsendelse (mottakersystem, state, next_attempt_at);
    CREATE TABLE attempt (
        id               INTEGER PRIMARY KEY,
        mottakersystem   TEXT NOT NULL,
        forsendelse_id   TEXT NOT NULL,
        at               INTEGER NOT NULL,
        action           TEXT NOT NULL,
        outcome          TEXT NOT NULL,
        error            TEXT,
        FOREIGN KEY (mottakersystem, forsendelse_id)
            REFERENCES forsendelse (mottakersystem, forsendelse_id) ON DELETE CASCADE
    );
    CREATE INDEX attempt_by_forsendelse ON attempt (mottakersystem, forsendelse_id, at);",
    // 2: the console API (see `access`): access lists, the append-only audit
    // log, console command outcomes, paused mottakersystemer.
    "CREATE TABLE access_grant (
        principal_kind TEXT NOT NULL CHECK (principal_kind IN ('user','group')),
        principal      TEXT NOT NULL,
        role           TEXT NOT NULL CHECK (role IN ('viewer','operator','admin')),
        scope          TEXT NOT NULL,
        granted_by     TEXT NOT NULL,
        granted_at     INTEGER NOT NULL,
        PRIMARY KEY (principal_kind, principal, role, scope)
    );
    CREATE TABLE access_member (
        user_name  TEXT NOT NULL,
        group_name TEXT NOT NULL,
        added_by   TEXT NOT NULL,
        added_at   INTEGER NOT NULL,
        PRIMARY KEY (user_name, group_name)
    );
    CREATE TABLE audit (
        seq            INTEGER PRIMARY KEY AUTOINCREMENT,
        at             INTEGER NOT NULL,
        who            TEXT NOT NULL,
        via            TEXT NOT NULL,
        action         TEXT NOT NULL,
        mottakersystem TEXT,
        target         TEXT,
        reason         TEXT,
        outcome        TEXT NOT NULL,
        command_id     TEXT
    );
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TABLE console_command (
        who        TEXT NOT NULL,
        command_id TEXT NOT NULL,
        at         INTEGER NOT NULL,
        outcome    TEXT NOT NULL,
        PRIMARY KEY (who, command_id)
    );
    CREATE TABLE paused (
        mottakersystem TEXT PRIMARY KEY,
        paused_by      TEXT NOT NULL,
        paused_at      INTEGER NOT NULL,
        reason         TEXT
    );",
    // 3: the outbound pipeline (see `outbound`): claimed saksoppdateringer,
    // the files uploaded per case, their attempts.
    outbound::MIGRATION,
    // 4: one Digisos innsending delivered once across channels (see `innsending`): the
    // claims, and the duplicates acknowledged without being delivered again.
    innsending::MIGRATION,
    // 5: the Fiks IO pipeline (see `fiks_io`): one row per message, its
    // receipt duty.
    fiks_io::MIGRATION,
];

/// The schema version this code writes.
// A handful of migrations: the cast cannot truncate.
#[allow(clippy::cast_possible_truncation)]
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

pub(super) fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

pub(super) fn check_version(path: &Path, found: u32) -> Result<(), JournalError> {
    if found > SCHEMA_VERSION {
        return Err(JournalError::TooNew {
            path: path.to_owned(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Applies the missing migrations in one immediate transaction (so two
/// processes opening a fresh journal at once cannot both migrate).
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), JournalError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = user_version(&tx)?;
    check_version(path, found)?;
    let skip = usize::try_from(found).unwrap_or(usize::MAX);
    for (done, sql) in MIGRATIONS.iter().enumerate().skip(skip) {
        tx.execute_batch(sql)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(done + 1).unwrap_or(i64::MAX),
        )?;
    }
    tx.commit()?;
    Ok(())
}
