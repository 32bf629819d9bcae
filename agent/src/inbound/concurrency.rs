//! How many SvarInn calls one mottakersystem keeps in flight: additive increase while
//! SvarInn answers quickly and work waits, multiplicative decrease on 429, 503 or a latency
//! well above its baseline, and no call before a `Retry-After` has passed. Pure: the caller
//! passes the time in ([`crate::inbound::link`] holds one per mottakersystem).

use std::time::{Duration, Instant};

/// Where the limit starts: polite to a SvarInn just back from an outage.
pub const START: u32 = 2;
/// Recent latency this many times the baseline (and [`RISE_MARGIN`] above it) is a rise.
const RISE_FACTOR: u32 = 2;
/// ... and at least this much above it: jitter of a few milliseconds on a fast link is no rise.
const RISE_MARGIN: Duration = Duration::from_millis(50);
/// After a decrease, the answers to calls sent before it still show the old load: no
/// second decrease for this long, or twice the recent latency if that is longer.
const MIN_DECREASE_GAP: Duration = Duration::from_millis(100);
/// The longest `Retry-After` obeyed as given; a longer one (a broken or hostile server)
/// holds calls back this long, so the agent comes back to see.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

/// Why SvarInn refused a call, as far as the limit cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 429 Too Many Requests.
    Throttled,
    /// 503 Service Unavailable.
    Unavailable,
}

/// One mottakersystem's concurrency limit and the state it is decided from.
#[derive(Debug, Clone)]
pub struct Controller {
    limit: u32,
    ceiling: u32,
    /// Fast answers with work waiting since the limit last grew: one more slot per `limit`
    /// of them (about one per round trip, as TCP's congestion avoidance).
    credit: u32,
    /// Slow moving average of answer latency (1/32 per answer): what "normal" is now.
    baseline: Option<Duration>,
    /// Fast moving average (1/4 per answer): what it is lately.
    recent: Option<Duration>,
    last_decrease: Option<Instant>,
    not_before: Option<Instant>,
}

impl Controller {
    /// A limit that starts at [`START`] (or `ceiling`, if lower) and never passes `ceiling`.
    pub fn new(ceiling: u32) -> Self {
        let ceiling = ceiling.max(1);
        Controller {
            limit: START.min(ceiling),
            ceiling,
            credit: 0,
            baseline: None,
            recent: None,
            last_decrease: None,
            not_before: None,
        }
    }

    /// Calls allowed in flight now.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Until when no call may be sent (a `Retry-After` not yet passed), if it is later than `now`.
    pub fn not_before(&self, now: Instant) -> Option<Instant> {
        self.not_before.filter(|at| *at > now)
    }

    /// A call was answered after `latency`; `backlog` calls are waiting for a slot.
    pub fn answered(&mut self, now: Instant, latency: Duration, backlog: usize) {
        let baseline = *self.baseline.insert(average(self.baseline, latency, 32));
        let recent = *self.recent.insert(average(self.recent, latency, 4));
        if recent > baseline * RISE_FACTOR && recent > baseline + RISE_MARGIN {
            self.decrease(now);
            return;
        }
        if backlog == 0 || self.limit >= self.ceiling || self.not_before(now).is_some() {
            return;
        }
        self.credit += 1;
        if self.credit >= self.limit {
            self.limit += 1;
            self.credit = 0;
        }
    }

    /// SvarInn refused a call; `retry_after` is its `Retry-After`, if it sent one.
    pub fn refused(&mut self, now: Instant, _why: Refusal, retry_after: Option<Duration>) {
        if let Some(wait) = retry_after {
            let until = now + wait.min(MAX_RETRY_AFTER);
            self.not_before = Some(self.not_before.map_or(until, |at| at.max(until)));
        }
        self.decrease(now);
    }

    /// Halves the limit (never under 1), at most once per gap.
    fn decrease(&mut self, now: Instant) {
        let gap = self
            .recent
            .map_or(MIN_DECREASE_GAP, |r| (r * 2).max(MIN_DECREASE_GAP));
        if self
            .last_decrease
            .is_some_and(|at| now.saturating_duration_since(at) < gap)
        {
            return;
        }
        self.limit = (self.limit / 2).max(1);
        self.credit = 0;
        self.last_decrease = Some(now);
    }
}

/// A moving average that moves `1/weight` of the way towards `sample`.
fn average(current: Option<Duration>, sample: Duration, weight: u32) -> Duration {
    match current {
        None => sample,
        Some(avg) => {
            let (avg, sample) = (avg.as_secs_f64(), sample.as_secs_f64());
            Duration::from_secs_f64(avg + (sample - avg) / f64::from(weight))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Duration = Duration::from_millis(20);

    /// `n` answers after `latency`, 1 ms apart, with `backlog` waiting; returns the time after.
    fn answers(
        c: &mut Controller,
        mut now: Instant,
        n: usize,
        latency: Duration,
        backlog: usize,
    ) -> Instant {
        for _ in 0..n {
            c.answered(now, latency, backlog);
            now += Duration::from_millis(1);
        }
        now
    }

    #[test]
    fn starts_low_and_grows_on_fast_answers_while_work_waits() {
        let mut c = Controller::new(16);
        assert_eq!(c.limit(), START);
        let now = answers(&mut c, Instant::now(), 2, FAST, 100);
        assert_eq!(c.limit(), 3, "one more after `limit` fast answers");
        answers(&mut c, now, 3 + 4 + 5, FAST, 100);
        assert_eq!(c.limit(), 6);
    }

    #[test]
    fn does_not_grow_without_a_backlog() {
        let mut c = Controller::new(16);
        answers(&mut c, Instant::now(), 500, FAST, 0);
        assert_eq!(c.limit(), START);
    }

    #[test]
    fn never_over_the_ceiling_and_a_low_ceiling_starts_there() {
        let mut c = Controller::new(5);
        answers(&mut c, Instant::now(), 10_000, FAST, 1000);
        assert_eq!(c.limit(), 5);
        assert_eq!(Controller::new(1).limit(), 1);
        assert_eq!(
            Controller::new(0).limit(),
            1,
            "a ceiling of 0 is taken as 1"
        );
    }

    #[test]
    fn halves_on_429_and_503_and_never_goes_under_one() {
        let mut c = Controller::new(64);
        let mut now = answers(&mut c, Instant::now(), 10_000, FAST, 1000);
        assert_eq!(c.limit(), 64);
        c.refused(now, Refusal::Throttled, None);
        assert_eq!(c.limit(), 32);
        now += Duration::from_secs(1);
        c.refused(now, Refusal::Unavailable, None);
        assert_eq!(c.limit(), 16);
        for _ in 0..10 {
            now += Duration::from_secs(1);
            c.refused(now, Refusal::Throttled, None);
        }
        assert_eq!(c.limit(), 1);
    }

    #[test]
    fn refusals_of_one_burst_halve_once() {
        let mut c = Controller::new(64);
        let now = answers(&mut c, Instant::now(), 10_000, FAST, 1000);
        // The 64 calls in flight all come back refused within a few milliseconds.
        for i in 0..64 {
            c.refused(now + Duration::from_millis(i), Refusal::Throttled, None);
        }
        assert_eq!(c.limit(), 32);
    }

    #[test]
    fn honours_retry_after_and_does_not_grow_meanwhile() {
        let mut c = Controller::new(16);
        let now = Instant::now();
        c.refused(now, Refusal::Throttled, Some(Duration::from_secs(30)));
        assert_eq!(c.not_before(now), Some(now + Duration::from_secs(30)));
        assert_eq!(
            c.not_before(now + Duration::from_secs(29)),
            Some(now + Duration::from_secs(30))
        );
        assert_eq!(c.not_before(now + Duration::from_secs(30)), None);
        // An answer to a call sent before the refusal does not open the limit meanwhile.
        let limit = c.limit();
        answers(&mut c, now + Duration::from_secs(1), 50, FAST, 100);
        assert_eq!(c.limit(), limit);
        // A shorter Retry-After later does not shorten the wait.
        c.refused(
            now + Duration::from_secs(2),
            Refusal::Unavailable,
            Some(Duration::from_secs(1)),
        );
        assert_eq!(
            c.not_before(now + Duration::from_secs(5)),
            Some(now + Duration::from_secs(30))
        );
    }

    #[test]
    fn an_absurd_retry_after_is_bounded() {
        let mut c = Controller::new(16);
        let now = Instant::now();
        c.refused(
            now,
            Refusal::Throttled,
            Some(Duration::from_secs(365 * 86_400)),
        );
        assert_eq!(c.not_before(now), Some(now + MAX_RETRY_AFTER));
    }

    #[test]
    fn shrinks_when_latency_rises_well_above_its_baseline() {
        let mut c = Controller::new(32);
        let now = answers(&mut c, Instant::now(), 2_000, FAST, 1000);
        assert_eq!(c.limit(), 32);
        // Four slow answers pull the recent average past twice the baseline + 50 ms.
        answers(&mut c, now, 4, Duration::from_millis(400), 1000);
        assert!(c.limit() <= 16, "limit {}", c.limit());
    }

    #[test]
    fn jitter_and_a_slowly_slower_link_are_no_rise() {
        let mut c = Controller::new(32);
        let mut now = Instant::now();
        for i in 0..3_000u64 {
            // 20-35 ms, drifting up by 10 ms over the run.
            let latency = Duration::from_millis(20 + i % 16 + i / 300);
            c.answered(now, latency, 1000);
            now += Duration::from_millis(1);
        }
        assert_eq!(c.limit(), 32);
    }
}
