//! Warnings shown in `RDI.STATUS`: things an operator must know that are not errors of one job.

use std::sync::Mutex;

use crate::applier::now_ms;

/// Most warnings kept; older ones go first.
const MAX_WARNINGS: usize = 20;

static WARNINGS: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());

/// Adds a warning (deduplicated by text).
pub fn add(message: String) {
    if let Ok(mut w) = WARNINGS.lock() {
        w.retain(|(_, m)| *m != message);
        w.push((now_ms(), message));
        let excess = w.len().saturating_sub(MAX_WARNINGS);
        w.drain(..excess);
    }
}

/// Every warning with the time it was raised (ms since the epoch).
pub fn all() -> Vec<(u64, String)> {
    WARNINGS.lock().map(|w| w.clone()).unwrap_or_default()
}
