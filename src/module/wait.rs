//! `RDI.WAIT [timeout-ms]`: blocks only the caller until every change queued before the call has
//! reached its target or the dead-letter queue.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use redis_module::redisvalue::RedisValueKey;
use redis_module::{Context, RedisError, RedisResult, RedisString, RedisValue, ThreadSafeContext};

use super::queue::{last_id, oldest_id};
use super::runtime;
use crate::applier::{EntryId, JobStats};

/// Default timeout when none is given.
pub const WAIT_TIMEOUT_DEFAULT_MS: u64 = 60_000;
/// How often the waiting thread looks at the queues.
const POLL: Duration = Duration::from_millis(10);

/// How often it looks again when the queues are done but a batch is still being counted.
const COUNTED_POLL: Duration = Duration::from_millis(1);

/// Most RDI.WAIT calls blocked at once: each has a thread that looks at the queues under the server
/// lock every 10 ms, and the command is `@read`.
pub const WAITS_MAX: usize = 64;
static WAITS: AtomicUsize = AtomicUsize::new(0);

/// One RDI.WAIT counted in [`WAITS`] until dropped, however its thread ends (or fails to start).
struct Waiting;

impl Waiting {
    fn enter() -> Option<Waiting> {
        WAITS
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < WAITS_MAX).then_some(n + 1)
            })
            .ok()
            .map(|_| Waiting)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        WAITS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The engine of the pipeline in force, if it runs.
fn engine() -> Option<std::sync::Arc<crate::applier::Engine>> {
    runtime::current().and_then(|p| p.engine.clone())
}

/// Changes written and rejected by the jobs in force, since they started.
fn totals() -> (u64, u64) {
    let Some(engine) = engine() else {
        return (0, 0);
    };
    engine.jobs().iter().fold((0, 0), |(w, r), j| {
        let s = &j.stats;
        (
            w + JobStats::get(&s.inserted) + JobStats::get(&s.updated) + JobStats::get(&s.deleted),
            r + JobStats::get(&s.rejected),
        )
    })
}

/// Whether the counters include every batch acknowledged so far (a writer counts a batch just after
/// trimming it from the queue).
fn counted() -> bool {
    engine().is_none_or(|engine| engine.jobs().iter().all(|j| j.stats.counted()))
}

/// `RDI.WAIT [timeout-ms]`
pub fn command(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    if args.len() > 2 {
        return Err(RedisError::WrongArity);
    }
    let timeout_ms = match args.get(1) {
        Some(a) => a
            .parse_integer()
            .ok()
            .and_then(|v| u64::try_from(v).ok())
            .ok_or(RedisError::Str(
                "ERR timeout must be a non-negative number of milliseconds",
            ))?,
        None => WAIT_TIMEOUT_DEFAULT_MS,
    };
    if !runtime::is_primary() {
        return Err(RedisError::Str(
            "ERR this server is a replica: RDI.WAIT on the primary",
        ));
    }
    // The newest entry of each queue now: done when each queue's oldest entry is past it.
    let targets: Vec<(String, String, EntryId)> = runtime::current()
        .map(|p| {
            p.capture
                .iter()
                .filter_map(|j| {
                    last_id(ctx, &j.queue).map(|id| (j.name.clone(), j.queue.clone(), id))
                })
                .collect()
        })
        .unwrap_or_default();
    let awaited: u64 = runtime::current()
        .map(|p| {
            p.capture
                .iter()
                .map(|j| super::queue::length(ctx, &j.queue))
                .sum()
        })
        .unwrap_or(0);
    let (_, rejected0) = totals();
    let Some(waiting) = Waiting::enter() else {
        return Err(RedisError::String(format!(
            "ERR {WAITS_MAX} RDI.WAIT calls are blocked already; try again when one returns"
        )));
    };
    let blocked = super::blocking::block(ctx, "RDI.WAIT")?;
    let spawned = std::thread::Builder::new()
        .name("rdi-wait".into())
        .spawn(move || {
            let _waiting = waiting;
            let tsc = ThreadSafeContext::with_blocked_client(blocked);
            let deadline = Instant::now() + Duration::from_millis(timeout_ms);
            loop {
                let remaining: Vec<String> = {
                    let ctx = tsc.lock();
                    targets
                        .iter()
                        .filter(|(_, q, id)| oldest_id(&ctx, q).is_some_and(|o| o <= *id))
                        .map(|(name, _, _)| name.clone())
                        .collect()
                };
                if remaining.is_empty() && !counted() && Instant::now() < deadline {
                    std::thread::sleep(COUNTED_POLL);
                    continue;
                }
                if remaining.is_empty() {
                    // Rejections counted meanwhile may include newer changes: never more than awaited.
                    let rejected = totals().1.saturating_sub(rejected0).min(awaited);
                    let mut m = std::collections::BTreeMap::new();
                    m.insert(
                        RedisValueKey::String("written".into()),
                        RedisValue::Integer((awaited - rejected) as i64),
                    );
                    m.insert(
                        RedisValueKey::String("rejected".into()),
                        RedisValue::Integer(rejected as i64),
                    );
                    tsc.reply(Ok(RedisValue::OrderedMap(m)));
                    return;
                }
                if Instant::now() >= deadline {
                    super::reply::to_blocked(
                        &tsc,
                        Err(RedisError::String(format!(
                            "TIMEOUT changes still pending after {timeout_ms} ms in job(s): {}",
                            remaining.join(", ")
                        ))),
                    );
                    return;
                }
                std::thread::sleep(POLL);
            }
        });
    match spawned {
        Ok(_) => Ok(RedisValue::NoReply),
        Err(e) => Err(RedisError::String(format!(
            "ERR could not start the wait thread: {e}"
        ))),
    }
}
