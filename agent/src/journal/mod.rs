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
pub mod fiks_io;
mod forsendelser;
mod group;
pub mod innsending;
pub mod outbound;
mod schema;
mod shared;
pub mod state;
mod transaction;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mottak_protocol::listed::Listed;
use mottak_protocol::svarinn::Forsendelse;
use rusqlite::{Connection, OpenFlags};
use time::OffsetDateTime;

pub use crate::clock::{Clock, ManualClock, SystemClock};
pub use group::GroupTx;
pub use innsending::{Channel, Claim, ClaimHolder, Duplicate, InnsendingKey};
pub use schema::{MIGRATIONS, SCHEMA_VERSION};
pub use shared::{SharedJournal, WriteStats};
pub use state::{ListedDecision, State, Work, can_transition, decide_listed, work_for};

use forsendelser::{COLUMNS, current_state, insert_event, parse_state, read_row};
use schema::{check_version, migrate, user_version};

use crate::clock::to_millis;
use crate::config::AckMode;
use crate::names::{ForsendelseId, NameError};

/// The journal's file name inside `state_dir`.
pub const FILE_NAME: &str = "journal.sqlite";

/// How long a statement waits for another connection's write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// From SvarInn V1's model and the raw JSON it was parsed from (see [`Self::from_listed`]).
    pub fn from_svarinn(f: &Forsendelse, raw_json: &str) -> Result<Self, NameError> {
        Self::from_listed(&Listed::from_v1(f, raw_json))
    }

    /// From a listed forsendelse of either API; its raw JSON is kept as received.
    /// Refuses an id that does not look like one.
    pub fn from_listed(f: &Listed) -> Result<Self, NameError> {
        Ok(NewForsendelse {
            id: ForsendelseId::parse(&f.id)?,
            tittel: f.tittel.clone(),
            avsender_navn: f.avsender_navn.clone(),
            forsendelse_type: f.forsendelse_type.clone(),
            sendt_at: f.sendt_at,
            size: f.declared_size(),
            raw_json: f.raw_json.clone(),
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

/// Prepared statements kept per connection: the hot paths' statements
/// (about 30, some built with `format!` from fixed parts) with room to spare.
const STATEMENT_CACHE: usize = 96;

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

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

    /// `(mottakersystem, state, count)` of `table` (`forsendelse` or `outbound_update`: a
    /// name of ours, never from outside), by mottakersystem and state; the caller parses
    /// its own states.
    fn counts_by_state(
        &self,
        table: &'static str,
    ) -> Result<Vec<(String, String, u64)>, JournalError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT mottakersystem, state, COUNT(*) FROM {table}
             GROUP BY mottakersystem, state ORDER BY mottakersystem, state"
        ))?;
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
            out.push((mottakersystem, state, count.max(0).unsigned_abs()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
