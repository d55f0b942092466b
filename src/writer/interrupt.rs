//! Whether a writer thread should give up the target call it is waiting on. A statement can wait a
//! long time in the target: on a row another client holds in an open transaction, until the read
//! timeout (PostgreSQL, 120 s by default) or the server's lock wait timeout (InnoDB, 50 s). Meanwhile
//! a redeploy, RDI.UNDEPLOY or MODULE UNLOAD would wait for the thread, and time out. So once the
//! writer's engine is stopping or the server's role changed ([`super::fence`]), the call is
//! interrupted: PostgreSQL's writer, which waits in a runtime of its own, looks here every 20 ms and
//! sends a cancel request; MySQL/MariaDB's has a helper thread look ([`Watch`]) and send
//! `KILL QUERY`. The call then ends with the target's error, and the batch stays queued.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

thread_local! {
    /// The stop flag of the engine this writer thread belongs to; `None` for other threads.
    static STOP: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
}

/// Binds the calling thread to its engine's stop flag.
pub fn watch(stop: Arc<AtomicBool>) {
    STOP.with(|s| *s.borrow_mut() = Some(stop));
}

/// What a writer thread's call is given up for, to be looked at from another thread (a helper that
/// interrupts a blocking call): its engine's stop flag and the term it writes in.
#[derive(Clone)]
pub struct Watch {
    stop: Arc<AtomicBool>,
    term: Option<u64>,
}

impl Watch {
    /// Whether the engine is stopping or the term has ended.
    pub fn requested(&self) -> bool {
        self.stop.load(Ordering::Acquire) || super::fence::is_stale(self.term)
    }
}

/// The calling writer thread's [`Watch`]; `None` in a thread that is not a writer's (a deploy's
/// target check, a test).
pub fn current() -> Option<Watch> {
    STOP.with(|s| {
        s.borrow().as_ref().map(|stop| Watch {
            stop: stop.clone(),
            term: super::fence::held(),
        })
    })
}

/// Whether the calling writer thread's engine is stopping or its term has ended; always `false` in
/// a thread that is not a writer's.
pub fn requested() -> bool {
    current().is_some_and(|watch| watch.requested())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_writer_thread_whose_engine_stops_is_interrupted() {
        std::thread::spawn(|| {
            assert!(!requested(), "a thread that is not a writer's");
            assert!(current().is_none());
            let stop = Arc::new(AtomicBool::new(false));
            super::super::fence::hold(super::super::fence::term());
            watch(stop.clone());
            assert!(!requested());
            let watch = current().unwrap();
            assert!(!watch.requested());
            stop.store(true, Ordering::Release);
            assert!(requested());
            assert!(watch.requested(), "seen from another thread too");
        })
        .join()
        .unwrap();
    }
}
