//! The journal's write transactions: one method's own `BEGIN IMMEDIATE` or,
//! inside a group commit, a savepoint of the group's; and the group's plumbing
//! that [`SharedJournal`](super::SharedJournal)'s writer drives.

use rusqlite::{Connection, TransactionBehavior};

use super::{GroupTx, Journal, JournalError};

/// One method's write transaction: a real `BEGIN IMMEDIATE` transaction, or,
/// inside a group commit, a savepoint that commits (is fsynced) with the group.
pub(super) enum WriteTx<'a> {
    Own(rusqlite::Transaction<'a>),
    InGroup(MethodSavepoint<'a>),
}

/// A method's savepoint inside a group commit. rusqlite's `Savepoint` parses
/// its SQL on every use; this one runs cached statements (see [`run_cached`]).
/// Dropped without [`MethodSavepoint::commit`]: rolled back.
pub(super) struct MethodSavepoint<'a> {
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
pub(super) fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

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
    pub(super) fn commit(self) -> rusqlite::Result<()> {
        match self {
            WriteTx::Own(tx) => tx.commit(),
            WriteTx::InGroup(sp) => sp.commit(),
        }
    }
}

impl Journal {
    /// A write transaction for one method (see [`WriteTx`]).
    pub(super) fn write_tx(&mut self) -> Result<WriteTx<'_>, JournalError> {
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
    pub(super) fn begin_group(&mut self) -> Result<(), JournalError> {
        run_cached(&self.conn, "BEGIN IMMEDIATE")?;
        self.in_group = true;
        Ok(())
    }

    /// Runs one job of a group atomically: on `Err` (or a panic) what it
    /// wrote is rolled back and the rest of the group is kept. The outer
    /// `Err`: the group itself broke (its savepoint failed) and must be aborted.
    pub(super) fn group_job<T>(
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
    pub(super) fn end_group(&mut self) -> Result<(), JournalError> {
        self.in_group = false;
        let committed = run_cached(&self.conn, "COMMIT");
        if committed.is_err() && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        Ok(committed?)
    }

    /// Leaves a group whose jobs could not all be run (the `SAVEPOINT`
    /// failed): nothing of it is kept.
    pub(super) fn abort_group(&mut self) {
        self.in_group = false;
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}
