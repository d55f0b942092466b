//! Whether this server may still make a batch visible in a target. A primary demoted by a failover
//! (`FAILOVER`, a manual cluster failover) may have a batch in flight, blocked on the target (a
//! SQLite file or a table locked by someone else); if it committed once unblocked, it could overwrite
//! what the new primary wrote meanwhile, such as the delete of a key it still held: a row would come
//! back for good. Writers check here before each write and just before they commit, and give the
//! batch up (it stays queued, for the new primary) when the server is no longer the primary.
//!
//! The role alone is not enough: a server demoted and promoted again (two failovers) is a primary
//! again while a writer of its first term may still be blocked on the target with values it read
//! then. So every role change starts a new term, each writer thread holds the term its engine was
//! started in, and a writer of an earlier term never writes again.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::WriteError;

static DEMOTED: AtomicBool = AtomicBool::new(false);
static TERM: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The term of the engine this writer thread belongs to; `None` for other threads.
    static HELD: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Records the server's role (the module calls it whenever the role changes); a change starts a
/// new term.
pub fn set_primary(primary: bool) {
    if DEMOTED.swap(!primary, Ordering::AcqRel) == primary {
        TERM.fetch_add(1, Ordering::AcqRel);
    }
}

/// The current term, for an engine about to start its writer threads.
pub fn term() -> u64 {
    TERM.load(Ordering::Acquire)
}

/// Binds the calling thread to `term`: from then on [`check`] fails in it once the role changed.
pub fn hold(term: u64) {
    HELD.with(|h| h.set(Some(term)));
}

/// The term the calling thread is bound to, if it is a writer thread.
pub fn held() -> Option<u64> {
    HELD.with(Cell::get)
}

/// Whether a writer of term `held` (`None`: not a writer thread) may no longer write: the server
/// was demoted, or its role changed since that term.
pub fn is_stale(held: Option<u64>) -> bool {
    DEMOTED.load(Ordering::Acquire) || held.is_some_and(|held| held != TERM.load(Ordering::Acquire))
}

/// `Ok` while the server is the primary and, in a writer thread, still in the term its engine was
/// started in; else the error that gives the batch up.
pub fn check() -> Result<(), WriteError> {
    if DEMOTED.load(Ordering::Acquire) {
        return Err(WriteError::Transient(
            "the server is no longer the primary: the batch was rolled back, for the new primary \
             to write"
                .into(),
        ));
    }
    if is_stale(held()) {
        return Err(WriteError::Transient(
            "the server's role changed since this writer started (a failover and back): the batch \
             was rolled back, for the writers of the current term to write"
                .into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs in a thread of its own: the role is global, and other tests' writers must not see it
    /// change; so the test changes nothing global. It checks the thread-local side alone.
    #[test]
    fn a_writer_of_an_earlier_term_is_refused() {
        std::thread::spawn(|| {
            let now = term();
            hold(now);
            assert!(check().is_ok());
            hold(now.wrapping_sub(1));
            let Err(WriteError::Transient(msg)) = check() else {
                panic!("a writer of an earlier term may not write");
            };
            assert!(msg.contains("role changed"), "{msg}");
        })
        .join()
        .unwrap();
    }
}
