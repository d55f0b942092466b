//! Whether this server may still make a batch visible in a target. A primary demoted by a failover
//! (`FAILOVER`, a manual cluster failover) may have a batch in flight, blocked on the target (a
//! SQLite file or a table locked by someone else); if it committed once unblocked, it could overwrite
//! what the new primary wrote meanwhile, such as the delete of a key it still held: a row would come
//! back for good. Writers check here just before they commit, and give the batch up (it stays
//! queued, for the new primary) when the server is no longer the primary.

use std::sync::atomic::{AtomicBool, Ordering};

use super::WriteError;

static DEMOTED: AtomicBool = AtomicBool::new(false);

/// Records the server's role (the module calls it whenever the role changes).
pub fn set_primary(primary: bool) {
    DEMOTED.store(!primary, Ordering::Release);
}

/// `Ok` while the server is the primary; else the error that gives the batch up.
pub fn check() -> Result<(), WriteError> {
    if DEMOTED.load(Ordering::Acquire) {
        return Err(WriteError::Transient(
            "the server is no longer the primary: the batch was rolled back, for the new primary \
             to write"
                .into(),
        ));
    }
    Ok(())
}
