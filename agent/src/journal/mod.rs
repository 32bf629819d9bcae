//! The journal: one SQLite row per `(mottakersystem, forsendelse id)`
//! recording where each forsendelse is, so a restart resumes where the agent
//! stopped and nothing is delivered twice or acknowledged early.
//!
//! - `state_dir/journal.sqlite`, WAL mode, `synchronous=FULL` throughout: a
//!   committed transition survives a crash or a power cut. Measured with the
//!   ignored test `measure_transition_cost` on the 2-core development VM (debug
//!   build, load average ~3 from other builds, 4 runs): FULL 1.6–4.1 ms per
//!   transition (one WAL fsync each), NORMAL 0.18–0.33 ms. Even the worst
//!   FULL figure is ~250 transitions a second against forsendelser counted in
//!   thousands a day, so no transition needs a weaker special case.
//! - Versioned migrations: `PRAGMA user_version` holds the schema version;
//!   [`MIGRATIONS`] are applied in order inside one immediate transaction. A
//!   journal newer than this code is refused, never "repaired".
//! - Transitions are checked against [`state::can_transition`]; an illegal one
//!   is a typed error, and nothing is written.
//! - Time comes from a [`Clock`], so tests need no sleeping.
//!
//! One [`Journal`] wraps one connection (not `Sync`): the pipeline owns one
//! for writing; the console and checks open their own ([`Journal::open_read_only`]).

pub mod access;
pub mod console_queries;
mod group;
pub mod outbound;
mod shared;
pub mod state;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mottak_protocol::svarinn::Forsendelse;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use time::OffsetDateTime;

pub use crate::clock::{Clock, ManualClock, SystemClock};
pub use group::GroupTx;
pub use shared::{SharedJournal, WriteStats};
pub use state::{ListedDecision, State, Work, can_transition, decide_listed, work_for};

use crate::clock::{from_millis, to_millis};
use crate::config::AckMode;
use crate::names::{ForsendelseId, NameError};

/// The journal's file name inside `state_dir`.
pub const FILE_NAME: &str = "journal.sqlite";

/// How long a statement waits for another connection's write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

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
];

/// The schema version this code writes.
// A handful of migrations: the cast cannot truncate.
#[allow(clippy::cast_possible_truncation)]
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// What went wrong with the journal. Messages name the journal file or the
/// forsendelse and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "cannot open the journal {}: {source}; check that state_dir exists and the agent's user may write it",
        path.display()
    )]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the journal {} has schema version {found}, newer than the {known} this mottak-agent knows: \
         it was written by a newer version. Install that version again (do not delete or edit the journal)",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        known: u32,
    },
    #[error(
        "the journal {} has schema version {found}, older than {known}: start mottak-agent once to upgrade it",
        path.display()
    )]
    Outdated {
        path: PathBuf,
        found: u32,
        known: u32,
    },
    #[error("could not switch the journal {} to WAL mode (it says {mode:?})", path.display())]
    NotWal { path: PathBuf, mode: String },
    #[error("forsendelse {id} of {mottakersystem} is not in the journal")]
    NotFound { mottakersystem: String, id: String },
    #[error(
        "forsendelse {id} of {mottakersystem} cannot go from {from} to {to}{}; nothing was changed",
        note.map(|n| format!(" ({n})")).unwrap_or_default()
    )]
    IllegalTransition {
        mottakersystem: String,
        id: String,
        from: State,
        to: State,
        note: Option<&'static str>,
    },
    #[error("the journal holds a value this code cannot read: {0}")]
    Corrupt(String),
    #[error("the journal call did not finish: {0}")]
    Interrupted(String),
    #[error(
        "the journal could not commit ({0}); nothing of this step was recorded, it is tried again"
    )]
    CommitFailed(String),
    #[error("journal query failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// A forsendelse as listed by SvarInn, with what the console shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewForsendelse {
    pub id: ForsendelseId,
    pub tittel: String,
    pub avsender_navn: Option<String>,
    pub forsendelse_type: Option<String>,
    /// When SvarUt received it.
    pub sendt_at: Option<OffsetDateTime>,
    /// The declared size of its files together, when SvarInn knows it.
    pub size: Option<u64>,
    /// The forsendelse JSON exactly as received.
    pub raw_json: String,
}

impl NewForsendelse {
    /// From SvarInn's model and the raw JSON it was parsed from. Refuses an
    /// id that does not look like one.
    pub fn from_svarinn(f: &Forsendelse, raw_json: &str) -> Result<Self, NameError> {
        let sizes: Vec<u64> = f
            .filmetadata
            .iter()
            .filter_map(|m| m.declared_size())
            .collect();
        Ok(NewForsendelse {
            id: ForsendelseId::parse(&f.id)?,
            tittel: f.tittel.clone(),
            avsender_navn: f.avsender.as_ref().and_then(|a| a.navn.clone()),
            forsendelse_type: f.forsendelse_type.clone(),
            sendt_at: f.date.as_ref().and_then(|d| d.to_offset_date_time().ok()),
            size: (!sizes.is_empty()).then(|| sizes.iter().sum()),
            raw_json: raw_json.to_owned(),
        })
    }
}

/// One forsendelse as the journal knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub mottakersystem: String,
    pub id: ForsendelseId,
    pub state: State,
    /// For `retry_wait`: the state it returns to.
    pub resume_state: Option<State>,
    /// For `retry_wait`: when it returns.
    pub next_attempt_at: Option<OffsetDateTime>,
    /// Failed attempts at the current step (reset when the row moves on):
    /// the backoff exponent.
    pub attempts: u32,
    /// Failed decryptions or checksum checks, compared with
    /// `max_decrypt_attempts`; reset only when a person retries.
    pub content_failures: u32,
    pub last_error: Option<String>,
    pub tittel: String,
    pub avsender_navn: Option<String>,
    pub forsendelse_type: Option<String>,
    pub sendt_at: Option<OffsetDateTime>,
    pub size: Option<u64>,
    pub raw_json: String,
    pub digisos_id: Option<String>,
    /// The folder name under `inn/` once delivered.
    pub folder_name: Option<String>,
    /// Why it was rejected (`feil.txt`) or made permanent.
    pub reason: Option<String>,
    /// When mottakFeilet was sent for the current `failed`/`permanent`.
    pub feil_reported_at: Option<OffsetDateTime>,
    pub first_seen_at: OffsetDateTime,
    pub last_listed_at: OffsetDateTime,
    pub downloaded_at: Option<OffsetDateTime>,
    pub delivered_at: Option<OffsetDateTime>,
    pub imported_at: Option<OffsetDateTime>,
    pub acked_at: Option<OffsetDateTime>,
    pub updated_at: OffsetDateTime,
}

impl Row {
    /// The work this row asks for under `ack` (see [`state::work_for`]).
    pub fn work(&self, ack: AckMode) -> Option<Work> {
        work_for(self.state, ack, self.feil_reported_at.is_some())
    }
}

/// A state change, with the data the new state records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// → `downloaded`: decrypted and verified in staging.
    Downloaded,
    /// → `delivered`: published in `inn/<folder_name>/`.
    Delivered {
        folder_name: String,
        digisos_id: Option<String>,
    },
    /// → `imported`: the folder left `inn/`.
    Imported,
    /// → `acked`: `kvitterMottak` succeeded.
    Acked,
    /// → `retry_wait`, to return to the current state at `next_attempt_at`.
    RetryWait {
        next_attempt_at: OffsetDateTime,
        error: String,
    },
    /// → `failed`: needs a person.
    Failed { error: String },
    /// → `rejected`: found in `feilet/`, with `feil.txt` when there was one.
    Rejected { reason: Option<String> },
    /// → `permanent`: given up for good (a person, or a config rule).
    Permanent { reason: String },
    /// → `listed`: download again (staging lost at restart, or a person retries a failure).
    Relisted,
    /// `retry_wait` → the state it left (see [`Journal::wake_due`]).
    Resume,
}

impl Change {
    fn target(&self, resume: Option<State>) -> Option<State> {
        Some(match self {
            Change::Downloaded => State::Downloaded,
            Change::Delivered { .. } => State::Delivered,
            Change::Imported => State::Imported,
            Change::Acked => State::Acked,
            Change::RetryWait { .. } => State::RetryWait,
            Change::Failed { .. } => State::Failed,
            Change::Rejected { .. } => State::Rejected,
            Change::Permanent { .. } => State::Permanent,
            Change::Relisted => State::Listed,
            Change::Resume => return resume,
        })
    }
}

/// How an attempt ended, for [`Journal::record_attempt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// A failure that may pass (network, 5xx, local disk).
    Failed {
        error: String,
    },
    /// The content itself was wrong (decryption, checksum): counts toward
    /// `max_decrypt_attempts`.
    ContentFailed {
        error: String,
    },
}

/// The counters after [`Journal::record_attempt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub attempts: u32,
    pub content_failures: u32,
}

/// One line of a forsendelse's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub at: OffsetDateTime,
    /// What was tried (`download`, `publish`, `kvitterMottak`, ...), or
    /// `transition` for a state change.
    pub action: String,
    /// `ok`, `failed`, `content-failed`, or `<from> -> <to>` for a transition.
    pub outcome: String,
    pub error: Option<String>,
}

/// How many forsendelser of a mottakersystem are in a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateCount {
    pub mottakersystem: String,
    pub state: State,
    pub count: u64,
}

/// The journal.
pub struct Journal {
    conn: Connection,
    clock: Arc<dyn Clock>,
    path: PathBuf,
    /// Inside a group commit ([`SharedJournal::write`]): each method's
    /// transaction is a savepoint of the group's, committed with it.
    in_group: bool,
}

/// One method's write transaction: a real `BEGIN IMMEDIATE` transaction, or,
/// inside a group commit, a savepoint that commits (is fsynced) with the group.
enum WriteTx<'a> {
    Own(rusqlite::Transaction<'a>),
    InGroup(MethodSavepoint<'a>),
}

/// A method's savepoint inside a group commit. rusqlite's `Savepoint` parses
/// its SQL on every use; this one runs cached statements (see [`run_cached`]).
/// Dropped without [`MethodSavepoint::commit`]: rolled back.
struct MethodSavepoint<'a> {
    conn: &'a Connection,
    released: bool,
}

impl<'a> MethodSavepoint<'a> {
    fn new(conn: &'a Connection) -> rusqlite::Result<Self> {
        run_cached(conn, "SAVEPOINT journal_method")?;
        Ok(MethodSavepoint {
            conn,
            released: false,
        })
    }

    fn commit(mut self) -> rusqlite::Result<()> {
        self.released = true;
        run_cached(self.conn, "RELEASE journal_method")
    }
}

impl Drop for MethodSavepoint<'_> {
    fn drop(&mut self) {
        if !self.released {
            let _ = run_cached(self.conn, "ROLLBACK TO journal_method");
            let _ = run_cached(self.conn, "RELEASE journal_method");
        }
    }
}

/// Runs a statement without parameters from the connection's statement
/// cache. The pipeline runs the same few statements thousands of times a
/// minute: parsing their SQL each time was 8% of the agent's CPU in the
/// drain benchmark, so every hot path uses `prepare_cached`.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Prepared statements kept per connection: the hot paths' statements
/// (about 30, some built with `format!` from fixed parts) with room to spare.
const STATEMENT_CACHE: usize = 96;

impl std::ops::Deref for WriteTx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        match self {
            WriteTx::Own(tx) => tx,
            WriteTx::InGroup(sp) => sp.conn,
        }
    }
}

impl WriteTx<'_> {
    fn commit(self) -> rusqlite::Result<()> {
        match self {
            WriteTx::Own(tx) => tx.commit(),
            WriteTx::InGroup(sp) => sp.commit(),
        }
    }
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

const COLUMNS: &str = "mottakersystem, forsendelse_id, state, resume_state, next_attempt_at,
    attempts, content_failures, last_error, tittel, avsender_navn, forsendelse_type, sendt_at,
    size, raw_json, digisos_id, folder_name, reason, feil_reported_at, first_seen_at,
    last_listed_at, downloaded_at, delivered_at, imported_at, acked_at, updated_at";

impl Journal {
    /// Opens (creating if needed) the journal at `path` for writing: WAL,
    /// `synchronous=FULL`, foreign keys on, migrated to [`SCHEMA_VERSION`].
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<Journal, JournalError> {
        let open_err = |source| JournalError::Open {
            path: path.to_owned(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(JournalError::NotWal {
                path: path.to_owned(),
                mode,
            });
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
            .map_err(open_err)?;
        migrate(&mut conn, path)?;
        Ok(Journal {
            conn,
            clock,
            path: path.to_owned(),
            in_group: false,
        })
    }

    /// Opens an existing journal read-only (the console, `check-config`).
    /// Refuses a journal of another schema version.
    pub fn open_read_only(path: &Path, clock: Arc<dyn Clock>) -> Result<Journal, JournalError> {
        let open_err = |source| JournalError::Open {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let found = user_version(&conn).map_err(open_err)?;
        check_version(path, found)?;
        if found < SCHEMA_VERSION {
            return Err(JournalError::Outdated {
                path: path.to_owned(),
                found,
                known: SCHEMA_VERSION,
            });
        }
        Ok(Journal {
            conn,
            clock,
            path: path.to_owned(),
            in_group: false,
        })
    }

    /// The schema version of the journal at `path` without changing it;
    /// `Ok(None)` if there is no journal yet.
    pub fn inspect_version(path: &Path) -> Result<Option<u32>, JournalError> {
        if !path.exists() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(
            |source| JournalError::Open {
                path: path.to_owned(),
                source,
            },
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(Some(user_version(&conn)?))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn schema_version(&self) -> Result<u32, JournalError> {
        Ok(user_version(&self.conn)?)
    }

    /// `PRAGMA journal_mode` as SQLite reports it (`wal`).
    pub fn journal_mode(&self) -> Result<String, JournalError> {
        Ok(self
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))?)
    }

    fn now(&self) -> i64 {
        to_millis(self.clock.now())
    }

    /// Rows changed through this connection since it was opened.
    fn total_changes(&self) -> u64 {
        self.conn.total_changes()
    }

    /// A write transaction for one method (see [`WriteTx`]).
    fn write_tx(&mut self) -> Result<WriteTx<'_>, JournalError> {
        Ok(if self.in_group {
            WriteTx::InGroup(MethodSavepoint::new(&self.conn)?)
        } else {
            WriteTx::Own(
                self.conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)?,
            )
        })
    }

    /// Starts a group commit: one `BEGIN IMMEDIATE` whose `COMMIT` (one WAL
    /// fsync) makes every job run in it durable at once. Used only by
    /// [`SharedJournal`]'s writer.
    fn begin_group(&mut self) -> Result<(), JournalError> {
        run_cached(&self.conn, "BEGIN IMMEDIATE")?;
        self.in_group = true;
        Ok(())
    }

    /// Runs one job of a group atomically: on `Err` (or a panic) what it
    /// wrote is rolled back and the rest of the group is kept. The outer
    /// `Err`: the group itself broke (its savepoint failed) and must be aborted.
    fn group_job<T>(
        &mut self,
        job: impl FnOnce(&mut GroupTx<'_>) -> Result<T, JournalError>,
    ) -> Result<Result<T, JournalError>, JournalError> {
        run_cached(&self.conn, "SAVEPOINT group_job")?;
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut GroupTx(self))))
                .unwrap_or_else(|_| {
                    Err(JournalError::Interrupted(
                        "a journal job panicked; what it wrote was rolled back".to_owned(),
                    ))
                });
        if result.is_err() {
            run_cached(&self.conn, "ROLLBACK TO group_job")?;
        }
        run_cached(&self.conn, "RELEASE group_job")?;
        Ok(result)
    }

    /// Ends a group commit: `COMMIT`, or, when that fails, `ROLLBACK`.
    fn end_group(&mut self) -> Result<(), JournalError> {
        self.in_group = false;
        let committed = run_cached(&self.conn, "COMMIT");
        if committed.is_err() && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        Ok(committed?)
    }

    /// Leaves a group whose jobs could not all be run (the `SAVEPOINT`
    /// failed): nothing of it is kept.
    fn abort_group(&mut self) {
        self.in_group = false;
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

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
        let mut stmt = self.conn.prepare_cached(
            "SELECT mottakersystem, state, COUNT(*) FROM forsendelse
             GROUP BY mottakersystem, state ORDER BY mottakersystem, state",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (mottakersystem, state, count) = row?;
            out.push(StateCount {
                mottakersystem,
                state: parse_state(&state)?,
                count: u64::try_from(count).unwrap_or(0),
            });
        }
        Ok(out)
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

    fn query_rows(
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

fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

fn check_version(path: &Path, found: u32) -> Result<(), JournalError> {
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
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), JournalError> {
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

/// Records one listed forsendelse inside `tx` (see [`Journal::record_listed`]).
fn record_listed_in(
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

fn parse_state(s: &str) -> Result<State, JournalError> {
    State::parse(s).ok_or_else(|| JournalError::Corrupt(format!("unknown state {s:?}")))
}

fn current_state(
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
fn apply_change(
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
        Change::Permanent { reason } => set("reason = ?3, feil_reported_at = NULL", &[reason])?,
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

fn insert_event(
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

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Row, JournalError>> {
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

#[cfg(test)]
mod tests;
