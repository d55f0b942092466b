//! Taking the server lock from a background thread without ever blocking module unload: the lock is
//! tried in a loop that gives up once the module is unloading (the main thread, which holds the lock
//! while it unloads the module, could otherwise never be waited for).
//!
//! Each thread makes one thread-safe context, on its first section, and keeps it until it ends.
//! Making one creates a client object with its 16 KB reply buffer, and freeing it frees them: a
//! writer at 10 k changes/s took three sections per small batch, and making and freeing their
//! contexts was about 4 % of its CPU (bench/RESULTS.md §38). Reusing the context is
//! what the API intends for a thread that locks many times: since Redis 7.2 what a section
//! replicates is propagated when it unlocks, not when its context is freed.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis_module::{raw, Context};

/// Set while `MODULE UNLOAD` runs: background threads stop taking the lock.
static UNLOADING: AtomicBool = AtomicBool::new(false);

/// Longest wait between two tries of the lock (the main thread's offer usually ends it sooner:
/// [`super::handoff`]).
const RETRY: Duration = Duration::from_micros(200);

/// Tries of the lock, each after yielding the CPU, once the main thread has said it is about to sleep.
const SLEEP_TRIES: usize = 20;

/// How often a thread waiting to write looks whether the server still pauses writes.
const PAUSED_POLL: Duration = Duration::from_millis(10);

/// Work a background thread does under the server lock before it gives the lock back: a client command
/// arriving meanwhile waits about this long (more if the machine deschedules the thread holding it).
pub const SECTION_BUDGET: Duration = Duration::from_micros(500);

/// The longest section a thread may run when the main thread offered it the lock after holding it
/// for a long time (see [`ServerLock::acquire`]).
const OFFERED_BUDGET_MAX: Duration = Duration::from_millis(2);

/// Marks the module as unloading (or not, when unloading was refused).
pub fn set_unloading(on: bool) {
    UNLOADING.store(on, Ordering::Release);
}

/// Whether the module is unloading.
pub fn is_unloading() -> bool {
    UNLOADING.load(Ordering::Acquire)
}

/// Whether the server pauses writes now: `CLIENT PAUSE` (`WRITE` or `ALL`), `FAILOVER`, a cluster
/// manual failover, or a shutdown waiting for its replicas. Call it with the server lock held.
///
/// Meanwhile nothing may reach the replication stream: Redis asserts it, and what a background section
/// writes is replicated when it unlocks, so a section that wrote during a pause would crash the server.
/// Clients' writes wait for the pause to end; the module's threads must wait too.
pub fn writes_paused() -> bool {
    // SAFETY: the API table is filled once when the module loads and only read afterwards; the caller
    // holds the server lock, which the call needs (it reads and updates the server's pause state).
    unsafe { raw::RedisModule_AvoidReplicaTraffic.is_some_and(|f| f() != 0) }
}

/// The server lock, held until dropped.
pub struct ServerLock {
    ctx: *mut raw::RedisModuleCtx,
    taken: Instant,
    budget: Duration,
}

impl ServerLock {
    /// Takes the lock, or returns `None` when the module is unloading or `give_up` says so.
    ///
    /// A section is [`SECTION_BUDGET`] long, except one the main thread offered after the thread had
    /// waited for it (`handoff`): that one may last half the wait, up to [`OFFERED_BUDGET_MAX`]. Under
    /// a load that keeps the main thread busy, offers come once per event-loop iteration, which
    /// lasts milliseconds when clients pipeline; with fixed sections of 0.5 ms the writers got about
    /// a twentieth of the lock and the queue grew for as long as the load lasted (bench/RESULTS.md
    /// §42). Half the wait gives them up to a third, and the main thread at least two thirds.
    pub fn acquire(give_up: &dyn Fn() -> bool) -> Option<ServerLock> {
        let ctx = thread_context()?;
        // A writer just woken by a new change wants the lock as soon as it is free; a thread
        // reading a backlog waits at its own pace (see `handoff`).
        let prompt = crate::applier::prompt::take_woken();
        let mut wait: Option<super::handoff::Wait> = None;
        let mut offered = false;
        loop {
            if let Some(mut lock) = ServerLock::try_take(ctx) {
                if let Some(wait) = wait.as_ref().filter(|_| offered) {
                    lock.budget = (wait.elapsed() / 2).clamp(SECTION_BUDGET, OFFERED_BUDGET_MAX);
                }
                return Some(lock);
            }
            if is_unloading() || give_up() {
                return None;
            }
            let wait = wait.get_or_insert_with(super::handoff::Wait::start);
            match super::handoff::wait_for_offer(wait, RETRY, prompt) {
                super::handoff::Woken::Offer => offered = true,
                super::handoff::Woken::Sleep => {
                    // The main thread frees the lock a few microseconds after it says so.
                    for _ in 0..SLEEP_TRIES {
                        std::thread::yield_now();
                        if let Some(lock) = ServerLock::try_take(ctx) {
                            return Some(lock);
                        }
                    }
                }
                super::handoff::Woken::Timeout => {}
            }
        }
    }

    /// Takes the lock for a section that writes to the keyspace. While the server pauses writes (see
    /// [`writes_paused`]) it gives the lock back and waits, logging when the wait starts and ends.
    /// `None` when the module is unloading or `give_up` says so.
    pub fn acquire_for_writes(give_up: &dyn Fn() -> bool) -> Option<ServerLock> {
        let mut paused_since: Option<Instant> = None;
        loop {
            let lock = ServerLock::acquire(give_up)?;
            if !writes_paused() {
                if let Some(since) = paused_since {
                    super::log::notice(
                        &lock.context(),
                        &format!(
                            "rdi: the server resumed writes; a writer waited {} ms for it",
                            since.elapsed().as_millis()
                        ),
                    );
                }
                return Some(lock);
            }
            if paused_since.is_none() {
                paused_since = Some(Instant::now());
                super::log::notice(
                    &lock.context(),
                    "rdi: the server pauses writes (CLIENT PAUSE, FAILOVER or a manual failover): \
                     a writer waits for the pause to end before it writes to the keyspace",
                );
            }
            drop(lock);
            if is_unloading() || give_up() {
                return None;
            }
            std::thread::sleep(PAUSED_POLL);
        }
    }

    /// Takes the lock if it is free.
    fn try_take(ctx: *mut raw::RedisModuleCtx) -> Option<ServerLock> {
        // SAFETY: `ctx` is this thread's thread-safe context (`thread_context`).
        let got = unsafe {
            raw::RedisModule_ThreadSafeContextTryLock.map_or(raw::Status::Err as i32, |f| f(ctx))
        };
        if got != raw::Status::Ok as i32 {
            return None;
        }
        super::handoff::took();
        Some(ServerLock {
            ctx,
            taken: Instant::now(),
            budget: SECTION_BUDGET,
        })
    }

    /// Whether this section has used up its budget and should give the lock back.
    pub fn spent(&self) -> bool {
        self.taken.elapsed() >= self.budget
    }

    /// A context for calls while the lock is held.
    pub fn context(&self) -> Context {
        Context::new(self.ctx)
    }
}

impl Drop for ServerLock {
    fn drop(&mut self) {
        // SAFETY: the lock was taken with this context in `acquire` and is released once, here; the
        // context stays the thread's (see `ThreadContext`).
        unsafe {
            if let Some(unlock) = raw::RedisModule_ThreadSafeContextUnlock {
                unlock(self.ctx);
            }
        }
    }
}

/// The calling thread's detached thread-safe context, freed when the thread ends (before a writer
/// thread is joined, so before the module can be unloaded).
struct ThreadContext(Cell<*mut raw::RedisModuleCtx>);

impl Drop for ThreadContext {
    fn drop(&mut self) {
        let ctx = self.0.replace(std::ptr::null_mut());
        if ctx.is_null() {
            return;
        }
        // SAFETY: made by `thread_context` on this thread, not locked (a `ServerLock` borrows it
        // only while it lives, and none outlives its thread), freed once.
        unsafe {
            if let Some(free) = raw::RedisModule_FreeThreadSafeContext {
                free(ctx);
            }
        }
    }
}

thread_local! {
    static CONTEXT: ThreadContext = const { ThreadContext(Cell::new(std::ptr::null_mut())) };
}

/// This thread's context, made on first use; `None` if Redis gave none or the thread is ending.
fn thread_context() -> Option<*mut raw::RedisModuleCtx> {
    CONTEXT
        .try_with(|c| {
            if c.0.get().is_null() {
                // SAFETY: the API table is filled once when the module loads and only read
                // afterwards; a null blocked client makes a detached context, kept in `CONTEXT`
                // and freed by its `Drop`.
                let made = unsafe { raw::RedisModule_GetThreadSafeContext?(std::ptr::null_mut()) };
                c.0.set(made);
            }
            Some(c.0.get()).filter(|ctx| !ctx.is_null())
        })
        .ok()
        .flatten()
}
