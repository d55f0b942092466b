//! `RDI.RESET [JOB <name>]`: backfill. Every existing key that matches a job is queued as an `r` change,
//! by a background thread that SCANs in short, time-bounded sections under the server lock, so clients
//! keep being served while it runs.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Duration;

use redis_module::redisvalue::RedisValueKey;
use redis_module::{
    CallOptionsBuilder, CallResult, Context, RedisError, RedisResult, RedisString, RedisValue,
};

use super::keys;
use super::lock::ServerLock;
use super::queue::text;
use super::runtime;
use crate::applier::now_ms;

/// Pause between sections, so the main thread gets the lock back.
const SECTION_PAUSE: Duration = Duration::from_micros(500);
/// Pause while the job's queue is at `applier.max_pending`.
const FULL_PAUSE: Duration = Duration::from_millis(20);

/// Progress of one job's backfill.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// `running`, `done` or `aborted`.
    pub state: &'static str,
    /// Keys seen by SCAN.
    pub scanned: u64,
    /// Keys queued (hashes and JSON documents).
    pub queued: u64,
    /// When it started and, once over, ended (ms since the epoch).
    pub started_ms: u64,
    /// When it ended; 0 while running.
    pub ended_ms: u64,
}

static PROGRESS: Mutex<BTreeMap<String, Progress>> = Mutex::new(BTreeMap::new());

/// The backfill progress of a job, as a reply map, if a backfill ever ran.
pub fn progress(job: &str) -> Option<RedisValue> {
    let p = PROGRESS.lock().ok()?.get(job).cloned()?;
    let end = if p.ended_ms > 0 { p.ended_ms } else { now_ms() };
    let secs = (end.saturating_sub(p.started_ms) as f64 / 1000.0).max(0.001);
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: RedisValue| {
        m.insert(RedisValueKey::String(k.into()), v);
    };
    put("state", RedisValue::BulkString(p.state.into()));
    put("scanned", RedisValue::Integer(p.scanned as i64));
    put("queued", RedisValue::Integer(p.queued as i64));
    put(
        "rate_per_sec",
        RedisValue::Integer((p.queued as f64 / secs) as i64),
    );
    Some(RedisValue::OrderedMap(m))
}

/// Forgets the progress of backfills that are over (on undeploy: a job deployed again under the same
/// name starts with no backfill shown).
pub fn forget_finished() {
    if let Ok(mut map) = PROGRESS.lock() {
        map.retain(|_, p| p.state == "running");
    }
}

fn update(job: &str, f: impl FnOnce(&mut Progress)) {
    if let Ok(mut map) = PROGRESS.lock() {
        f(map.entry(job.to_string()).or_default());
    }
}

/// `RDI.RESET [JOB <name>]`
pub fn command(_ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    let job = match args.len() {
        1 => None,
        3 if args[1].to_string_lossy().eq_ignore_ascii_case("JOB") => {
            Some(args[2].to_string_lossy())
        }
        _ => return Err(RedisError::Str("ERR syntax: RDI.RESET [JOB <name>]")),
    };
    if !runtime::is_primary() {
        return Err(RedisError::Str(
            "READONLY reset on the primary: this server is a replica",
        ));
    }
    let p = runtime::current().ok_or(RedisError::Str("ERR nothing is deployed"))?;
    let jobs: Vec<(String, String, String)> = p
        .capture
        .iter()
        .filter(|c| job.as_ref().is_none_or(|j| *j == c.name))
        .map(|c| (c.name.clone(), c.queue.clone(), c.pattern.as_str()))
        .collect();
    if jobs.is_empty() {
        return Err(RedisError::String(format!(
            "ERR no job named `{}` is deployed",
            job.unwrap_or_default()
        )));
    }
    if let Ok(map) = PROGRESS.lock() {
        if let Some((name, _)) = jobs
            .iter()
            .find_map(|(n, _, _)| map.get(n).filter(|p| p.state == "running").map(|p| (n, p)))
        {
            return Err(RedisError::String(format!(
                "ERR a backfill of job `{name}` is already running"
            )));
        }
    }
    for (name, _, _) in &jobs {
        update(name, |p| {
            *p = Progress {
                state: "running",
                started_ms: now_ms(),
                ..Progress::default()
            };
        });
    }
    let spawned = std::thread::Builder::new()
        .name("rdi-reset".into())
        .spawn(move || {
            crate::applier::priority::lower_current_thread();
            for (name, queue, pattern) in jobs {
                // A panic (a bug) ends this job's backfill as `aborted` rather than leaving it
                // `running` for good, which would refuse every later RDI.RESET of the job.
                let state = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    backfill(&name, &queue, &pattern)
                }))
                .unwrap_or("aborted");
                update(&name, |p| {
                    p.state = state;
                    p.ended_ms = now_ms();
                });
            }
        });
    match spawned {
        Ok(_) => Ok(RedisValue::SimpleStringStatic("OK")),
        Err(e) => Err(RedisError::String(format!(
            "ERR could not start the backfill thread: {e}"
        ))),
    }
}

/// Scans one job's keys; returns the final state.
///
/// Each section under the server lock stops once it has worked its budget (see `ServerLock::spent`),
/// whatever the size of the keys or `rdi.reset-scan-count` (at most one SCAN call or one key more),
/// even in the middle of the keys one SCAN returned: those wait in `backlog` for the next section. A
/// key deleted or changed meanwhile is harmless: a deleted key is no longer a hash and is skipped, a
/// changed one was also captured, and the writers read every value when they write it.
fn backfill(job: &str, queue: &str, pattern: &str) -> &'static str {
    let mut scan = Scan {
        cursor: "0".to_string(),
        over: false,
        count: super::settings::reset_scan_count(),
        backlog: VecDeque::new(),
    };
    loop {
        {
            // Queueing writes to the keyspace: wait while the server pauses writes.
            let Some(lock) = ServerLock::acquire_for_writes(&|| !runtime::is_primary()) else {
                return "aborted";
            };
            let ctx = lock.context();
            // Stop if the job was undeployed or the server became a replica meanwhile.
            let pipeline = runtime::current().filter(|_| runtime::is_primary());
            let Some((p, job_index)) = pipeline.and_then(|p| {
                let i = p.capture.iter().position(|c| c.queue == queue)?;
                Some((p, i))
            }) else {
                return "aborted";
            };
            // A job at `applier.max_pending` takes no more: the backfill waits for the writers,
            // as client writes do (they get BUSY), instead of growing the queue without bound.
            let max = p.max_pending();
            let pending = p.capture[job_index].pending.load(Ordering::Relaxed);
            if max > 0 && pending >= max {
                drop(lock);
                std::thread::sleep(FULL_PAUSE);
                continue;
            }
            let room = if max > 0 { max - pending } else { u64::MAX };
            let (mut scanned, mut queued) = (0, 0);
            while !lock.spent() && queued < room {
                if scan.backlog.is_empty() {
                    if scan.over {
                        break;
                    }
                    match scan.next(&ctx, pattern) {
                        Some(n) => scanned += n,
                        None => return "aborted",
                    }
                }
                while let Some(key) = scan.backlog.pop_front() {
                    if queue_key(&ctx, queue, &key) {
                        queued += 1;
                        PANIC_IN_BACKFILL.fire();
                    }
                    if lock.spent() || queued >= room {
                        break;
                    }
                }
            }
            update(job, |p| {
                p.scanned += scanned;
                p.queued += queued;
            });
            p.add_pending(job_index, queued);
        }
        if let Some(engine) = runtime::current().and_then(|p| p.engine.clone()) {
            engine.wake_all();
        }
        if scan.over && scan.backlog.is_empty() {
            return "done";
        }
        std::thread::sleep(SECTION_PAUSE);
    }
}

/// Set in a test's server environment, the first backfill of the process panics under the server
/// lock right after queueing its first key, to check that the thread survives it (`aborted`).
static PANIC_IN_BACKFILL: super::test_hook::PanicOnce =
    super::test_hook::PanicOnce::new("RDI_TEST_PANIC_IN_BACKFILL");

/// Where a backfill's SCAN is, and the keys it returned that are not queued yet.
struct Scan {
    cursor: String,
    /// SCAN returned cursor 0: every key was seen.
    over: bool,
    /// The COUNT of each SCAN (`rdi.reset-scan-count`).
    count: String,
    backlog: VecDeque<Vec<u8>>,
}

impl Scan {
    /// Runs one SCAN, adding the keys it returns (but the module's own) to the backlog; returns how
    /// many keys it returned, or `None` if SCAN failed.
    fn next(&mut self, ctx: &Context, pattern: &str) -> Option<u64> {
        let Ok(RedisValue::Array(reply)) = ctx.call(
            "SCAN",
            &[
                self.cursor.as_str(),
                "MATCH",
                pattern,
                "COUNT",
                self.count.as_str(),
            ],
        ) else {
            return None;
        };
        self.cursor = reply.first().and_then(text).unwrap_or_else(|| "0".into());
        self.over = self.cursor == "0";
        let Some(RedisValue::Array(found)) = reply.get(1) else {
            return Some(0);
        };
        self.backlog.extend(
            found
                .iter()
                .filter_map(super::queue::bytes)
                .filter(|k| !keys::is_own(k))
                .map(<[u8]>::to_vec),
        );
        Some(found.len() as u64)
    }
}

/// Queues `key` as an `r` change if it still exists; whether it did. A key of another type than a hash
/// or a JSON document is queued too: the writer rejects it as "unsupported type" into the dead-letter
/// queue (SPEC 3.1), as it does for such a key created under the pattern.
fn queue_key(ctx: &Context, queue: &str, key: &[u8]) -> bool {
    let t = ctx.call("TYPE", &[key]).ok().as_ref().and_then(text);
    if matches!(t.as_deref(), None | Some("none")) {
        return false;
    }
    let opts = CallOptionsBuilder::new()
        .replicate()
        .errors_as_replies()
        .build();
    let args: [&[u8]; 6] = [queue.as_bytes(), b"*", b"k", key, b"o", b"r"];
    let res: CallResult = ctx.call_ext("XADD", &opts, &args);
    res.is_ok()
}
