//! Server events: loading and role changes decide when capture and writers run; flushes and SWAPDB,
//! which emit no key events, are reported in `RDI.STATUS`, and a flush gives the deployment back.

use std::ffi::c_void;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use redis_module::server_events::{LoadingSubevent, ServerRole};
use redis_module::{raw, Context};
use redis_module_macros::{loading_event_handler, role_changed_event_handler};

use super::deploy::Sources;
use super::restore::{read_sources, restore};
use super::runtime;
use super::warnings;

/// Whether the load under way reads an RDB file (not an AOF, nor a primary's data).
static RDB_LOAD: AtomicBool = AtomicBool::new(false);
/// Loads begun since the module was loaded: a flush followed by a load in the same command is
/// Redis reloading its dataset (DEBUG RELOAD, DEBUG LOADAOF), not a FLUSHALL.
static LOADS: AtomicU64 = AtomicU64::new(0);

#[loading_event_handler]
fn on_loading(ctx: &Context, event: LoadingSubevent) {
    match event {
        LoadingSubevent::RdbStarted
        | LoadingSubevent::AofStarted
        | LoadingSubevent::ReplStarted => {
            // The queue in the file is the truth; nothing is captured or written while it loads.
            runtime::set_loading(true);
            RDB_LOAD.store(event == LoadingSubevent::RdbStarted, Ordering::Relaxed);
            LOADS.fetch_add(1, Ordering::Relaxed);
        }
        LoadingSubevent::Ended | LoadingSubevent::Failed => {
            runtime::set_loading(false);
            restore(ctx);
            if RDB_LOAD.swap(false, Ordering::Relaxed) && event == LoadingSubevent::Ended {
                warn_of_keys_expired_while_loading(ctx);
            }
        }
    }
}

/// A primary loading an RDB file drops the keys whose TTL has passed, with no key event (an AOF
/// loads them and they expire after, with one). A job that propagates expiries then keeps their
/// rows: says so, with how many keys Redis dropped (of any database and pattern).
fn warn_of_keys_expired_while_loading(ctx: &Context) {
    let Some(pipeline) = runtime::current() else {
        return;
    };
    let jobs: Vec<&str> = pipeline
        .capture
        .iter()
        .filter(|j| j.propagate_expired)
        .map(|j| j.name.as_str())
        .collect();
    let dropped = ctx
        .server_info("persistence")
        .field("rdb_last_load_keys_expired")
        .and_then(|v| v.parse_integer().ok())
        .unwrap_or(0);
    if let Some(message) = expired_while_loading_warning(dropped, &jobs) {
        warnings::add(message.clone());
        super::log::warning(ctx, &format!("rdi: {message}"));
    }
}

/// The warning for `dropped` keys expired while an RDB file loaded, given the jobs that propagate
/// expiries; `None` when nothing was dropped or no job propagates expiries.
fn expired_while_loading_warning(dropped: i64, jobs: &[&str]) -> Option<String> {
    if dropped <= 0 || jobs.is_empty() {
        return None;
    }
    let names = jobs
        .iter()
        .map(|j| format!("`{j}`"))
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!(
        "{dropped} key(s) whose TTL had passed were dropped while the RDB file loaded, with no \
         expiry event: jobs with propagate_expired ({names}) keep the rows of any such keys of \
         theirs; RDI.RESET does not remove them, delete them in the target (with appendonly \
         yes such keys load and expire as usual)"
    ))
}

#[role_changed_event_handler]
fn on_role_changed(ctx: &Context, role: ServerRole) {
    let primary = role == ServerRole::Primary;
    runtime::set_primary(primary);
    super::log::notice(
        ctx,
        if primary {
            "rdi: promoted to primary: writers resume from the replicated queue"
        } else {
            "rdi: now a replica: capture and writers stop"
        },
    );
    restore(ctx);
}

/// `RedisModuleFlushInfoV1` of redismodule.h (the bindings lack it).
#[repr(C)]
struct FlushInfo {
    version: u64,
    sync: i32,
    /// The flushed database, -1 for all.
    dbnum: i32,
}

/// `RedisModuleSwapDbInfoV1` of redismodule.h (the bindings lack it).
#[repr(C)]
struct SwapDbInfo {
    version: u64,
    first: i32,
    second: i32,
}

/// Subscribes to the flush and SWAPDB events (through the raw API: the crate's flush handler does not
/// give the database, and it has none for SWAPDB).
pub fn subscribe(ctx: &Context) -> Result<(), String> {
    for (id, callback) in [
        (raw::REDISMODULE_EVENT_FLUSHDB, on_flush as Callback),
        (raw::REDISMODULE_EVENT_SWAPDB, on_swapdb as Callback),
    ] {
        let event = raw::RedisModuleEvent { id, dataver: 1 };
        // SAFETY: the function pointer is filled in by RedisModule_Init; `ctx` is the module's
        // load-time context; the callback has the signature the API expects and lives as long as
        // the module.
        let status = unsafe {
            match raw::RedisModule_SubscribeToServerEvent {
                Some(f) => f(ctx.ctx, event, Some(callback)),
                None => raw::Status::Err as c_int,
            }
        };
        if status != raw::Status::Ok as c_int {
            return Err(format!("this server has no server event {id}"));
        }
    }
    Ok(())
}

type Callback = extern "C" fn(*mut raw::RedisModuleCtx, raw::RedisModuleEvent, u64, *mut c_void);

extern "C" fn on_flush(
    ctx: *mut raw::RedisModuleCtx,
    _eid: raw::RedisModuleEvent,
    subevent: u64,
    data: *mut c_void,
) {
    if data.is_null() {
        return;
    }
    // SAFETY: for this event Redis passes a RedisModuleFlushInfoV1, valid during the callback.
    let db = unsafe { (*(data as *const FlushInfo)).dbnum };
    if subevent == raw::REDISMODULE_SUBEVENT_FLUSHDB_START {
        if let Some(warning) = flush_warning(db) {
            keep_deployment(ctx, warning);
        }
    } else if matches!(db, -1 | 0) {
        resync_pending(ctx);
        put_deployment_back(ctx);
    }
}

/// What a flush of database 0 leaves to do once it has ended: its warning, and (on a primary) the
/// deployment read as it started, to be written back. Both are dropped if a load came in between.
struct Flushed {
    warning: String,
    sources: Option<Sources>,
    /// [`LOADS`] as the flush started.
    loads: u64,
}

static FLUSHED_DEPLOYMENT: Mutex<Option<Flushed>> = Mutex::new(None);

fn flushed() -> MutexGuard<'static, Option<Flushed>> {
    FLUSHED_DEPLOYMENT.lock().unwrap_or_else(|e| e.into_inner())
}

/// Keeps the flush's warning and, on a primary, reads the kept deployment before the flush takes
/// it (a replica gets it back by replication), so that a restart or a failover after the flush
/// still finds the pipeline.
fn keep_deployment(ctx: *mut raw::RedisModuleCtx, warning: String) {
    let sources = (!ctx.is_null() && runtime::is_primary() && !runtime::is_loading())
        .then(|| {
            let ctx = Context::new(ctx);
            select_db0(&ctx);
            read_sources(&ctx)
        })
        .flatten();
    *flushed() = Some(Flushed {
        warning,
        sources,
        loads: LOADS.load(Ordering::Relaxed),
    });
}

/// Once the flush ended, shows its warning and writes the kept deployment back: in a
/// post-notification job, which runs after the flush within the same command, so that replicas
/// and the AOF get the flush first. Where Redis takes no job (a replica, a load), only the warning.
fn put_deployment_back(ctx: *mut raw::RedisModuleCtx) {
    if ctx.is_null() || flushed().is_none() {
        return;
    }
    // SAFETY: the API table is read-only after load; `ctx` is the event's context; the job has no
    // private data to free.
    let added = unsafe {
        raw::RedisModule_AddPostNotificationJob
            .map(|add| add(ctx, Some(run_put_back), std::ptr::null_mut(), None))
    };
    if added == Some(raw::Status::Ok as c_int) {
        return;
    }
    let Some(kept) = flushed().take() else { return };
    warnings::add(kept.warning);
    if kept.sources.is_some() {
        super::log::warning(&Context::new(ctx),
            "rdi: the deployment flushed with the data could not be written back: redeploy to keep it",
        );
    }
}

extern "C" fn run_put_back(ctx: *mut raw::RedisModuleCtx, _data: *mut c_void) {
    let Some(kept) = flushed().take() else { return };
    let ctx = Context::new(ctx);
    if LOADS.load(Ordering::Relaxed) != kept.loads {
        // The dataset was emptied to be loaded again (DEBUG RELOAD, DEBUG LOADAOF), deployment
        // and queues with it: nothing was lost, nothing is to be written back.
        super::log::notice(&ctx, "rdi: the dataset was loaded again after it was emptied (DEBUG RELOAD): the deployment and the queues came back with it");
        return;
    }
    warnings::add(kept.warning);
    let Some(src) = kept.sources else { return };
    select_db0(&ctx);
    match super::deploy::store(&ctx, &src) {
        Ok(()) => super::log::notice(&ctx, "rdi: the deployment flushed with the data was written back"),
        Err(e) => super::log::warning(&ctx, &format!(
            "rdi: the deployment flushed with the data could not be written back ({e}): redeploy to keep it"
        )),
    }
}

/// The module's keys are in database 0, which an event's context may not have selected.
fn select_db0(ctx: &Context) {
    // SAFETY: `ctx` is a valid context for the duration of the callback that passed it.
    unsafe {
        if let Some(select) = raw::RedisModule_SelectDb {
            select(ctx.ctx, 0);
        }
    }
}

/// Re-reads the queue lengths after database 0 was emptied or swapped: the counts back-pressure and
/// INFO use would otherwise keep the queues' old lengths (writers acknowledge nothing when a queue is
/// empty), and writes would get BUSY for a queue that no longer exists.
fn resync_pending(ctx: *mut raw::RedisModuleCtx) {
    let Some(p) = runtime::current() else { return };
    if ctx.is_null() {
        return;
    }
    let ctx = Context::new(ctx);
    select_db0(&ctx);
    super::queue::sync_pending(&ctx, &p);
}

extern "C" fn on_swapdb(
    ctx: *mut raw::RedisModuleCtx,
    _eid: raw::RedisModuleEvent,
    _subevent: u64,
    data: *mut c_void,
) {
    if data.is_null() {
        return;
    }
    // SAFETY: for this event Redis passes a RedisModuleSwapDbInfoV1, valid during the callback.
    let (first, second) = unsafe {
        let info = &*(data as *const SwapDbInfo);
        (info.first, info.second)
    };
    if let Some(message) = swapdb_warning(first, second) {
        warnings::add(message);
    }
    if first == 0 || second == 0 {
        resync_pending(ctx);
    }
}

/// What `RDI.STATUS` says after a flush of database `db` (-1: all); nothing when it spared database 0.
fn flush_warning(db: i32) -> Option<String> {
    let what = match db {
        -1 => "FLUSHALL",
        0 => "FLUSHDB of database 0",
        _ => return None,
    };
    Some(format!(
        "{what} ran: it emits no key events, so the targets were left as they were; the queues were \
         flushed too, with the changes they held (the deployment was written back)"
    ))
}

/// What `RDI.STATUS` says after `SWAPDB first second`; nothing when database 0 was not swapped.
fn swapdb_warning(first: i32, second: i32) -> Option<String> {
    let other = match (first, second) {
        (0, 0) => return None,
        (0, n) | (n, 0) => n,
        _ => return None,
    };
    Some(format!(
        "SWAPDB 0 {other} ran: it emits no key events, so the targets were left as they were; the \
         queues (with their pending changes) and the kept deployment went to database {other}, and \
         database 0 is the only one captured and written: swap back, or redeploy to start over"
    ))
}

#[cfg(test)]
mod tests {
    use super::{expired_while_loading_warning, flush_warning, swapdb_warning};

    #[test]
    fn only_flushes_and_swaps_of_database_0_are_reported() {
        assert!(flush_warning(-1).is_some_and(|m| m.starts_with("FLUSHALL ran")));
        assert!(flush_warning(0).is_some_and(|m| m.starts_with("FLUSHDB of database 0")));
        assert_eq!(flush_warning(3), None);
        assert!(swapdb_warning(0, 2).is_some_and(|m| m.contains("went to database 2")));
        assert!(swapdb_warning(5, 0).is_some_and(|m| m.starts_with("SWAPDB 0 5")));
        assert_eq!(swapdb_warning(1, 2), None);
        assert_eq!(swapdb_warning(0, 0), None);
    }

    #[test]
    fn keys_expired_while_loading_are_reported_only_for_jobs_that_propagate_expiries() {
        let message = expired_while_loading_warning(3, &["emp", "docs"]);
        assert!(
            message.as_deref().is_some_and(
                |m| m.starts_with("3 key(s) whose TTL") && m.contains("(`emp`, `docs`)")
            ),
            "{message:?}"
        );
        assert_eq!(expired_while_loading_warning(0, &["emp"]), None);
        assert_eq!(expired_while_loading_warning(3, &[]), None);
    }
}
