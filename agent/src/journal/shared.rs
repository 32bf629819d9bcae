//! [`SharedJournal`]: the one writing [`Journal`] of a running agent, shared by
//! its async tasks.
//!
//! SQLite calls block (a `synchronous=FULL` commit waits for an fsync), so
//! no call runs on the event loop:
//!
//! - [`SharedJournal::write`] hands a job to the journal's writer thread,
//!   which runs every job waiting at that moment in one transaction (each job
//!   in its own savepoint, so one job's error undoes only that job), commits
//!   once, and only then answers each job: group commit. A job's result is
//!   never seen before it is durable, so "journal first, then the step that
//!   depends on it" holds as with one transaction per call, while many
//!   forsendelser share one WAL fsync.
//! - [`SharedJournal::read`] runs a query on a read-only connection of its
//!   own (WAL: readers do not wait for the writer's fsync). It sees every
//!   write whose `write` has returned.
//! - [`SharedJournal::call`] runs a closure with exclusive use of the writing
//!   connection, outside any group (its methods commit on their own).
//! - [`SharedJournal::set_paused`] / [`SharedJournal::is_paused`]: the pauses
//!   a person set, kept in the journal (they hold over restarts) and read
//!   from memory by the pipelines' loops, without a query per turn.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::{GroupTx, Journal, JournalError};

/// The most jobs one group commit takes.
const MAX_GROUP: usize = 512;
/// How long the writer lingers for more jobs after the first, when it has
/// fewer than [`MIN_GROUP_WITHOUT_LINGER`]: short against an fsync.
const LINGER: Duration = Duration::from_micros(500);
const MIN_GROUP_WITHOUT_LINGER: usize = 4;

/// A job for the writer: runs inside the group (or, given `None`, not at
/// all), and returns what to do once the group's commit is known (answer the
/// waiter), and whether the group itself broke (then nothing of it is kept).
type Job = Box<dyn FnOnce(Option<&mut Journal>) -> (Completion, bool) + Send>;
/// Called with the group's commit result.
type Completion = Box<dyn FnOnce(Result<(), GroupCommitError>) + Send>;

/// Why a group commit kept none of its jobs.
#[derive(Debug, Clone, thiserror::Error)]
enum GroupCommitError {
    #[error("could not start a transaction: {0}")]
    Begin(String),
    #[error("a savepoint of the group failed, so the whole group was rolled back")]
    RolledBack,
    #[error("{0}")]
    Commit(String),
}

/// A cloneable handle to the agent's journal.
#[derive(Debug, Clone)]
pub struct SharedJournal {
    journal: Arc<Mutex<Journal>>,
    /// A read-only connection of its own, when one could be opened.
    reader: Option<Arc<Mutex<Journal>>>,
    jobs: mpsc::Sender<Job>,
    stats: Arc<GroupStats>,
    /// The paused mottakersystemer as the `paused` table holds them, kept in
    /// step by [`SharedJournal::set_paused`] (the only writer of pauses).
    paused: Arc<RwLock<BTreeSet<String>>>,
}

/// Counters of the writer thread (diagnostics: how well writes are grouped).
#[derive(Debug, Default)]
struct GroupStats {
    commits: AtomicU64,
    jobs: AtomicU64,
}

/// What [`SharedJournal::stats`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteStats {
    /// Group commits that wrote (one WAL fsync each).
    pub commits: u64,
    /// Jobs run in them.
    pub jobs: u64,
}

impl SharedJournal {
    /// Shares `journal`, and starts its writer thread (which ends when the
    /// last handle is dropped).
    pub fn new(journal: Journal) -> Self {
        let paused = match journal.paused() {
            Ok(p) => p.into_iter().map(|p| p.mottakersystem).collect(),
            Err(err) => {
                // Just opened and migrated: a failing read here means the
                // file is broken, and the first write reports it.
                tracing::error!(error = %err, "cannot read the paused mottakersystemer");
                BTreeSet::new()
            }
        };
        let reader = Journal::open_read_only(journal.path(), Arc::clone(&journal.clock))
            .ok()
            .map(|r| Arc::new(Mutex::new(r)));
        let journal = Arc::new(Mutex::new(journal));
        let (jobs, queue) = mpsc::channel::<Job>();
        let writer = Arc::clone(&journal);
        let stats = Arc::new(GroupStats::default());
        let counters = Arc::clone(&stats);
        let spawned = std::thread::Builder::new()
            .name("mottak-journal".into())
            .spawn(move || write_groups(&writer, &queue, &counters));
        if let Err(err) = spawned {
            // Without a writer thread every write fails with this error
            // (the channel is closed): reported, never a panic.
            tracing::error!(error = %err, "cannot start the journal's writer thread");
        }
        SharedJournal {
            journal,
            reader,
            jobs,
            stats,
            paused: Arc::new(RwLock::new(paused)),
        }
    }

    /// Pauses `mottakersystem` (`Some((by, reason))`) or resumes it
    /// (`None`), durably; `true` when that changed anything.
    pub async fn set_paused(
        &self,
        mottakersystem: &str,
        pause: Option<(&str, Option<&str>)>,
    ) -> Result<bool, JournalError> {
        let m = mottakersystem.to_owned();
        let pause = pause.map(|(by, reason)| (by.to_owned(), reason.map(str::to_owned)));
        let paused = Arc::clone(&self.paused);
        self.call(move |j| {
            let changed =
                j.set_paused(&m, pause.as_ref().map(|(b, r)| (b.as_str(), r.as_deref())))?;
            let mut set = paused.write().unwrap_or_else(|p| p.into_inner());
            if pause.is_some() {
                set.insert(m);
            } else {
                set.remove(&m);
            }
            Ok(changed)
        })
        .await
    }

    /// Whether a person paused `mottakersystem` (no polls, no new steps).
    pub fn is_paused(&self, mottakersystem: &str) -> bool {
        self.paused
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(mottakersystem)
    }

    /// How many group commits wrote, and how many jobs they held.
    pub fn stats(&self) -> WriteStats {
        WriteStats {
            commits: self.stats.commits.load(Ordering::Relaxed),
            jobs: self.stats.jobs.load(Ordering::Relaxed),
        }
    }

    /// Runs `f` with the journal on the blocking pool, alone (not in a group).
    pub async fn call<T, F>(&self, f: F) -> Result<T, JournalError>
    where
        F: FnOnce(&mut Journal) -> Result<T, JournalError> + Send + 'static,
        T: Send + 'static,
    {
        let inner = Arc::clone(&self.journal);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave a half-written
            // transaction (SQLite rolls it back), so a poisoned lock is safe to reuse.
            let mut journal = inner
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut journal)
        })
        .await
        .map_err(|err| JournalError::Interrupted(err.to_string()))?
    }

    /// Runs `f` in the writer's next group commit, atomically (all of what
    /// it writes, or on `Err` none of it), and returns once the group is
    /// committed and fsynced. If the commit fails, every job of the group
    /// gets the error and none of them is kept.
    ///
    /// `f` sees a [`GroupTx`]: the writes that open their own transaction
    /// (access, outbound) are not on it; use [`SharedJournal::call`] for those.
    pub async fn write<T, F>(&self, f: F) -> Result<T, JournalError>
    where
        F: FnOnce(&mut GroupTx<'_>) -> Result<T, JournalError> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<T, JournalError>>();
        let job: Job = Box::new(move |journal: Option<&mut Journal>| {
            let result = match journal {
                Some(journal) => journal.group_job(f),
                None => Err(JournalError::CommitFailed(
                    "the group's transaction could not start".to_owned(),
                )),
            };
            let broken = result.is_err();
            let done = Box::new(move |committed: Result<(), GroupCommitError>| {
                let answer = match (result, committed) {
                    (Ok(Ok(value)), Ok(())) => Ok(value),
                    (Ok(Err(err)), _) | (Err(err), _) => Err(err),
                    (Ok(Ok(_)), Err(err)) => Err(JournalError::CommitFailed(err.to_string())),
                };
                let _ = tx.send(answer);
            }) as Completion;
            (done, broken)
        });
        self.jobs.send(job).map_err(|_| {
            JournalError::Interrupted("the journal's writer thread has stopped".to_owned())
        })?;
        rx.await.map_err(|_| {
            JournalError::Interrupted(
                "the journal's writer thread stopped before answering".to_owned(),
            )
        })?
    }

    /// Runs a query on the read-only connection (on the blocking pool); on
    /// the writing one when there is no reader.
    pub async fn read<T, F>(&self, f: F) -> Result<T, JournalError>
    where
        F: FnOnce(&Journal) -> Result<T, JournalError> + Send + 'static,
        T: Send + 'static,
    {
        let inner = Arc::clone(self.reader.as_ref().unwrap_or(&self.journal));
        tokio::task::spawn_blocking(move || {
            let journal = inner
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&journal)
        })
        .await
        .map_err(|err| JournalError::Interrupted(err.to_string()))?
    }
}

/// The writer thread: one group commit per turn, until every handle is gone.
fn write_groups(journal: &Mutex<Journal>, queue: &mpsc::Receiver<Job>, stats: &GroupStats) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        gather(queue, &mut group);
        let mut journal = journal
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let before = journal.total_changes();
        let jobs = u64::try_from(group.len()).unwrap_or(u64::MAX);
        let completions = run_group(&mut journal, group);
        if journal.total_changes() != before {
            stats.commits.fetch_add(1, Ordering::Relaxed);
        }
        stats.jobs.fetch_add(jobs, Ordering::Relaxed);
        drop(journal);
        let (committed, completions) = completions;
        for done in completions {
            done(committed.clone());
        }
    }
}

/// Takes the jobs already waiting; if they are few, waits a moment for
/// more (tasks woken by the previous group often write again at once).
fn gather(queue: &mpsc::Receiver<Job>, group: &mut Vec<Job>) {
    while group.len() < MAX_GROUP {
        match queue.try_recv() {
            Ok(job) => group.push(job),
            Err(_) => break,
        }
    }
    if group.len() < MIN_GROUP_WITHOUT_LINGER {
        let deadline = std::time::Instant::now() + LINGER;
        while group.len() < MAX_GROUP {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match queue.recv_timeout(left) {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
    }
}

/// Runs `group` in one transaction and commits it. Returns the commit's
/// outcome and each job's completion.
fn run_group(
    journal: &mut Journal,
    group: Vec<Job>,
) -> (Result<(), GroupCommitError>, Vec<Completion>) {
    let mut completions = Vec::with_capacity(group.len());
    if let Err(err) = journal.begin_group() {
        let err = GroupCommitError::Begin(err.to_string());
        tracing::error!(error = %err, "journal group commit failed");
        for job in group {
            completions.push(job(None).0);
        }
        return (Err(err), completions);
    }
    let mut broken = false;
    for job in group {
        let (done, job_broke) = job(Some(&mut *journal));
        broken |= job_broke;
        completions.push(done);
    }
    let committed = if broken {
        journal.abort_group();
        Err(GroupCommitError::RolledBack)
    } else {
        journal
            .end_group()
            .map_err(|err| GroupCommitError::Commit(err.to_string()))
    };
    if let Err(err) = &committed {
        tracing::error!(error = %err, jobs = completions.len(), "journal group commit failed; none of its jobs was kept");
    }
    (committed, completions)
}
