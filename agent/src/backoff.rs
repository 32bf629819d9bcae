//! Retry delays: exponential backoff with jitter, as a pure function so the
//! pipeline's decisions can be tested without sleeping.

use std::time::Duration;

/// How retries of one kind of failure are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay before the first retry (before jitter).
    pub base: Duration,
    /// No delay grows past this (before jitter).
    pub max: Duration,
}

impl Backoff {
    /// Network errors, 5xx and timeouts: start fast, cap at 15 minutes so a
    /// long SvarInn outage is still noticed within SvarInn's two-hour warning.
    pub const NETWORK: Backoff = Backoff {
        base: Duration::from_secs(5),
        max: Duration::from_secs(15 * 60),
    };

    /// The delay before retry number `attempt` (0 = the first retry), with
    /// `jitter` in `[0, 1)` spreading it over the upper half of the window
    /// ("equal jitter"): never less than half the exponential delay, so a
    /// retry storm cannot collapse into immediate retries.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let exponential = self
            .base
            .checked_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
            .unwrap_or(self.max)
            .min(self.max);
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let half = exponential / 2;
        half + half.mul_f64(jitter)
    }

    /// [`Backoff::delay`] with jitter from the thread's random generator.
    pub fn delay_with_random_jitter(&self, attempt: u32) -> Duration {
        self.delay(attempt, rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Backoff = Backoff {
        base: Duration::from_secs(2),
        max: Duration::from_secs(60),
    };

    #[test]
    fn grows_exponentially_then_caps() {
        let no_jitter: Vec<u64> = (0..8).map(|a| B.delay(a, 0.0).as_secs()).collect();
        assert_eq!(no_jitter, vec![1, 2, 4, 8, 16, 30, 30, 30]);
        let full_jitter: Vec<u64> = (0..8).map(|a| B.delay(a, 0.999_999).as_secs()).collect();
        assert_eq!(full_jitter, vec![1, 3, 7, 15, 31, 59, 59, 59]);
    }

    #[test]
    fn jitter_stays_within_the_window() {
        for attempt in 0..40 {
            for jitter in [0.0, 0.25, 0.5, 0.75, 0.999, -3.0, 7.0, f64::NAN] {
                let d = B.delay(attempt, jitter);
                assert!(d <= B.max, "attempt {attempt} jitter {jitter}: {d:?}");
                assert!(d >= B.delay(attempt, 0.0));
            }
        }
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        assert_eq!(B.delay(u32::MAX, 0.0), B.max / 2);
        assert_eq!(Backoff::NETWORK.delay(1000, 0.0), Duration::from_secs(450));
    }

    #[test]
    fn random_jitter_differs_between_calls() {
        let delays: std::collections::HashSet<Duration> = (0..20)
            .map(|_| Backoff::NETWORK.delay_with_random_jitter(6))
            .collect();
        assert!(delays.len() > 1, "jitter must spread retries: {delays:?}");
    }
}
