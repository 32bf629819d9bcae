//! The agent's journal, read-only: the columns of the `forsendelse` table the
//! tests look at, and the count of `attempt` rows (commits) a bench reports.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

/// The columns of a journal row the tests look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRow {
    pub mottakersystem: String,
    pub id: String,
    pub state: String,
    pub attempts: i64,
    pub content_failures: i64,
    pub last_error: Option<String>,
    pub digisos_id: Option<String>,
    pub folder_name: Option<String>,
    pub reason: Option<String>,
}

/// Every row of the journal at `path`; empty when there is no journal yet.
pub fn read_journal(path: &Path) -> Result<Vec<JournalRow>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("open {} read-only", path.display()))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let has_table: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'forsendelse'",
        [],
        |r| r.get(0),
    )?;
    if has_table == 0 {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(
        "SELECT mottakersystem, forsendelse_id, state, attempts, content_failures, last_error,
                digisos_id, folder_name, reason
         FROM forsendelse ORDER BY mottakersystem, forsendelse_id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(JournalRow {
            mottakersystem: r.get(0)?,
            id: r.get(1)?,
            state: r.get(2)?,
            attempts: r.get(3)?,
            content_failures: r.get(4)?,
            last_error: r.get(5)?,
            digisos_id: r.get(6)?,
            folder_name: r.get(7)?,
            reason: r.get(8)?,
        })
    })?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row?);
    }
    Ok(out)
}

/// Committed write transactions by (action, outcome): every one the journal makes inserts
/// exactly one `attempt` row (listed, each attempt, each transition).
pub fn attempt_counts(path: &Path) -> Result<BTreeMap<String, u64>> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt =
        conn.prepare("SELECT action, outcome, COUNT(*) FROM attempt GROUP BY action, outcome")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            format!("{}/{}", r.get::<_, String>(0)?, r.get::<_, String>(1)?),
            r.get::<_, i64>(2)?,
        ))
    })?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (k, v) = row?;
        out.insert(k, u64::try_from(v).unwrap_or(0));
    }
    Ok(out)
}
