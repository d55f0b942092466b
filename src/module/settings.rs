//! Module settings: `CONFIG SET/GET rdi.*` and load arguments (`--loadmodule librdi.so pending-warning 50000`).

use std::sync::atomic::{AtomicI64, Ordering};

/// Default of `rdi.pending-warning`.
pub const PENDING_WARNING_DEFAULT: i64 = 1_000_000;
/// Bounds of `rdi.pending-warning` (0 turns the warning off).
pub const PENDING_WARNING_MIN: i64 = 0;
/// Upper bound of `rdi.pending-warning`.
pub const PENDING_WARNING_MAX: i64 = 1_000_000_000_000;

/// Default of `rdi.reset-scan-count`.
pub const RESET_SCAN_COUNT_DEFAULT: i64 = 200;
/// Lower bound of `rdi.reset-scan-count`.
pub const RESET_SCAN_COUNT_MIN: i64 = 1;
/// Upper bound of `rdi.reset-scan-count`.
pub const RESET_SCAN_COUNT_MAX: i64 = 100_000;

/// `rdi.pending-warning`: RDI.STATUS warns when a job without `max_pending` queues more changes.
pub static PENDING_WARNING: AtomicI64 = AtomicI64::new(PENDING_WARNING_DEFAULT);

/// `rdi.reset-scan-count`: the COUNT of each SCAN of `RDI.RESET`; a section under the server lock also
/// stops after its budget of work (`lock::SECTION_BUDGET`, up to 2 ms when handed over), whatever this
/// count.
pub static RESET_SCAN_COUNT: AtomicI64 = AtomicI64::new(RESET_SCAN_COUNT_DEFAULT);

/// The pending threshold that raises a warning, if any.
pub fn pending_warning() -> Option<u64> {
    u64::try_from(PENDING_WARNING.load(Ordering::Relaxed))
        .ok()
        .filter(|n| *n > 0)
}

/// The COUNT of each SCAN of a backfill.
pub fn reset_scan_count() -> String {
    RESET_SCAN_COUNT.load(Ordering::Relaxed).to_string()
}
