//! `RDI.TRACE` sessions: while one is open, writer threads publish what they did with each record
//! (before and after transforms, the statement, the outcome). Costs one atomic load per batch otherwise.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// What happened to one record.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceRecord {
    /// The job.
    pub job: String,
    /// The Redis key.
    pub key: String,
    /// `c`, `u`, `d` or `r`.
    pub opcode: String,
    /// The value read (JSON text), before transforms.
    pub before: String,
    /// The record after transforms (JSON text), if it got that far.
    pub after: Option<String>,
    /// The statements sent, with placeholders (never values).
    pub statement: String,
    /// `written`, `filtered`, `coalesced`, `skipped` or `rejected: <reason>`.
    pub outcome: String,
    /// Microseconds the batch holding it took to write.
    pub took_us: u64,
}

impl TraceRecord {
    /// Whether the record was rejected.
    pub fn is_rejected(&self) -> bool {
        self.outcome.starts_with("rejected")
    }
}

/// One open `RDI.TRACE`.
#[derive(Debug)]
pub struct Session {
    capacity: usize,
    rejected_only: bool,
    records: Mutex<Vec<TraceRecord>>,
}

impl Session {
    /// Records gathered so far.
    pub fn len(&self) -> usize {
        self.records.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// Whether nothing was gathered yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether it has all it asked for.
    pub fn is_full(&self) -> bool {
        self.len() >= self.capacity
    }
}

static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static SESSIONS: Mutex<Vec<Arc<Session>>> = Mutex::new(Vec::new());

/// Whether any session is open: writers build trace records only then.
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed) > 0
}

/// How many sessions are open.
pub fn open_sessions() -> usize {
    ACTIVE.load(Ordering::Relaxed)
}

/// Opens a session that keeps up to `capacity` records (only rejected ones if `rejected_only`).
pub fn open(capacity: usize, rejected_only: bool) -> Arc<Session> {
    let s = Arc::new(Session {
        capacity: capacity.max(1),
        rejected_only,
        records: Mutex::new(Vec::new()),
    });
    if let Ok(mut all) = SESSIONS.lock() {
        all.push(s.clone());
        ACTIVE.store(all.len(), Ordering::Relaxed);
    }
    s
}

/// Closes a session and returns its records.
pub fn close(session: &Arc<Session>) -> Vec<TraceRecord> {
    if let Ok(mut all) = SESSIONS.lock() {
        all.retain(|s| !Arc::ptr_eq(s, session));
        ACTIVE.store(all.len(), Ordering::Relaxed);
    }
    session
        .records
        .lock()
        .map(|mut r| std::mem::take(&mut *r))
        .unwrap_or_default()
}

/// Hands records to every open session that still wants them.
pub fn publish(records: &[TraceRecord]) {
    let Ok(all) = SESSIONS.lock() else { return };
    for s in all.iter() {
        if let Ok(mut mine) = s.records.lock() {
            for r in records {
                if mine.len() >= s.capacity {
                    break;
                }
                if !s.rejected_only || r.is_rejected() {
                    mine.push(r.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(outcome: &str) -> TraceRecord {
        TraceRecord {
            job: "emp".into(),
            key: "emp:1".into(),
            opcode: "c".into(),
            before: "{}".into(),
            after: None,
            statement: String::new(),
            outcome: outcome.into(),
            took_us: 1,
        }
    }

    #[test]
    fn sessions_keep_what_they_asked_for_and_close_cleanly() {
        let all = open(2, false);
        let bad = open(5, true);
        assert!(active());
        publish(&[rec("written"), rec("rejected: x"), rec("written")]);
        assert!(all.is_full());
        assert_eq!(close(&all).len(), 2);
        let only = close(&bad);
        assert_eq!(only.len(), 1);
        assert!(only[0].is_rejected());
    }
}
