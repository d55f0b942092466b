//! CPU priority of the module's background threads (writers, their read-ahead threads, backfill).
//!
//! They run below Redis's main thread, which serves the clients: on busy cores the scheduler runs the
//! main thread first, so the writers take idle CPU rather than client latency. Threads they create
//! inherit the lower priority.

/// How much nicer than the server the background threads are.
const NICER_BY: i32 = 5;

/// Lowers the calling thread's priority by [`NICER_BY`] (best effort: nothing happens where threads
/// have no priority of their own or the call is refused).
pub fn lower_current_thread() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on the calling thread's own id, no memory passed.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            let now = libc::getpriority(libc::PRIO_PROCESS, tid);
            let _ = libc::setpriority(libc::PRIO_PROCESS, tid, (now + NICER_BY).min(19));
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_gets_nicer_and_its_children_inherit_it() {
        let nice = || {
            // SAFETY: as in `lower_current_thread`.
            unsafe {
                let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                libc::getpriority(libc::PRIO_PROCESS, tid)
            }
        };
        let (before, after, child) = std::thread::spawn(move || {
            let before = nice();
            super::lower_current_thread();
            let after = nice();
            let child = std::thread::spawn(nice).join().unwrap_or(i32::MIN);
            (before, after, child)
        })
        .join()
        .unwrap_or((0, 0, 0));
        assert_eq!(after, (before + super::NICER_BY).min(19));
        assert_eq!(child, after);
    }
}
