//! One mottakersystem's link to SvarInn as its calls share it: the adaptive limit
//! ([`super::concurrency::Controller`]) behind two pools of slots, downloads and the other
//! calls (acknowledgements, reports), so an acknowledgement never waits behind downloads,
//! and the pacing every call of its client obeys (no call before a `Retry-After` passed).

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::concurrency::{Controller, Refusal};
use crate::svarinn_client::{Answer, Pacer};
use crate::telemetry::{SvarInnOp, SystemTelemetry};

/// Which pool a slot is taken from. Each holds up to the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool {
    Downloads,
    /// Acknowledgements and failure reports.
    Calls,
}

#[derive(Debug)]
struct State {
    controller: Controller,
    /// Slots held and tasks waiting for one, per [`Pool`].
    in_use: [u32; 2],
    waiting: [usize; 2],
}

/// Shared by a mottakersystem's worker (its slots) and its client (the pacing).
#[derive(Debug)]
pub struct Link {
    state: Mutex<State>,
    /// Per pool: a slot was given back or the limit grew. One waiter is woken per slot (a
    /// woken waiter that gave up passes it on), not all of them.
    freed: [Notify; 2],
    /// Where the current limit is shown (`/metrics`); set once, by the daemon's workers.
    telemetry: OnceLock<Arc<SystemTelemetry>>,
}

impl Link {
    /// A link whose limit never passes `ceiling` (`max_concurrent_downloads`).
    pub fn new(ceiling: usize) -> Arc<Self> {
        let ceiling = u32::try_from(ceiling).unwrap_or(u32::MAX);
        Arc::new(Link {
            state: Mutex::new(State {
                controller: Controller::new(ceiling),
                in_use: [0; 2],
                waiting: [0; 2],
            }),
            freed: [Notify::new(), Notify::new()],
            telemetry: OnceLock::new(),
        })
    }

    /// Shows the limit in `telemetry` from now on.
    pub fn report_to(&self, telemetry: Arc<SystemTelemetry>) {
        telemetry.set_download_concurrency(self.limit());
        let _ = self.telemetry.set(telemetry);
    }

    /// Calls allowed in flight now, per pool.
    pub fn limit(&self) -> u32 {
        self.lock().controller.limit()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a slot of `pool`; it is given back when the [`Slot`] is dropped.
    pub async fn slot(self: &Arc<Self>, pool: Pool) -> Slot {
        let i = pool as usize;
        let _waiting = Waiting::new(self, i);
        loop {
            let freed = self.freed[i].notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut state = self.lock();
                if state.in_use[i] < state.controller.limit() {
                    state.in_use[i] += 1;
                    return Slot {
                        link: Arc::clone(self),
                        pool: i,
                    };
                }
            }
            freed.await;
        }
    }

    /// Runs `f` on the controller, shows a changed limit, and wakes waiters if it grew.
    fn update(&self, f: impl FnOnce(&mut Controller, usize)) {
        let (before, after) = {
            let mut state = self.lock();
            let before = state.controller.limit();
            let backlog = state.waiting.iter().sum();
            f(&mut state.controller, backlog);
            (before, state.controller.limit())
        };
        if before != after {
            tracing::debug!(
                from = before,
                to = after,
                "SvarInn download concurrency changed"
            );
            if let Some(t) = self.telemetry.get() {
                t.set_download_concurrency(after);
            }
            for _ in before..after {
                for freed in &self.freed {
                    freed.notify_one();
                }
            }
        }
    }
}

impl Pacer for Link {
    fn not_before(&self) -> Option<Instant> {
        self.lock().controller.not_before(Instant::now())
    }

    fn answered(&self, op: SvarInnOp, latency: Duration, answer: Answer) {
        let now = Instant::now();
        match answer {
            // The list's latency grows with its page, not with the load: not a signal.
            Answer::Ok if op != SvarInnOp::List => {
                self.update(|c, backlog| c.answered(now, latency, backlog));
            }
            Answer::Ok | Answer::Other => {}
            Answer::TooManyRequests { retry_after } => {
                self.update(|c, _| c.refused(now, Refusal::Throttled, retry_after));
            }
            Answer::Unavailable { retry_after } => {
                self.update(|c, _| c.refused(now, Refusal::Unavailable, retry_after));
            }
        }
    }
}

/// A call's place in its pool, given back on drop.
#[derive(Debug)]
pub struct Slot {
    link: Arc<Link>,
    pool: usize,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.link.lock().in_use[self.pool] -= 1;
        self.link.freed[self.pool].notify_one();
    }
}

/// Counts a task waiting for a slot (the backlog the limit grows for), also when the wait
/// is abandoned.
struct Waiting<'a> {
    link: &'a Link,
    pool: usize,
}

impl<'a> Waiting<'a> {
    fn new(link: &'a Link, pool: usize) -> Self {
        link.lock().waiting[pool] += 1;
        Waiting { link, pool }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.link.lock().waiting[self.pool] -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slots_follow_the_limit_per_pool_and_a_refusal_holds_calls_back() {
        let link = Link::new(16);
        assert_eq!(link.limit(), super::super::concurrency::START);
        let a = link.slot(Pool::Downloads).await;
        let _b = link.slot(Pool::Downloads).await;
        // Downloads are full; an acknowledgement still gets its own slot at once.
        let _ack = link.slot(Pool::Calls).await;
        let third = tokio::spawn({
            let link = Arc::clone(&link);
            async move { link.slot(Pool::Downloads).await }
        });
        tokio::task::yield_now().await;
        assert!(!third.is_finished());
        drop(a);
        let _c = tokio::time::timeout(Duration::from_secs(5), third)
            .await
            .expect("a freed slot is taken")
            .expect("the task ran");

        assert_eq!(link.not_before(), None);
        link.answered(
            SvarInnOp::Download,
            Duration::from_millis(5),
            Answer::TooManyRequests {
                retry_after: Some(Duration::from_secs(60)),
            },
        );
        assert_eq!(link.limit(), 1);
        assert!(link.not_before().is_some_and(|at| at > Instant::now()));
    }

    #[tokio::test]
    async fn waiting_work_lets_the_limit_grow_and_wakes_a_waiter() {
        let link = Link::new(16);
        let _a = link.slot(Pool::Downloads).await;
        let _b = link.slot(Pool::Downloads).await;
        let third = tokio::spawn({
            let link = Arc::clone(&link);
            async move { link.slot(Pool::Downloads).await }
        });
        tokio::task::yield_now().await;
        for _ in 0..2 {
            link.answered(SvarInnOp::Download, Duration::from_millis(5), Answer::Ok);
        }
        assert_eq!(link.limit(), 3);
        tokio::time::timeout(Duration::from_secs(5), third)
            .await
            .expect("the grown limit lets the waiter in")
            .expect("the task ran");
    }
}
