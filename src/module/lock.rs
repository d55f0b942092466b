//! Taking the server lock from a background thread without ever blocking module unload: the lock is
//! tried in a loop that gives up once the module is unloading (the main thread, which holds the lock
//! while it unloads the module, could otherwise never be waited for).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis_module::{raw, Context};

/// Set while `MODULE UNLOAD` runs: background threads stop taking the lock.
static UNLOADING: AtomicBool = AtomicBool::new(false);

/// Longest wait between two tries of the lock (the main thread's offer usually ends it sooner:
/// [`super::handoff`]).
const RETRY: Duration = Duration::from_micros(200);

/// Work a background thread does under the server lock before it gives the lock back: a client command
/// arriving meanwhile waits about this long (more if the machine deschedules the thread holding it).
pub const SECTION_BUDGET: Duration = Duration::from_micros(500);

/// Marks the module as unloading (or not, when unloading was refused).
pub fn set_unloading(on: bool) {
    UNLOADING.store(on, Ordering::Release);
}

/// Whether the module is unloading.
pub fn is_unloading() -> bool {
    UNLOADING.load(Ordering::Acquire)
}

/// The server lock, held until dropped.
pub struct ServerLock {
    ctx: *mut raw::RedisModuleCtx,
    taken: Instant,
}

impl ServerLock {
    /// Takes the lock, or returns `None` when the module is unloading or `give_up` says so.
    pub fn acquire(give_up: &dyn Fn() -> bool) -> Option<ServerLock> {
        // SAFETY: a detached thread-safe context, freed in every path below or by Drop.
        let ctx = unsafe { raw::RedisModule_GetThreadSafeContext?(std::ptr::null_mut()) };
        if ctx.is_null() {
            return None;
        }
        let mut wait: Option<super::handoff::Wait> = None;
        loop {
            // SAFETY: `ctx` is the thread-safe context created above.
            let got = unsafe {
                raw::RedisModule_ThreadSafeContextTryLock
                    .map_or(raw::Status::Err as i32, |f| f(ctx))
            };
            if got == raw::Status::Ok as i32 {
                super::handoff::took();
                return Some(ServerLock {
                    ctx,
                    taken: Instant::now(),
                });
            }
            if is_unloading() || give_up() {
                // SAFETY: not locked; freed once.
                unsafe {
                    if let Some(free) = raw::RedisModule_FreeThreadSafeContext {
                        free(ctx);
                    }
                }
                return None;
            }
            let wait = wait.get_or_insert_with(super::handoff::Wait::start);
            super::handoff::wait_for_offer(wait, RETRY);
        }
    }

    /// Whether this section has used up [`SECTION_BUDGET`] and should give the lock back.
    pub fn spent(&self) -> bool {
        self.taken.elapsed() >= SECTION_BUDGET
    }

    /// A context for calls while the lock is held.
    pub fn context(&self) -> Context {
        Context::new(self.ctx)
    }
}

impl Drop for ServerLock {
    fn drop(&mut self) {
        // SAFETY: the lock was taken with this context in `acquire`; unlocked and freed once.
        unsafe {
            if let Some(unlock) = raw::RedisModule_ThreadSafeContextUnlock {
                unlock(self.ctx);
            }
            if let Some(free) = raw::RedisModule_FreeThreadSafeContext {
                free(self.ctx);
            }
        }
    }
}
