//! Warnings shown in `RDI.STATUS`: things an operator must know that are not errors of one job.

use std::sync::Mutex;

use crate::applier::now_ms;

/// Most warnings kept; older ones go first.
const MAX_WARNINGS: usize = 20;

static WARNINGS: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());

/// Adds a warning (deduplicated by text); whether it is new.
pub fn add(message: String) -> bool {
    let Ok(mut w) = WARNINGS.lock() else {
        return false;
    };
    let before = w.len();
    w.retain(|(_, m)| *m != message);
    let new = w.len() == before;
    w.push((now_ms(), message));
    let excess = w.len().saturating_sub(MAX_WARNINGS);
    w.drain(..excess);
    new
}

/// Every warning with the time it was raised (ms since the epoch).
pub fn all() -> Vec<(u64, String)> {
    WARNINGS.lock().map(|w| w.clone()).unwrap_or_default()
}

/// Removes the warnings that begin with `prefix` (a condition that has ended).
pub fn retract(prefix: &str) {
    if let Ok(mut w) = WARNINGS.lock() {
        w.retain(|(_, m)| !m.starts_with(prefix));
    }
}
