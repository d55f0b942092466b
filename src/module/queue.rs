//! The durable queue over Redis streams: read by writer threads under the server lock in short
//! sections, trimmed only after the target committed.

use std::collections::HashMap;
use std::ffi::CString;

use redis_module::{raw, CallOptionsBuilder, CallResult, Context, RedisString, RedisValue};
use serde_json::Value;

use super::hashscan::{HashFields, HashScan};
use super::keys;
use super::lock::ServerLock;
use super::readkey::{Kind, ReadKey};
use super::runtime;
use crate::applier::{now_ms, Change, DeadLetter, EntryId, KeyValue, Opcode, Queue};
use crate::config::Deployment;

/// Queue entries read at a time; a section under the server lock reads as many as its budget allows.
const ENTRIES_PER_READ: usize = 100;

/// Pause before each section of values, so that the main thread gets the lock in between.
const SECTION_PAUSE: std::time::Duration = std::time::Duration::from_micros(50);

fn unloading() -> String {
    "the module is unloading".into()
}

/// The queue of this server, for the jobs of one deployment.
pub struct RedisQueue {
    /// Per job, the hash fields its upserts read (`applier::batch::upsert_fields`); a job that is
    /// not here may read any field.
    upsert_fields: HashMap<String, Vec<CString>>,
}

impl RedisQueue {
    /// The queue for the jobs of `deployment` (those of the engine that reads it).
    pub fn new(deployment: &Deployment) -> Self {
        let upsert_fields = deployment
            .jobs
            .iter()
            .filter_map(|job| {
                let fields =
                    crate::applier::batch::upsert_fields(job).and_then(runtime::c_strings)?;
                Some((job.name.clone(), fields))
            })
            .collect();
        RedisQueue { upsert_fields }
    }
}

/// A hash with more fields than this many times those a job reads is read field by field, by
/// name, instead of scanned whole: a table that maps a few fields of wide hashes.
const WIDE: usize = 2;

/// The bytes of a string reply.
pub fn bytes(v: &RedisValue) -> Option<&[u8]> {
    match v {
        RedisValue::SimpleString(s) | RedisValue::BulkString(s) => Some(s.as_bytes()),
        RedisValue::SimpleStringStatic(s) => Some(s.as_bytes()),
        RedisValue::StringBuffer(b) => Some(b),
        RedisValue::BulkRedisString(s) => Some(s.as_slice()),
        _ => None,
    }
}

/// A string reply as text.
pub fn text(v: &RedisValue) -> Option<String> {
    bytes(v).map(|b| String::from_utf8_lossy(b).into_owned())
}

/// One raw queue entry.
pub struct RawEntry {
    /// Its ID.
    pub id: EntryId,
    /// The key.
    pub key: Vec<u8>,
    /// The opcode.
    pub opcode: Opcode,
    /// The captured value (deletes).
    pub value: Option<Vec<u8>>,
}

/// Reads up to `count` entries of a stream after `after` (from the oldest if `None`), through the
/// stream iterator of the key API (see `readkey`).
pub fn read_entries(
    ctx: &Context,
    stream: &str,
    after: Option<EntryId>,
    count: usize,
) -> Result<Vec<RawEntry>, String> {
    let key = ReadKey::open(ctx, stream.as_bytes())?;
    let mut out = Vec::with_capacity(count.min(4096));
    key.stream_entries(after.map(|a| (a.ms, a.seq)), count, |(ms, seq), fields| {
        let (mut k, mut opcode, mut value) = (None, None, None);
        for (f, v) in fields {
            match *f {
                b"k" => k = Some(v.to_vec()),
                b"o" => opcode = Opcode::parse(v),
                b"v" => value = Some(v.to_vec()),
                _ => {}
            }
        }
        // An entry without key or opcode cannot be applied; it still counts as read so it gets trimmed.
        out.push(RawEntry {
            id: EntryId { ms, seq },
            key: k.unwrap_or_default(),
            opcode: opcode.unwrap_or(Opcode::Update),
            value,
        });
    })?;
    Ok(out)
}

/// The ID of the newest entry of a stream, if any.
pub fn last_id(ctx: &Context, stream: &str) -> Option<EntryId> {
    let reply = ctx
        .call("XREVRANGE", &[stream, "+", "-", "COUNT", "1"])
        .ok()?;
    first_id(&reply)
}

/// The ID of the oldest entry of a stream, if any.
pub fn oldest_id(ctx: &Context, stream: &str) -> Option<EntryId> {
    let reply = ctx.call("XRANGE", &[stream, "-", "+", "COUNT", "1"]).ok()?;
    first_id(&reply)
}

fn first_id(reply: &RedisValue) -> Option<EntryId> {
    let RedisValue::Array(items) = reply else {
        return None;
    };
    let RedisValue::Array(parts) = items.first()? else {
        return None;
    };
    EntryId::parse(&text(parts.first()?)?)
}

/// Reads every job's queue length into the pipeline (after a deploy or a restart).
pub fn sync_pending(ctx: &Context, p: &runtime::Pipeline) {
    for (i, c) in p.capture.iter().enumerate() {
        p.set_pending(i, length(ctx, &c.queue));
    }
}

/// Number of entries of a stream.
/// Read through the key API: on a cluster node that has just started, commands on keys are refused
/// until the cluster is up, and the pending counts are taken before that.
pub fn length(ctx: &Context, stream: &str) -> u64 {
    let name = RedisString::create(None, stream.as_bytes());
    let key = raw::open_key(ctx.ctx, name.inner, raw::KeyMode::READ);
    if key.is_null() {
        return 0;
    }
    // SAFETY: `key` was opened for reading above and is closed once, right after.
    let n = unsafe { raw::RedisModule_ValueLength.map_or(0, |f| f(key)) };
    raw::close_key(key);
    n as u64
}

/// A value read, or a hash whose scan goes on in the next section of the lock.
enum Read {
    Done(KeyValue),
    Partial(HashScan),
}

/// The value of a key as a record: a hash as an object of string fields (read through the key API,
/// see `readkey`), a JSON document (RedisJSON) with its JSON types. A hash is scanned until `enough`
/// says the section is over: a large one goes on in the next section (see `hashscan`). When the job
/// reads only `fields` and the hash has many more ([`WIDE`]), only those are read.
fn read_value(
    ctx: &Context,
    key: &[u8],
    enough: &dyn Fn() -> bool,
    fields: Option<&[CString]>,
) -> Read {
    let kind = match ReadKey::open(ctx, key) {
        Ok(open) => match open.kind() {
            Kind::Hash => {
                let wide = |f: &&[CString]| !f.is_empty() && open.value_length() > WIDE * f.len();
                if let Some(fields) = fields.filter(wide) {
                    return Read::Done(picked_value(open.hash_fields(fields)));
                }
                let Some(mut scan) = open.hash_scan() else {
                    return Read::Done(KeyValue::Missing);
                };
                return match open.scan(&mut scan, enough) {
                    true => Read::Done(hash_value(scan.into_fields())),
                    false => Read::Partial(scan),
                };
            }
            kind => kind,
        },
        Err(_) => return Read::Done(KeyValue::Missing),
    };
    Read::Done(match kind {
        Kind::Empty | Kind::Hash => KeyValue::Missing,
        Kind::Other(name) => KeyValue::Unsupported(name.to_string()),
        // Module types have no generic reader: RedisJSON is read with JSON.GET (it offers no other
        // way to another module), other module types are named by TYPE.
        Kind::Module => match ctx
            .call("TYPE", &[key])
            .ok()
            .as_ref()
            .and_then(text)
            .as_deref()
        {
            Some("none") | None => KeyValue::Missing,
            Some(JSON_TYPE) => read_json(ctx, key),
            Some(other) => KeyValue::Unsupported(other.to_string()),
        },
    })
}

/// Goes on with the scan of a hash begun in an earlier section. A key that is no longer a hash (deleted
/// or replaced meanwhile) is read afresh: its state now is what the target gets.
fn resume(
    ctx: &Context,
    key: &[u8],
    mut scan: HashScan,
    enough: &dyn Fn() -> bool,
    fields: Option<&[CString]>,
) -> Read {
    let ended = match ReadKey::open(ctx, key) {
        Ok(open) if matches!(open.kind(), Kind::Hash) => Some(open.scan(&mut scan, enough)),
        _ => None,
    };
    match ended {
        Some(true) => Read::Done(hash_value(scan.into_fields())),
        Some(false) => Read::Partial(scan),
        None => read_value(ctx, key, enough, fields),
    }
}

/// A hash's fields as a record.
fn hash_value(h: HashFields) -> KeyValue {
    if h.fields.is_empty() {
        KeyValue::Missing
    } else {
        picked_value(h)
    }
}

/// The fields read by name of an existing hash as a record: empty when it has none of them (the
/// job then rejects it for its missing key, as it would the whole hash).
fn picked_value(h: HashFields) -> KeyValue {
    if h.not_utf8.is_empty() {
        KeyValue::Record(h.fields)
    } else {
        // Written as text they would change: U+FFFD in place of the bytes.
        KeyValue::NotUtf8 {
            fields: h.fields,
            names: h.not_utf8,
        }
    }
}

/// A hash's fields as a JSON object text, if the key is a non-empty hash (for a delete's key
/// columns: bytes that are not UTF-8 are read with U+FFFD).
pub fn hash_json(ctx: &Context, key: &[u8]) -> Option<String> {
    let fields = ReadKey::open(ctx, key).ok()?.hash()?.fields;
    (!fields.is_empty()).then(|| Value::Object(fields).to_string())
}

/// The type name RedisJSON gives its keys.
pub const JSON_TYPE: &str = "ReJSON-RL";

fn read_json(ctx: &Context, key: &[u8]) -> KeyValue {
    let Ok(reply) = ctx.call("JSON.GET", &[key]) else {
        return KeyValue::Missing;
    };
    match bytes(&reply).map(serde_json::from_slice::<Value>) {
        Some(Ok(Value::Object(m))) => KeyValue::Record(m),
        Some(Ok(_)) => KeyValue::Unsupported("JSON document whose root is not an object".into()),
        Some(Err(_)) | None => KeyValue::Missing,
    }
}

impl Queue for RedisQueue {
    fn can_write(&self) -> bool {
        runtime::is_primary() && !runtime::is_loading() && !super::control::is_paused()
    }

    fn checkpoint_name(&self, job: &str) -> String {
        // A cluster node's queues carry its shard's tag; so does the checkpoint.
        match keys::tag() {
            Some(tag) => format!("{job}:{{{tag}}}"),
            None => job.to_string(),
        }
    }

    fn read(&self, job: &str, after: Option<EntryId>, max: usize) -> Result<Vec<Change>, String> {
        let stream = keys::queue_key(job);
        let fields = self.upsert_fields.get(job).map(Vec::as_slice);
        // Entries, then values, are read in sections of at most the lock's budget each, releasing the
        // lock between them so that clients are served while a large batch is read. Only this writer
        // reads and trims this job's queue meanwhile, so the sections continue where the previous one
        // stopped.
        let mut raw: Vec<RawEntry> = Vec::new();
        let mut cursor = after;
        // The section that reads the last entries is kept for the first values if it has time
        // left: a small batch is then read in one section.
        let held = 'sections: loop {
            let lock = ServerLock::acquire(&|| false).ok_or_else(unloading)?;
            let ctx = lock.context();
            // Re-check under the lock: the role may have changed while this thread waited for it.
            if !self.can_write() {
                return Ok(Vec::new());
            }
            while !lock.spent() {
                let want = (max - raw.len()).min(ENTRIES_PER_READ);
                let entries = read_entries(&ctx, &stream, cursor, want)?;
                let got = entries.len();
                raw.extend(entries);
                match raw.last() {
                    Some(last) if got == want && raw.len() < max => cursor = Some(last.id),
                    _ => break 'sections lock,
                }
            }
        };
        if raw.is_empty() {
            return Ok(Vec::new());
        }
        // Each value is the key's state when read: newer than the entry, which is what state
        // synchronisation wants. Each key is read once: `slot[i]` is where entry `i` finds its value
        // in `values`, with how many upserts of the key are left to take it (`keys` counts them).
        let mut slot: Vec<Option<usize>> = Vec::with_capacity(raw.len());
        let mut keys: Vec<(&[u8], usize)> = Vec::new();
        {
            let mut index: HashMap<&[u8], usize> = HashMap::with_capacity(raw.len());
            for e in &raw {
                slot.push((e.opcode != Opcode::Delete).then(|| {
                    let i = *index.entry(e.key.as_slice()).or_insert_with(|| {
                        keys.push((e.key.as_slice(), 0));
                        keys.len() - 1
                    });
                    if let Some((_, uses)) = keys.get_mut(i) {
                        *uses += 1;
                    }
                    i
                }));
            }
        }
        let mut values: Vec<(KeyValue, usize)> = Vec::with_capacity(keys.len());
        let mut pending = keys.iter().peekable();
        // A large hash whose scan goes on in the next section, with its key and uses.
        let mut partial: Option<(&[u8], usize, HashScan)> = None;
        let mut held = Some(held).filter(|lock| !lock.spent());
        while partial.is_some() || pending.peek().is_some() {
            let lock = match held.take() {
                Some(lock) => lock,
                None => {
                    // The main thread, blocked on the lock while this thread held it, gets it
                    // first: without the pause this thread takes it back before the main thread
                    // wakes up.
                    std::thread::sleep(SECTION_PAUSE);
                    ServerLock::acquire(&|| false).ok_or_else(unloading)?
                }
            };
            let ctx = lock.context();
            let enough = || lock.spent();
            if let Some((key, uses, scan)) = partial.take() {
                match resume(&ctx, key, scan, &enough, fields) {
                    Read::Done(value) => values.push((value, uses)),
                    Read::Partial(scan) => {
                        partial = Some((key, uses, scan));
                        continue;
                    }
                }
                if lock.spent() {
                    continue;
                }
            }
            for (key, uses) in pending.by_ref() {
                match read_value(&ctx, key, &enough, fields) {
                    Read::Done(value) => values.push((value, *uses)),
                    Read::Partial(scan) => {
                        partial = Some((key, *uses, scan));
                        break;
                    }
                }
                if lock.spent() {
                    break;
                }
            }
        }
        drop(keys);
        // The last upsert of a key takes its value; only earlier upserts of the same key (coalesced
        // into the last one) get a copy.
        let mut out = Vec::with_capacity(raw.len());
        for (e, s) in raw.into_iter().zip(slot) {
            let value = match s.and_then(|s| values.get_mut(s)) {
                None => match e.value.as_deref().map(serde_json::from_slice::<Value>) {
                    Some(Ok(Value::Object(m))) => KeyValue::Record(m),
                    _ => KeyValue::Missing,
                },
                Some((value, left)) if *left > 1 => {
                    *left -= 1;
                    value.clone()
                }
                Some((value, _)) => std::mem::replace(value, KeyValue::Missing),
            };
            let key = String::from_utf8(e.key)
                .unwrap_or_else(|bad| String::from_utf8_lossy(bad.as_bytes()).into_owned());
            out.push(Change {
                id: e.id,
                key,
                opcode: e.opcode,
                value,
            });
        }
        Ok(out)
    }

    fn ack(
        &self,
        job: &str,
        upto: EntryId,
        dead: &[DeadLetter],
        dlq_cap: usize,
    ) -> Result<(), String> {
        // Trimming writes to the keyspace: it waits while the server pauses writes. A server that
        // stops being a primary meanwhile (a failover) leaves the entries to the new primary, which
        // writes them again.
        let lock = ServerLock::acquire_for_writes(&|| !runtime::is_primary()).ok_or_else(|| {
            if super::lock::is_unloading() {
                unloading()
            } else {
                "this server stopped being a primary before the batch was acknowledged; the new \
                 primary writes it again"
                    .to_string()
            }
        })?;
        let ctx = lock.context();
        let opts = CallOptionsBuilder::new()
            .replicate()
            .errors_as_replies()
            .build();
        if dlq_cap > 0 && !dead.is_empty() {
            let dlq = keys::dlq_key(job);
            let cap = dlq_cap.to_string();
            let time = now_ms().to_string();
            for d in dead {
                let args: [&str; 16] = [
                    dlq.as_str(),
                    "MAXLEN",
                    cap.as_str(),
                    "*",
                    "key",
                    d.key.as_str(),
                    "opcode",
                    d.opcode.as_str(),
                    "reason",
                    d.reason.as_str(),
                    "job",
                    job,
                    "output",
                    d.output.as_str(),
                    "time",
                    time.as_str(),
                ];
                let res: CallResult = ctx.call_ext("XADD", &opts, &args);
                res.map_err(|e| e.to_utf8_string().unwrap_or_default())?;
            }
        }
        let stream = keys::queue_key(job);
        let min = upto.next().to_string();
        let res: CallResult =
            ctx.call_ext("XTRIM", &opts, &[stream.as_str(), "MINID", min.as_str()]);
        res.map_err(|e| e.to_utf8_string().unwrap_or_default())?;
        if let Some(p) = runtime::current() {
            if let Some(i) = p.capture.iter().position(|c| c.queue == stream) {
                p.set_pending(i, length(&ctx, &stream));
            }
        }
        Ok(())
    }
}
