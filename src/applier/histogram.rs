//! Fixed-bucket histograms updated by writer threads without locks, read by `RDI.METRICS`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bucket bounds of batch sizes (rows).
pub const BATCH_ROWS_BOUNDS: &[u64] = &[1, 10, 50, 100, 200, 500, 1000, 2000, 5000];
/// Bucket bounds of write times (ms).
pub const WRITE_MS_BOUNDS: &[u64] = &[1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000];
/// Bucket bounds of end-to-end latencies, change to commit (ms).
pub const LATENCY_MS_BOUNDS: &[u64] =
    &[1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000, 10_000, 60_000];

/// A histogram of non-negative integer observations.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [u64],
    /// One counter per bound, plus one for everything above the last bound.
    buckets: Vec<AtomicU64>,
    sum: AtomicU64,
}

impl Histogram {
    /// An empty histogram with these upper bounds (ascending).
    pub fn new(bounds: &'static [u64]) -> Self {
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    /// Adds one observation.
    pub fn observe(&self, v: u64) {
        let i = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        if let Some(b) = self.buckets.get(i) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.sum.fetch_add(v, Ordering::Relaxed);
    }

    /// Cumulative counts per bound (`le`), then the total count and the sum, as Prometheus wants them.
    pub fn snapshot(&self) -> (Vec<(u64, u64)>, u64, u64) {
        let mut acc = 0;
        let cumulative = self
            .bounds
            .iter()
            .zip(&self.buckets)
            .map(|(b, c)| {
                acc += c.load(Ordering::Relaxed);
                (*b, acc)
            })
            .collect();
        // The total comes from the same bucket reads: a separate count, read after them, could be
        // smaller than the last bound's count when an observation lands in between (not monotonic).
        let overflow = self
            .buckets
            .get(self.bounds.len())
            .map_or(0, |c| c.load(Ordering::Relaxed));
        (cumulative, acc + overflow, self.sum.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_fall_in_the_first_bucket_that_holds_them_and_counts_are_cumulative() {
        let h = Histogram::new(&[1, 10, 100]);
        for v in [0, 1, 5, 10, 50, 1000] {
            h.observe(v);
        }
        let (buckets, count, sum) = h.snapshot();
        assert_eq!(buckets, vec![(1, 2), (10, 4), (100, 5)]);
        assert_eq!(count, 6);
        assert_eq!(sum, 1066);
    }
}
