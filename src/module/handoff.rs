//! Handing the server lock to a waiting background thread once per event-loop iteration.
//!
//! Redis's main thread holds the lock (the module GIL) all the time except while it waits for events.
//! Under a steady stream of commands that window is a few microseconds per iteration, and a writer
//! thread that tries the lock now and then almost never finds it free: measured, a batch read waited
//! 75–120 ms for it while a client was pipelining writes, so the queue grew for the whole load and
//! was written only after it (bench/RESULTS.md §7, §17).
//!
//! Here the main thread, right after it has taken the lock back (the event loop's after-sleep event),
//! looks whether a background thread is waiting; if one is, it releases the lock, waits a moment for
//! that thread to take it, and takes it back, which waits for the thread's section (half as long as
//! the thread waited, 0.5 to 2 ms: `ServerLock::acquire`). An offer is made only to a thread that has
//! waited at least [`MIN_WAIT`], and at most once per [`MIN_GAP`]: while the main thread has short idle
//! windows the writers take the lock in them as before, and under a saturating load they get at most
//! about a third of the lock, so neither side starves.
//!
//! The same event fired before the main thread sleeps tells a waiting thread that the lock is about
//! to be free, if that thread asked to hear it (`prompt`). A writer woken by a client's write finds
//! the lock held by the main thread, which is still serving that client; without this it slept its
//! full retry interval (200 µs) before trying again, which was half of the time from a write to its
//! commit at 1 k writes/s (bench/RESULTS.md §38). Only a writer just woken by a new change asks
//! (`applier::prompt`): a thread reading a backlog section after section keeps retrying at its own
//! pace, which leaves the main thread free windows between sections (with hints there too, PING p99
//! while draining doubled). A writer asks once per wake-up, so a saturating load, which never lets
//! it idle, gets no hints.

use std::cell::Cell;
use std::ffi::c_void;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use redis_module::{raw, Context};

/// How long the main thread waits for a woken thread to take the lock it released.
const TAKE_WAIT: Duration = Duration::from_micros(200);

/// How long a thread waits for the lock before the main thread offers it.
const MIN_WAIT: Duration = Duration::from_millis(1);

/// Least time between two offers.
const MIN_GAP: Duration = Duration::from_millis(1);

/// Background threads waiting for the lock right now.
static WAITING: AtomicUsize = AtomicUsize::new(0);

/// Of those, the threads that want to hear when the main thread is about to sleep.
static PROMPT_WAITING: AtomicUsize = AtomicUsize::new(0);

/// When the longest-waiting thread started to wait ([`now_us`]); `u64::MAX` when none waits.
static WAITING_SINCE: AtomicU64 = AtomicU64::new(u64::MAX);

/// When the last offer was made ([`now_us`]).
static LAST_OFFER: AtomicU64 = AtomicU64::new(0);

/// Microseconds since the first call (a monotonic clock that fits an atomic).
fn now_us() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

struct State {
    /// The main thread has released the lock for a waiting thread, and no thread has taken it yet.
    open: bool,
    /// Counts offers, so that a thread that lost one waits for the next.
    seq: u64,
    /// Counts the times the main thread said it was about to sleep (and free the lock).
    sleeps: u64,
}

static STATE: Mutex<State> = Mutex::new(State {
    open: false,
    seq: 0,
    sleeps: 0,
});
static CHANGED: Condvar = Condvar::new();

thread_local! {
    // The last offer this thread was woken for.
    static LAST_SEEN: Cell<u64> = const { Cell::new(0) };
}

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Subscribes to the event loop's after-sleep event. Without it (a server that lacks the event)
/// background threads still get the lock when the main thread waits for events.
pub fn subscribe(ctx: &Context) -> Result<(), String> {
    let event = raw::RedisModuleEvent {
        id: raw::REDISMODULE_EVENT_EVENTLOOP,
        dataver: 1,
    };
    // SAFETY: the function pointer is filled in by RedisModule_Init; `ctx` is the module's load-time
    // context; the callback has the signature the API expects and lives as long as the module.
    let status = unsafe {
        match raw::RedisModule_SubscribeToServerEvent {
            Some(f) => f(ctx.ctx, event, Some(on_event_loop)),
            None => raw::Status::Err as c_int,
        }
    };
    if status == raw::Status::Ok as c_int {
        Ok(())
    } else {
        Err("this server has no event-loop event".into())
    }
}

extern "C" fn on_event_loop(
    ctx: *mut raw::RedisModuleCtx,
    _eid: raw::RedisModuleEvent,
    subevent: u64,
    _data: *mut c_void,
) {
    if WAITING.load(Ordering::Acquire) == 0 || super::lock::is_unloading() {
        return;
    }
    if subevent == raw::REDISMODULE_SUBEVENT_EVENTLOOP_BEFORE_SLEEP {
        if PROMPT_WAITING.load(Ordering::Acquire) > 0 {
            hint_sleep();
        }
        return;
    }
    if subevent != raw::REDISMODULE_SUBEVENT_EVENTLOOP_AFTER_SLEEP {
        return;
    }
    let now = now_us();
    let since = WAITING_SINCE.load(Ordering::Acquire);
    if since == u64::MAX
        || now.saturating_sub(since) < MIN_WAIT.as_micros() as u64
        || now.saturating_sub(LAST_OFFER.load(Ordering::Relaxed)) < MIN_GAP.as_micros() as u64
    {
        return;
    }
    LAST_OFFER.store(now, Ordering::Relaxed);
    let (Some(unlock), Some(lock)) = (
        // SAFETY: the API table is filled once when the module loads and only read afterwards.
        unsafe { raw::RedisModule_ThreadSafeContextUnlock },
        // SAFETY: as above.
        unsafe { raw::RedisModule_ThreadSafeContextLock },
    ) else {
        return;
    };
    {
        let mut s = state();
        s.open = true;
        s.seq = s.seq.wrapping_add(1);
    }
    CHANGED.notify_all();
    // SAFETY: the after-sleep event fires on the main thread right after it took the lock, so the
    // main thread owns it here; both calls only release and take that lock (the context is unused).
    unsafe { unlock(ctx) };
    let (mut s, _) = CHANGED
        .wait_timeout_while(state(), TAKE_WAIT, |s| s.open)
        .unwrap_or_else(|e| e.into_inner());
    s.open = false;
    drop(s);
    // SAFETY: as above; this waits while the thread that took the lock runs its section.
    unsafe { lock(ctx) };
}

/// A thread's wait for the lock, from its first failed try.
pub struct Wait {
    since: u64,
}

impl Wait {
    /// Starts counting the wait (call after the first failed try).
    pub fn start() -> Wait {
        Wait { since: now_us() }
    }

    /// How long the thread has waited so far.
    pub fn elapsed(&self) -> Duration {
        Duration::from_micros(now_us().saturating_sub(self.since))
    }
}

/// Tells the waiting threads that the main thread is about to sleep, which frees the lock (on the
/// main thread, before it sleeps).
fn hint_sleep() {
    {
        let mut s = state();
        s.sleeps = s.sleeps.wrapping_add(1);
    }
    CHANGED.notify_all();
}

/// How a wait for the lock ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// The main thread released the lock for the waiting threads.
    Offer,
    /// The main thread is about to sleep: the lock is free in a moment.
    Sleep,
    /// Neither came within the time given.
    Timeout,
}

/// Waits until the main thread offers the lock, or is about to sleep (when `prompt`), or `max`
/// passes. The caller then tries the lock.
pub fn wait_for_offer(wait: &Wait, max: Duration, prompt: bool) -> Woken {
    let last = LAST_SEEN.with(Cell::get);
    WAITING_SINCE.fetch_min(wait.since, Ordering::AcqRel);
    WAITING.fetch_add(1, Ordering::AcqRel);
    if prompt {
        PROMPT_WAITING.fetch_add(1, Ordering::AcqRel);
    }
    let s = state();
    let sleeps = s.sleeps;
    let (s, _) = CHANGED
        .wait_timeout_while(s, max, |s| {
            (!s.open || s.seq == last) && (!prompt || s.sleeps == sleeps)
        })
        .unwrap_or_else(|e| e.into_inner());
    let woken = if s.open && s.seq != last {
        LAST_SEEN.with(|l| l.set(s.seq));
        Woken::Offer
    } else if prompt && s.sleeps != sleeps {
        Woken::Sleep
    } else {
        Woken::Timeout
    };
    drop(s);
    if prompt {
        PROMPT_WAITING.fetch_sub(1, Ordering::AcqRel);
    }
    WAITING.fetch_sub(1, Ordering::AcqRel);
    woken
}

/// Tells the main thread that the lock it offered was taken (called after every successful try).
pub fn took() {
    // The other waiters, if any, set their own start again on their next wait.
    WAITING_SINCE.store(u64::MAX, Ordering::Release);
    let mut s = state();
    if s.open {
        s.open = false;
        drop(s);
        CHANGED.notify_all();
    }
}
