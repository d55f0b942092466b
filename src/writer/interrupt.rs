//! Whether a writer thread should give up the target call it is waiting on. A statement can wait a
//! long time in the target: on a row another client holds in an open transaction, up to the read
//! timeout (120 s by default). Meanwhile a redeploy, RDI.STOP or MODULE UNLOAD would wait for the
//! thread, and time out. Writers that can interrupt their own call (PostgreSQL sends a cancel
//! request) look here while they wait, and do so once their engine is stopping or the server's role
//! changed ([`super::fence`]). The call then ends with the target's error; the batch stays queued.

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

/// Whether the calling writer thread's engine is stopping or its term has ended; always `false` in
/// a thread that is not a writer's (a deploy's target check, a test).
pub fn requested() -> bool {
    STOP.with(|s| {
        s.borrow()
            .as_ref()
            .is_some_and(|stop| stop.load(Ordering::Acquire) || super::fence::check().is_err())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_writer_thread_whose_engine_stops_is_interrupted() {
        std::thread::spawn(|| {
            assert!(!requested(), "a thread that is not a writer's");
            let stop = Arc::new(AtomicBool::new(false));
            super::super::fence::hold(super::super::fence::term());
            watch(stop.clone());
            assert!(!requested());
            stop.store(true, Ordering::Release);
            assert!(requested());
        })
        .join()
        .unwrap();
    }
}
