//! Whether a writer thread has just been woken by a new change. Its next read of the queue then
//! wants the server lock as soon as the main thread frees it, which the main thread signals before
//! it sleeps (`module/handoff.rs`); a thread reading a backlog leaves the main thread its free
//! windows instead. The queue's reader (`module/lock.rs`) takes the mark on its next section.

use std::cell::Cell;

thread_local! {
    static WOKEN: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as woken by a new change.
pub fn mark_woken() {
    WOKEN.with(|w| w.set(true));
}

/// Whether the calling thread was marked since the last call (and clears the mark).
pub fn take_woken() -> bool {
    WOKEN.try_with(|w| w.replace(false)).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_is_taken_once_and_only_on_its_thread() {
        assert!(!take_woken());
        mark_woken();
        assert!(!std::thread::spawn(take_woken).join().unwrap_or(true));
        assert!(take_woken());
        assert!(!take_woken());
    }
}
