//! Back-off between attempts at a batch that failed for a transient reason.

use std::time::Duration;

/// Shortest delay after a failure.
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);

/// Exponential back-off with jitter: the n-th delay is drawn from the upper half of 200 ms × 2ⁿ,
/// capped at `max`, and never below [`BACKOFF_MIN`]: 100–200 ms, 200–400 ms, ... up to `max`/2–`max`
/// (SPEC 6: from 100 ms to `on_failed_retry_interval`).
#[derive(Debug, Clone)]
pub struct Backoff {
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A back-off capped at `max` (never below [`BACKOFF_MIN`]).
    pub fn new(max: Duration) -> Self {
        Backoff {
            max: max.max(BACKOFF_MIN),
            attempt: 0,
        }
    }

    /// Attempts made since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The delay before the next attempt; each call doubles the base up to the cap. The delay is drawn
    /// uniformly from the upper half of the base so that writers of many jobs do not retry in step.
    pub fn next_delay(&mut self) -> Duration {
        let base = BACKOFF_MIN
            .saturating_mul(2u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let low = (base / 2).max(BACKOFF_MIN).min(base);
        let jitter_ms = fastrand::u64(0..=(base - low).as_millis() as u64);
        low + Duration::from_millis(jitter_ms)
    }

    /// Forgets the failures after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_100_ms_up_to_the_cap_with_jitter_in_the_upper_half() {
        let mut b = Backoff::new(Duration::from_secs(1));
        let bases = [200u64, 400, 800, 1000, 1000];
        for base in bases {
            for _ in 0..20 {
                let mut probe = b.clone();
                let d = probe.next_delay().as_millis() as u64;
                assert!(
                    d >= base / 2 && d <= base,
                    "delay {d} outside [{}, {base}]",
                    base / 2
                );
            }
            b.next_delay();
        }
        assert_eq!(b.attempts(), 5);
        b.reset();
        let first = b.next_delay();
        assert!(
            first >= BACKOFF_MIN && first <= Duration::from_millis(200),
            "{first:?}"
        );
    }

    #[test]
    fn cap_below_minimum_is_raised_to_minimum() {
        let mut b = Backoff::new(Duration::from_millis(1));
        for _ in 0..5 {
            assert!(b.next_delay() <= BACKOFF_MIN);
        }
    }
}
