//! Capture: keyspace notifications of tracked keys become entries of the jobs' queues, appended by one
//! post-notification job per execution unit, in the same atomic unit as the client's write.
//!
//! Runs on the main thread inside every write: no I/O, no reads of values except for a key that is
//! about to be deleted (see [`super::removal`]).

use std::cell::RefCell;
use std::ffi::c_void;
use std::ops::Range;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use redis_module::{raw, Context, NotifyEvent};

use super::append::StreamWriter;

use super::keys;
use super::runtime::{self, Pipeline};
use crate::applier::Opcode;

/// What an event means for the row of its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The key was created (`new`): sets the opcode of the next upsert, adds no entry.
    New,
    /// The command wrote the value: `c` if it created the key, else `u`.
    Upsert,
    /// The command removed part of the value; the key remains: `u`.
    Touch,
    /// The key went away: `d`.
    Delete,
    /// Not captured (expiry, TTL changes, loading, types we do not track).
    Ignore,
}

/// Classifies a keyspace event by its name (SPEC.md §3.1).
pub fn classify(event: &str) -> EventKind {
    match event {
        "new" => EventKind::New,
        "hset" | "hsetnx" | "hincrby" | "hincrbyfloat" | "restore" | "copy_to" | "rename_to"
        | "move_to" => EventKind::Upsert,
        // `hexpired`: fields of the hash expired (a change only for jobs with `propagate_expired`).
        "hdel" | "json.del" | "json.forget" | "hexpired" => EventKind::Touch,
        // `expired`: the key expired (likewise).
        "del" | "rename_from" | "move_from" | "expired" => EventKind::Delete,
        e if e.starts_with("json.") => EventKind::Upsert,
        _ => EventKind::Ignore,
    }
}

/// A value captured just before its key went.
struct Removed {
    key: Vec<u8>,
    /// The value as a JSON object text; `None` when it was already empty (HDEL of the last field).
    value: Option<String>,
    /// Overwritten by a command that gives no event we capture (SET over a hash): becomes a delete.
    overwritten: bool,
    used: bool,
}

/// One entry to append.
struct Entry {
    job: usize,
    /// Its key's bytes in [`Unit::keys`].
    key: Range<usize>,
    opcode: Opcode,
    value: Option<String>,
}

/// What the current execution unit has captured so far. Its buffers are kept from one unit to the
/// next (cleared, not freed) so that a write allocates nothing here on the common path.
#[derive(Default)]
struct Unit {
    pipeline: Option<Arc<Pipeline>>,
    /// The bytes of the keys of `entries` and `created`, one after another.
    keys: Vec<u8>,
    created: Vec<Range<usize>>,
    removed: Vec<Removed>,
    entries: Vec<Entry>,
}

impl Unit {
    fn key(&self, r: &Range<usize>) -> &[u8] {
        self.keys.get(r.clone()).unwrap_or_default()
    }

    fn add_key(&mut self, key: &[u8]) -> Range<usize> {
        let start = self.keys.len();
        self.keys.extend_from_slice(key);
        start..self.keys.len()
    }

    /// Empties the unit, keeping its buffers unless a large unit (a big MULTI) grew them.
    fn clear(&mut self) {
        const KEEP_KEY_BYTES: usize = 64 * 1024;
        const KEEP_ENTRIES: usize = 1024;
        self.pipeline = None;
        if self.keys.capacity() > KEEP_KEY_BYTES || self.entries.capacity() > KEEP_ENTRIES {
            *self = Unit::default();
            return;
        }
        self.keys.clear();
        self.created.clear();
        self.removed.clear();
        self.entries.clear();
    }
}

thread_local! {
    // Only the main thread captures; thread-local avoids any locking on the write path.
    static UNIT: RefCell<Unit> = RefCell::new(Unit::default());
}

/// Keyspace notification handler.
pub fn on_keyspace_event(ctx: &Context, _kind: NotifyEvent, event: &str, key: &[u8]) {
    if keys::is_own(key) || !runtime::is_primary() || runtime::is_loading() {
        return;
    }
    let event = expiry_of_emptied_hash(ctx, event, key);
    let kind = classify(event);
    if kind == EventKind::Ignore || (event == "del" && super::migrate::is_moving(key)) {
        return;
    }
    let Some(pipeline) = runtime::current() else {
        return;
    };
    let expiry = runtime::is_expiry(event);
    if expiry && !pipeline.capture.iter().any(|j| j.propagate_expired) {
        return;
    }
    let Some(job) = pipeline
        .capture
        .iter()
        .find(|j| j.pattern.matches(key) && (j.propagate_expired || !expiry))
    else {
        return;
    };
    if !in_captured_db(ctx, &job.name) {
        return;
    }
    UNIT.with(|u| {
        let mut u = u.borrow_mut();
        if !schedule(ctx, &mut u, &pipeline) {
            return;
        }
        match kind {
            EventKind::New => {
                let r = u.add_key(key);
                u.created.push(r);
            }
            EventKind::Touch if has_removed_value(&u, key) => {
                // The command removed the key. JSON.DEL of the root gives no `del` event. HDEL of
                // the last field gives one next, but its value was read here: the delete is queued
                // now, as a `del` (SPEC 3.1), so that `exclude_commands: [hdel]` leaves it alone.
                let old = take_removed(&mut u, key).flatten();
                let as_event = if event == "hdel" { "del" } else { event };
                push(&mut u, &pipeline, key, Opcode::Delete, as_event, Some(old));
            }
            EventKind::Upsert | EventKind::Touch => {
                if event == "rename_to"
                    || event == "copy_to"
                    || event == "move_to"
                    || event == "restore"
                {
                    // A destination that existed was overwritten: its old row goes first.
                    if let Some(old) = take_removed(&mut u, key) {
                        push(&mut u, &pipeline, key, Opcode::Delete, "del", Some(old));
                    }
                }
                let created = match u.created.iter().position(|r| u.key(r) == key) {
                    Some(i) => {
                        u.created.swap_remove(i);
                        kind == EventKind::Upsert
                    }
                    None => false,
                };
                let op = if created {
                    Opcode::Create
                } else {
                    Opcode::Update
                };
                push(&mut u, &pipeline, key, op, event, None);
            }
            EventKind::Delete => {
                if event == "del"
                    && u.entries
                        .last()
                        .is_some_and(|e| u.key(&e.key) == key && e.opcode == Opcode::Delete)
                {
                    // HDEL of the last field already queued this key's delete, with its value.
                    return;
                }
                let old = take_removed(&mut u, key).flatten();
                push(&mut u, &pipeline, key, Opcode::Delete, event, Some(old));
            }
            EventKind::Ignore => {}
        }
    });
}

thread_local! {
    // A tracked hash whose last fields just expired (`hexpired` with no field left): the `del` Redis
    // sends next for it is that expiry, not a delete. Only the main thread sees keyspace events.
    static EMPTIED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The event to capture for `event` on `key`: `expired` for the `del` that follows the expiry of a
/// hash's last fields (HPEXPIRE), so that it is a change only for jobs with `propagate_expired`, as
/// the expiry of the whole key is. Redis sends `hexpired` then `del` for it, one right after the
/// other, while the emptied hash still exists; any other event in between forgets the hash.
fn expiry_of_emptied_hash<'e>(ctx: &Context, event: &'e str, key: &[u8]) -> &'e str {
    EMPTIED.with(|emptied| {
        let mut emptied = emptied.borrow_mut();
        match event {
            "del" if !emptied.is_empty() && emptied.as_slice() == key => {
                emptied.clear();
                "expired"
            }
            "hexpired" => {
                emptied.clear();
                let empty = is_tracked(key)
                    && super::readkey::ReadKey::open(ctx, key).is_ok_and(|k| {
                        matches!(k.kind(), super::readkey::Kind::Hash) && k.value_length() == 0
                    });
                if empty {
                    emptied.extend_from_slice(key);
                }
                event
            }
            _ => {
                if !emptied.is_empty() {
                    emptied.clear();
                }
                event
            }
        }
    })
}

/// Called by [`super::removal`] with the value of a tracked key that is about to be deleted or
/// overwritten (`value` is `None` when there was nothing left to read).
pub fn on_key_removed(ctx: &Context, key: &[u8], value: Option<String>, overwritten: bool) {
    let Some(pipeline) = runtime::current() else {
        return;
    };
    if selected_db(ctx) != CAPTURED_DB {
        return;
    }
    UNIT.with(|u| {
        let mut u = u.borrow_mut();
        if !schedule(ctx, &mut u, &pipeline) {
            return;
        }
        u.removed.push(Removed {
            key: key.to_vec(),
            value,
            overwritten,
            used: false,
        });
    });
}

/// The database whose writes are captured. The queues and the deployment live there, and it is the
/// only one in Redis Cluster; a queue written in another database would never be read.
pub const CAPTURED_DB: c_int = 0;

/// The database selected in `ctx` (the event's, for a keyspace notification).
fn selected_db(ctx: &Context) -> c_int {
    // SAFETY: the API table is read-only after load; `ctx` is the live context of this callback.
    unsafe { raw::RedisModule_GetSelectedDb.map_or(CAPTURED_DB, |f| f(ctx.ctx)) }
}

/// Whether the event of `ctx` is in the captured database. If not, the write is not captured, and
/// `RDI.STATUS` and the log say so once per job and database.
fn in_captured_db(ctx: &Context, job: &str) -> bool {
    let db = selected_db(ctx);
    if db == CAPTURED_DB {
        return true;
    }
    // Once the list is full, one last warning says so; later pairs are not warned about (each
    // would otherwise be warned about at every write).
    let first = OTHER_DBS.lock().ok().and_then(|mut seen| {
        if seen.iter().any(|(j, d)| j == job && *d == db) {
            return None;
        }
        if seen.len() > OTHER_DBS_BOUND {
            return None;
        }
        seen.push((job.to_string(), db));
        Some(seen.len() > OTHER_DBS_BOUND)
    });
    if let Some(full) = first {
        let message = if full {
            format!(
                "writes to tracked keys in {OTHER_DBS_BOUND} (job, database) pairs other than \
                 database {CAPTURED_DB} were not captured; further ones are not reported"
            )
        } else {
            format!(
                "job `{job}`: writes to its keys in database {db} are not captured: the module \
                 captures database {CAPTURED_DB} only (where its queues and deployment live); write \
                 them there"
            )
        };
        super::log::warning(ctx, &format!("rdi: {message}"));
        super::warnings::add(message);
    }
    false
}

/// (job, database) pairs already warned about.
static OTHER_DBS: std::sync::Mutex<Vec<(String, c_int)>> = std::sync::Mutex::new(Vec::new());
/// Most pairs remembered (Redis has 16 databases by default).
const OTHER_DBS_BOUND: usize = 256;

/// Whether a key is tracked by any job of the pipeline in force (for `RDI.HDEL`).
pub fn is_tracked(key: &[u8]) -> bool {
    capturing(key)
        && runtime::current().is_some_and(|p| p.capture.iter().any(|j| j.pattern.matches(key)))
}

/// What the removal of `key` must read of a hash for the deletes of the jobs tracking it (for an
/// expiry, of those that capture expiries); `None` when none tracks it now.
pub enum RemovalReads {
    /// The union of the jobs' key fields (`applier::batch::delete_fields`): the job's own list,
    /// shared, when one job tracks the key (no allocation inside the write).
    Fields(Arc<[std::ffi::CString]>),
    /// Every field: a job may read any on delete.
    All,
}

/// [`RemovalReads`] of `key`, in one pass over the jobs (the removal event runs inside the write).
pub fn removal_reads(key: &[u8], expired: bool) -> Option<RemovalReads> {
    if !capturing(key) {
        return None;
    }
    let pipeline = runtime::current()?;
    let mut reads: Option<RemovalReads> = None;
    for job in pipeline.capture.iter() {
        if (expired && !job.propagate_expired) || !job.pattern.matches(key) {
            continue;
        }
        match (&mut reads, &job.delete_fields) {
            (Some(RemovalReads::All), _) => {}
            (_, None) => reads = Some(RemovalReads::All),
            (None, Some(fields)) => reads = Some(RemovalReads::Fields(fields.clone())),
            (Some(RemovalReads::Fields(union)), Some(fields)) => {
                if fields.iter().any(|f| !union.contains(f)) {
                    let more = fields.iter().filter(|f| !union.contains(f));
                    *union = union.iter().chain(more).cloned().collect();
                }
            }
        }
    }
    reads
}

/// Whether writes to `key` are captured now at all: not the module's own keys, on a primary that is
/// not loading, not a key being migrated away.
fn capturing(key: &[u8]) -> bool {
    !(keys::is_own(key)
        || !runtime::is_primary()
        || runtime::is_loading()
        || super::migrate::is_moving(key))
}

/// Whether the key was removed in this unit with a value (not an emptied hash).
fn has_removed_value(u: &Unit, key: &[u8]) -> bool {
    u.removed
        .iter()
        .any(|r| !r.used && r.key == key && r.value.is_some())
}

/// Returns `Some(value)` of the newest unused removal of `key` (the inner option as captured).
fn take_removed(u: &mut Unit, key: &[u8]) -> Option<Option<String>> {
    // A value read before the command (RDI.HDEL) beats the empty hash the removal event saw.
    let i = u
        .removed
        .iter()
        .rposition(|r| !r.used && r.key == key && r.value.is_some())
        .or_else(|| u.removed.iter().rposition(|r| !r.used && r.key == key))?;
    for r in u.removed.iter_mut().filter(|r| r.key == key) {
        r.used = true;
    }
    Some(u.removed[i].value.clone())
}

fn push(
    u: &mut Unit,
    p: &Pipeline,
    key: &[u8],
    opcode: Opcode,
    event: &str,
    value: Option<Option<String>>,
) {
    let mut stored: Option<Range<usize>> = None;
    for (i, job) in p.capture.iter().enumerate() {
        if job.pattern.matches(key) && job.wants_event(event) {
            let key = match &stored {
                Some(r) => r.clone(),
                None => stored.insert(u.add_key(key)).clone(),
            };
            u.entries.push(Entry {
                job: i,
                key,
                opcode,
                value: value.clone().flatten(),
            });
        }
    }
}

/// Makes sure the unit's entries are appended when the execution unit ends; `false` when Redis
/// refused the job, and the change must not be gathered.
fn schedule(ctx: &Context, u: &mut Unit, pipeline: &Arc<Pipeline>) -> bool {
    if u.pipeline.is_some() {
        return true;
    }
    u.pipeline = Some(pipeline.clone());
    // Through the raw API: the crate's wrapper boxes the callback, an allocation per write command.
    // SAFETY: the API table is read-only after load; `ctx` is the notification's context; the job
    // has no private data to free.
    let added = unsafe {
        raw::RedisModule_AddPostNotificationJob
            .map(|add| add(ctx.ctx, Some(run_flush), std::ptr::null_mut(), None))
    };
    if added == Some(raw::Status::Ok as c_int) {
        return true;
    }
    // Redis refuses only while loading or on a read-only replica, where nothing is captured (checked
    // before scheduling). The unit is left unscheduled, so that the next one tries again instead of
    // waiting for a job that never runs.
    u.pipeline = None;
    if !REFUSED_LOGGED.swap(true, Ordering::Relaxed) {
        super::log::warning(ctx,
            "rdi: the server refused a post-notification job; the change of that command was not queued",
        );
    }
    false
}

/// Whether a refused post-notification job was logged already (once per process).
static REFUSED_LOGGED: AtomicBool = AtomicBool::new(false);

extern "C" fn run_flush(ctx: *mut raw::RedisModuleCtx, _data: *mut c_void) {
    flush(&Context::new(ctx));
}

fn append(w: &mut StreamWriter, e: &Entry, key: &[u8]) -> Result<(), String> {
    let value = e.value.as_deref().map(str::as_bytes);
    w.add(key, e.opcode, value)
}

/// The post-notification job: appends the unit's entries to the queues, then wakes the writers.
fn flush(ctx: &Context) {
    let mut unit = UNIT.with(|u| std::mem::take(&mut *u.borrow_mut()));
    let Some(pipeline) = unit.pipeline.take() else {
        return;
    };
    // Values overwritten by commands we do not capture (SET over a hash): the row goes.
    let leftovers: Vec<(Vec<u8>, Option<String>)> = unit
        .removed
        .iter()
        .filter(|r| r.overwritten && !r.used)
        .map(|r| (r.key.clone(), r.value.clone()))
        .collect();
    for (key, value) in leftovers {
        push(
            &mut unit,
            &pipeline,
            &key,
            Opcode::Delete,
            "overwritten",
            Some(value),
        );
    }
    // Keys created under a job's pattern by a command we do not capture (SET, RPUSH, a module type
    // other than JSON): queued once, when created, so that the writer counts the change as rejected,
    // "unsupported type", and keeps it in the dead-letter queue (SPEC 3.1), instead of saying nothing.
    if !unit.created.is_empty() {
        let created: Vec<Vec<u8>> = unit.created.iter().map(|r| unit.key(r).to_vec()).collect();
        for key in created {
            push(&mut unit, &pipeline, &key, Opcode::Create, "new", None);
        }
    }
    // Job by job: one open key per queue for the whole unit, no buffer to allocate.
    for (j, job) in pipeline.capture.iter().enumerate() {
        let mut appended = 0u64;
        let mut stream: Option<StreamWriter> = None;
        for e in unit.entries.iter().filter(|e| e.job == j) {
            let key = unit.key(&e.key);
            let added = match &mut stream {
                Some(w) => append(w, e, key),
                None => StreamWriter::open(ctx, &job.queue)
                    .and_then(|w| append(stream.insert(w), e, key)),
            };
            match added {
                Ok(()) => appended += 1,
                Err(msg) => super::log::warning(
                    ctx,
                    &format!("rdi: could not queue a change for job {}: {msg}", job.name),
                ),
            }
        }
        drop(stream);
        if appended > 0 {
            pipeline.add_pending(j, appended);
            if let Some(engine) = &pipeline.engine {
                engine.wake_job(j);
            }
        }
    }
    unit.clear();
    UNIT.with(|u| {
        let mut u = u.borrow_mut();
        // Nothing is captured while the unit is flushed (the queues are the module's own keys).
        if u.pipeline.is_none() && u.entries.is_empty() && u.removed.is_empty() {
            *u = unit;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_map_to_opcodes_as_the_spec_says() {
        assert_eq!(classify("hset"), EventKind::Upsert);
        assert_eq!(classify("hincrbyfloat"), EventKind::Upsert);
        assert_eq!(classify("rename_to"), EventKind::Upsert);
        assert_eq!(classify("json.set"), EventKind::Upsert);
        assert_eq!(classify("hdel"), EventKind::Touch);
        assert_eq!(classify("del"), EventKind::Delete);
        assert_eq!(classify("rename_from"), EventKind::Delete);
        assert_eq!(classify("new"), EventKind::New);
        // Expiries are changes only for jobs with `propagate_expired` (`CaptureJob::wants_event`).
        assert_eq!(classify("expired"), EventKind::Delete);
        assert_eq!(classify("hexpired"), EventKind::Touch);
        assert_eq!(classify("expire"), EventKind::Ignore);
        assert_eq!(classify("evicted"), EventKind::Ignore);
    }
}
