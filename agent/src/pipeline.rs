//! The one shape every pipeline has: SvarInn → drop folder, `ut/` → Fiks
//! Digisos, Fiks IO → drop folder, and the channels still to come.
//!
//! A pipeline is set up (keys, passwords, folders: retried with backoff until
//! it works, so one broken mottakersystem never holds up the others), then
//! runs until shutdown. Each has one [`Health`]: its loop's heartbeat (the
//! systemd watchdog), why setup fails while it does, and a wake-up for
//! consoles' commands. Pauses live in the journal
//! ([`crate::journal::SharedJournal::is_paused`]), not here.
//!
//! Adding a channel is a [`Pipeline`] impl and one entry in
//! [`crate::channels`], nothing else: [`supervise`] sets it up and runs it,
//! the daemon watches its heartbeat and stops it in order, consoles list it
//! (`ConsoleState::pipelines`: kind, up or setting up and why, paused; no
//! turn time, so an idle agent's state stays still) and `/metrics` counts it
//! (`mottak_pipeline_up`,
//! `mottak_pipeline_setup_failed_attempts`, `mottak_pipeline_turns_total`,
//! `mottak_pipeline_last_turn_timestamp_seconds`), all from [`Health`] and
//! the trait. Only what the channel carries (its queue, its links) needs a
//! view of its own.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::error;

use crate::backoff::Backoff;
use crate::clock::{Clock, SystemClock};

/// A boxed future, so pipelines of different types sit in one list.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One set-up attempt that failed, while setup keeps failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupFailure {
    /// One line: what failed and what to do.
    pub error: String,
    /// Attempts in a row that failed.
    pub attempts: u32,
}

/// What every pipeline reports, whatever it carries.
pub struct Health {
    clock: Arc<dyn Clock>,
    /// Unix ms of the loop's last turn (or of the last wait between setup
    /// attempts: waiting to retry is progress).
    heartbeat_ms: AtomicI64,
    /// Loop turns since start ([`Health::beat`]; setup's waits are not turns).
    turns: AtomicU64,
    /// Unix ms by which the loop, asleep with nothing due, turns again at the latest (0 while
    /// it works): a loop waiting for its next poll is alive however long ago it turned.
    idle_until_ms: AtomicI64,
    /// Set up and running (between a setup that worked and the end of its run).
    running: AtomicBool,
    setup_failure: Mutex<Option<SetupFailure>>,
    /// Look again now instead of at the next interval (a console's command).
    pub wake: Notify,
    /// Told at every turn ([`Health::wait_turns`]).
    turned: Notify,
    /// Also told at every turn: whoever shows what the loops did (the console
    /// state's builder, which rebuilds only when something turned).
    observer: Option<Arc<Notify>>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("heartbeat_ms", &self.heartbeat_ms)
            .field("turns", &self.turns)
            .field("running", &self.running)
            .field("setup_failure", &self.setup_failure)
            .finish_non_exhaustive()
    }
}

impl Default for Health {
    fn default() -> Self {
        Health::new(Arc::new(SystemClock))
    }
}

impl Health {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Health {
            clock,
            heartbeat_ms: AtomicI64::new(0),
            turns: AtomicU64::new(0),
            idle_until_ms: AtomicI64::new(0),
            running: AtomicBool::new(false),
            setup_failure: Mutex::new(None),
            wake: Notify::new(),
            turned: Notify::new(),
            observer: None,
        }
    }

    /// Tells `observer` at every turn (one permit however many turns).
    #[must_use]
    pub fn observed_by(mut self, observer: Arc<Notify>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The loop turned.
    pub fn beat(&self) {
        self.turns.fetch_add(1, Ordering::Relaxed);
        self.idle_until_ms.store(0, Ordering::Relaxed);
        self.keep_alive();
        self.turned.notify_waiters();
        if let Some(o) = &self.observer {
            o.notify_one();
        }
    }

    /// Returns once the loop has turned `n` more times. A test that checks
    /// that something did *not* happen waits for turns that would have done
    /// it, not for a time (which passes on a slow machine when it is merely
    /// slower).
    pub async fn wait_turns(&self, n: u64) {
        let target = self.turns().saturating_add(n);
        loop {
            // Created before the check, so a turn in between still wakes us.
            let turned = self.turned.notified();
            if self.turns() >= target {
                return;
            }
            turned.await;
        }
    }

    /// Progress that is not a turn (waiting between setup attempts): the
    /// heartbeat only.
    fn keep_alive(&self) {
        self.heartbeat_ms
            .store(self.clock.now_ms(), Ordering::Relaxed);
    }

    /// Loop turns since start.
    pub fn turns(&self) -> u64 {
        self.turns.load(Ordering::Relaxed)
    }

    /// Set up and running its loop (false before setup worked, while it
    /// fails, and once the run ended).
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    /// Unix ms of the last turn (0 before the first).
    pub fn heartbeat_ms(&self) -> i64 {
        self.heartbeat_ms.load(Ordering::Relaxed)
    }

    /// The loop goes to sleep with nothing due: it turns again within `wait` (or sooner, on
    /// an event). Until then plus the watchdog's limit it counts as alive.
    pub fn idle_for(&self, wait: Duration) {
        let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
        let until = self.clock.now_ms().saturating_add(wait_ms).max(1);
        self.idle_until_ms.store(until, Ordering::Relaxed);
    }

    /// The loop is alive: it turned within `limit` of now, or it sleeps with nothing due and
    /// its wake-up is not more than `limit` overdue (a loop stuck mid-turn, or whose runtime
    /// no longer wakes it, is neither).
    pub fn turned_within(&self, limit: Duration) -> bool {
        let limit_ms = i64::try_from(limit.as_millis()).unwrap_or(i64::MAX);
        let now = self.clock.now_ms();
        let idle_until = self.idle_until_ms.load(Ordering::Relaxed);
        now.saturating_sub(self.heartbeat_ms()) <= limit_ms
            || (idle_until != 0 && now.saturating_sub(idle_until) <= limit_ms)
    }

    /// Why setup fails, while it does.
    pub fn setup_failure(&self) -> Option<SetupFailure> {
        self.setup_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Written by [`supervise`] (and by tests that show a failing setup).
    pub(crate) fn set_setup_failure(&self, failure: Option<SetupFailure>) {
        *self.setup_failure.lock().unwrap_or_else(|p| p.into_inner()) = failure;
    }

    /// Unix ms now, by this pipeline's clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}

/// A pipeline of one mottakersystem, before it is set up.
pub trait Pipeline: Send + Sync + 'static {
    /// What it carries, for logs and metrics: `inbound`, `outbound`, `fiks-io`.
    fn kind(&self) -> &'static str;
    fn mottakersystem(&self) -> &str;
    fn health(&self) -> &Arc<Health>;
    /// The longest wait between two setup attempts.
    fn setup_retry_cap(&self) -> Duration;
    /// What the log says before the error when setup fails.
    fn setup_failed_message(&self) -> &'static str;
    /// Reads its keys and passwords and prepares its folders; logs that it started.
    fn setup(&self) -> BoxFuture<'_, anyhow::Result<Box<dyn Running>>>;
    /// A person paused it: the journal says so
    /// ([`crate::journal::SharedJournal::is_paused`]). A pipeline that does
    /// not stop for pauses keeps the default.
    fn paused(&self) -> bool {
        false
    }
}

/// A pipeline that is set up.
pub trait Running: Send {
    /// Runs until `shutdown`; returns when its work in flight is finished.
    fn run(self: Box<Self>, shutdown: CancellationToken) -> BoxFuture<'static, ()>;
}

/// Sets `pipeline` up, retrying with backoff (capped at its
/// [`Pipeline::setup_retry_cap`]) until it works or `shutdown`, then runs it.
pub async fn supervise(pipeline: Arc<dyn Pipeline>, shutdown: CancellationToken) {
    let health = Arc::clone(pipeline.health());
    let mut attempts = 0u32;
    loop {
        health.keep_alive();
        match pipeline.setup().await {
            Ok(running) => {
                health.set_setup_failure(None);
                health.running.store(true, Ordering::Relaxed);
                running.run(shutdown).await;
                health.running.store(false, Ordering::Relaxed);
                return;
            }
            Err(err) => {
                attempts += 1;
                let delay = Backoff::NETWORK
                    .delay_with_random_jitter(attempts - 1)
                    .min(pipeline.setup_retry_cap());
                let line = crate::commands::one_line(&err);
                error!(mottakersystem = %pipeline.mottakersystem(), pipeline = pipeline.kind(), retry_in = ?delay, "{}: {line}", pipeline.setup_failed_message());
                health.set_setup_failure(Some(SetupFailure {
                    error: line,
                    attempts,
                }));
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = sleep_beating(delay, &health) => {}
                }
            }
        }
    }
}

/// Sleeps while keeping the heartbeat fresh.
async fn sleep_beating(total: Duration, health: &Health) {
    let end = tokio::time::Instant::now() + total;
    while tokio::time::Instant::now() < end {
        health.keep_alive();
        tokio::time::sleep(Duration::from_secs(1).min(end - tokio::time::Instant::now())).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use time::OffsetDateTime;

    use super::*;
    use crate::clock::ManualClock;

    /// Fails setup `fail` times, then runs until shutdown.
    struct Flaky {
        health: Arc<Health>,
        fail: u32,
        tried: AtomicU32,
        ran: Arc<Notify>,
    }

    struct Ran(Arc<Notify>);

    impl Running for Ran {
        fn run(self: Box<Self>, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
            Box::pin(async move {
                self.0.notify_one();
                shutdown.cancelled().await;
            })
        }
    }

    impl Pipeline for Flaky {
        fn kind(&self) -> &'static str {
            "test"
        }
        fn mottakersystem(&self) -> &str {
            "s"
        }
        fn health(&self) -> &Arc<Health> {
            &self.health
        }
        fn setup_retry_cap(&self) -> Duration {
            Duration::from_millis(1)
        }
        fn setup_failed_message(&self) -> &'static str {
            "cannot start"
        }
        fn setup(&self) -> BoxFuture<'_, anyhow::Result<Box<dyn Running>>> {
            Box::pin(async move {
                let n = self.tried.fetch_add(1, Ordering::SeqCst);
                if n < self.fail {
                    anyhow::bail!("attempt {n} failed");
                }
                Ok(Box::new(Ran(Arc::clone(&self.ran))) as Box<dyn Running>)
            })
        }
    }

    #[tokio::test]
    async fn setup_is_retried_its_failure_shown_and_cleared_once_it_runs() {
        let health = Arc::new(Health::default());
        let ran = Arc::new(Notify::new());
        let flaky = Arc::new(Flaky {
            health: Arc::clone(&health),
            fail: 3,
            tried: AtomicU32::new(0),
            ran: Arc::clone(&ran),
        });
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(supervise(flaky.clone(), shutdown.clone()));
        ran.notified().await;
        assert_eq!(flaky.tried.load(Ordering::SeqCst), 4);
        assert_eq!(health.setup_failure(), None);
        assert!(health.heartbeat_ms() > 0);
        assert!(health.is_running());
        assert_eq!(health.turns(), 0, "waiting to set up again is not a turn");
        shutdown.cancel();
        task.await.unwrap();
        assert!(!health.is_running());
    }

    #[tokio::test]
    async fn a_setup_that_never_works_is_shown_with_its_attempts_and_stops_at_shutdown() {
        let health = Arc::new(Health::default());
        let flaky = Arc::new(Flaky {
            health: Arc::clone(&health),
            fail: u32::MAX,
            tried: AtomicU32::new(0),
            ran: Arc::new(Notify::new()),
        });
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(supervise(flaky.clone(), shutdown.clone()));
        while health.setup_failure().is_none_or(|f| f.attempts < 2) {
            tokio::task::yield_now().await;
        }
        let failure = health.setup_failure().unwrap();
        assert!(failure.error.contains("failed"), "{failure:?}");
        assert!(!health.is_running());
        shutdown.cancel();
        task.await.unwrap();
    }

    #[test]
    fn the_heartbeat_reads_the_injected_clock() {
        let start = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let clock = Arc::new(ManualClock::new(start));
        let health = Health::new(clock.clone());
        assert_eq!(health.turns(), 0);
        health.beat();
        assert!(health.turned_within(Duration::from_secs(10)));
        clock.advance(Duration::from_secs(11));
        assert!(!health.turned_within(Duration::from_secs(10)));
        health.beat();
        assert!(health.turned_within(Duration::ZERO));
        assert_eq!(health.turns(), 2);
    }

    #[test]
    fn a_loop_asleep_until_its_next_poll_is_alive_until_that_wake_up_is_overdue() {
        let start = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let clock = Arc::new(ManualClock::new(start));
        let health = Health::new(clock.clone());
        let limit = Duration::from_secs(10);
        health.beat();
        health.idle_for(Duration::from_secs(300));
        clock.advance(Duration::from_secs(305));
        assert!(
            health.turned_within(limit),
            "asleep, its wake-up not due yet"
        );
        clock.advance(Duration::from_secs(6));
        assert!(!health.turned_within(limit), "11 s past its wake-up: stuck");
        health.beat();
        assert!(health.turned_within(limit));
        clock.advance(Duration::from_secs(11));
        assert!(
            !health.turned_within(limit),
            "a turn clears the sleep: working without turning is judged by the turn"
        );
    }

    #[tokio::test]
    async fn wait_turns_returns_after_that_many_turns_and_not_before() {
        let health = Health::default();
        health.beat();
        let waiting = health.wait_turns(3);
        tokio::pin!(waiting);
        // A timeout of zero polls the wait once: it counts from there.
        let polled = tokio::time::timeout(Duration::ZERO, &mut waiting).await;
        assert!(polled.is_err(), "no turn yet");
        health.beat();
        health.beat();
        let polled = tokio::time::timeout(Duration::ZERO, &mut waiting).await;
        assert!(polled.is_err(), "two turns are not three");
        health.beat();
        tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("three turns wake the waiter");
    }
}
