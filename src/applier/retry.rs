//! Back-off between attempts at a batch that failed for a transient reason.

use std::time::Duration;

/// First delay after a failure.
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);

/// Exponential back-off with full jitter on the upper half: 100 ms, 200 ms, ... capped at `max`.
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
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = base / 2;
        let jitter_ms = fastrand::u64(0..=half.as_millis() as u64);
        half + Duration::from_millis(jitter_ms)
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
    fn delays_double_up_to_the_cap_with_jitter_in_the_upper_half() {
        let mut b = Backoff::new(Duration::from_secs(1));
        let bases = [100u64, 200, 400, 800, 1000, 1000];
        for base in bases {
            let d = b.next_delay().as_millis() as u64;
            assert!(
                d >= base / 2 && d <= base,
                "delay {d} outside [{}, {base}]",
                base / 2
            );
        }
        assert_eq!(b.attempts(), 6);
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn cap_below_minimum_is_raised_to_minimum() {
        let mut b = Backoff::new(Duration::from_millis(1));
        for _ in 0..5 {
            assert!(b.next_delay() <= BACKOFF_MIN);
        }
    }
}
