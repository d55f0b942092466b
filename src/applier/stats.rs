//! Counters and health that writer threads update and `RDI.STATUS` reads, without locks on the hot path.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use super::histogram::{Histogram, BATCH_ROWS_BOUNDS, LATENCY_MS_BOUNDS, WRITE_MS_BOUNDS};
use crate::writer::WriteError;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The last error seen, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct LastError {
    /// The message (never values or secrets).
    pub message: String,
    /// When, in ms since the epoch.
    pub at_ms: u64,
}

fn set_error(slot: &Mutex<Option<LastError>>, message: String) {
    if let Ok(mut g) = slot.lock() {
        *g = Some(LastError {
            message,
            at_ms: now_ms(),
        });
    }
}

fn get_error(slot: &Mutex<Option<LastError>>) -> Option<LastError> {
    slot.lock().ok().and_then(|g| g.clone())
}

/// Counters of one job, since the module loaded.
#[derive(Debug)]
pub struct JobStats {
    /// Changes with opcode `c` (or `r`) written.
    pub inserted: AtomicU64,
    /// Changes with opcode `u` written.
    pub updated: AtomicU64,
    /// Changes with opcode `d` written.
    pub deleted: AtomicU64,
    /// Changes rejected (dead-lettered or dropped).
    pub rejected: AtomicU64,
    /// Changes dropped by a filter.
    pub filtered: AtomicU64,
    /// Changes folded into a newer change of the same key.
    pub coalesced: AtomicU64,
    /// Batches committed.
    pub batches: AtomicU64,
    /// Attempts that failed for a transient reason since the last success (0 when healthy).
    pub retry_attempts: AtomicU64,
    /// Failed attempts in all.
    pub retries_total: AtomicU64,
    /// When the next attempt is due (ms since the epoch), 0 when not retrying.
    pub next_retry_ms: AtomicU64,
    /// Newest error.
    last_error: Mutex<Option<LastError>>,
    /// Rows per committed batch.
    pub batch_rows: Histogram,
    /// Milliseconds to write a batch to its targets.
    pub write_ms: Histogram,
    /// Milliseconds from a change being queued to its commit in the target.
    pub latency_ms: Histogram,
    /// Batches acknowledged (or about to be) whose changes are not counted yet.
    counting: AtomicU64,
}

impl Default for JobStats {
    fn default() -> Self {
        JobStats {
            inserted: AtomicU64::default(),
            updated: AtomicU64::default(),
            deleted: AtomicU64::default(),
            rejected: AtomicU64::default(),
            filtered: AtomicU64::default(),
            coalesced: AtomicU64::default(),
            batches: AtomicU64::default(),
            retry_attempts: AtomicU64::default(),
            retries_total: AtomicU64::default(),
            next_retry_ms: AtomicU64::default(),
            last_error: Mutex::default(),
            batch_rows: Histogram::new(BATCH_ROWS_BOUNDS),
            write_ms: Histogram::new(WRITE_MS_BOUNDS),
            latency_ms: Histogram::new(LATENCY_MS_BOUNDS),
            counting: AtomicU64::default(),
        }
    }
}

impl JobStats {
    /// Records an error.
    pub fn set_error(&self, message: String) {
        set_error(&self.last_error, message);
    }

    /// The newest error, if any.
    pub fn last_error(&self) -> Option<LastError> {
        get_error(&self.last_error)
    }

    /// Adds to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Marks a batch as being counted, from before its acknowledgement until the guard is dropped
    /// (after its changes are added to the counters): a reader that saw the queue trimmed waits for
    /// [`JobStats::counted`] before it reads the counters, which then include the batch.
    pub fn counting(&self) -> Counting<'_> {
        self.counting.fetch_add(1, Ordering::SeqCst);
        Counting(&self.counting)
    }

    /// Whether every acknowledged batch is in the counters.
    pub fn counted(&self) -> bool {
        self.counting.load(Ordering::SeqCst) == 0
    }
}

/// A batch being counted ([`JobStats::counting`]).
pub struct Counting<'a>(&'a AtomicU64);

impl Drop for Counting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether a connection works, as last seen by a writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Not used yet.
    Unknown,
    /// The last operation succeeded.
    Ok,
    /// The last operation failed.
    Error,
}

impl Health {
    /// Lower-case name for replies.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Error => "error",
        }
    }
}

/// Health of one target connection.
#[derive(Debug, Default)]
pub struct ConnStats {
    health: AtomicU8,
    last_error: Mutex<Option<LastError>>,
    /// Errors by kind, in the order of [`ERROR_KINDS`].
    errors: [AtomicU64; 4],
}

/// The kinds of target errors counted per connection (`rdi_target_errors_total`).
pub const ERROR_KINDS: [&str; 4] = ["transient", "batch", "schema", "unknown"];

impl ConnStats {
    /// Marks the connection healthy.
    pub fn ok(&self) {
        self.health.store(1, Ordering::Relaxed);
    }

    /// Marks it failing, with the reason, and counts the error by its kind.
    pub fn failed(&self, error: &WriteError) {
        let kind = match error {
            WriteError::Transient(_) => 0,
            WriteError::Batch(_) => 1,
            WriteError::Schema(_) => 2,
            WriteError::Unknown(_) => 3,
        };
        self.errors[kind].fetch_add(1, Ordering::Relaxed);
        self.health.store(2, Ordering::Relaxed);
        set_error(&self.last_error, error.to_string());
    }

    /// Counts rows the target refused one by one (`batch` errors absorbed by splitting the batch):
    /// the connection itself is fine.
    pub fn refused(&self, rows: usize) {
        self.errors[1].fetch_add(rows as u64, Ordering::Relaxed);
    }

    /// Errors so far by kind, in the order of [`ERROR_KINDS`].
    pub fn errors(&self) -> [u64; 4] {
        [0, 1, 2, 3].map(|i| self.errors[i].load(Ordering::Relaxed))
    }

    /// Current health.
    pub fn health(&self) -> Health {
        match self.health.load(Ordering::Relaxed) {
            1 => Health::Ok,
            2 => Health::Error,
            _ => Health::Unknown,
        }
    }

    /// The newest error, if any.
    pub fn last_error(&self) -> Option<LastError> {
        get_error(&self.last_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_counted_once_its_guard_is_dropped() {
        let stats = JobStats::default();
        assert!(stats.counted());
        let first = stats.counting();
        let second = stats.counting();
        assert!(!stats.counted());
        drop(first);
        assert!(!stats.counted());
        drop(second);
        assert!(stats.counted());
    }

    #[test]
    fn connection_errors_are_counted_by_kind() {
        let c = ConnStats::default();
        c.failed(&WriteError::Transient("down".into()));
        c.failed(&WriteError::Transient("down".into()));
        c.failed(&WriteError::Schema("no table".into()));
        assert_eq!(c.errors(), [2, 0, 1, 0]);
        assert_eq!(c.health(), Health::Error);
        c.ok();
        assert_eq!(c.errors(), [2, 0, 1, 0], "counters are totals");
    }
}
