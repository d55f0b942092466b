//! `RDI.TRACE [COUNT n] [TIMEOUT s] [REJECTED-ONLY]`: blocks only the caller and returns what the
//! writers did with each record meanwhile. Field values appear here (the operator asked for them),
//! never in logs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use redis_module::redisvalue::RedisValueKey;
use redis_module::{Context, RedisError, RedisResult, RedisString, RedisValue, ThreadSafeContext};

use crate::applier::trace::{self, TraceRecord};

/// Records returned when COUNT is not given.
pub const COUNT_DEFAULT: usize = 10;
/// Seconds waited when TIMEOUT is not given.
pub const TIMEOUT_DEFAULT_S: u64 = 10;
/// Most records one trace may ask for.
pub const COUNT_MAX: usize = 10_000;
/// Most traces open at once: each may hold `COUNT_MAX` records with their values for an hour,
/// even after its client has gone.
pub const SESSIONS_MAX: usize = 8;

fn to_reply(r: TraceRecord) -> RedisValue {
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: RedisValue| {
        m.insert(RedisValueKey::String(k.into()), v);
    };
    put("job", RedisValue::BulkString(r.job));
    put("key", RedisValue::BulkString(r.key));
    put("opcode", RedisValue::BulkString(r.opcode));
    put("before", RedisValue::BulkString(r.before));
    put(
        "after",
        r.after.map_or(RedisValue::Null, RedisValue::BulkString),
    );
    put("statement", RedisValue::BulkString(r.statement));
    put("outcome", RedisValue::BulkString(r.outcome));
    put("took_us", RedisValue::Integer(r.took_us as i64));
    RedisValue::OrderedMap(m)
}

/// `RDI.TRACE [COUNT n] [TIMEOUT s] [REJECTED-ONLY]`
pub fn command(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    let mut count = COUNT_DEFAULT;
    let mut timeout = TIMEOUT_DEFAULT_S;
    let mut rejected_only = false;
    let mut i = 1;
    while i < args.len() {
        let word = args[i].to_string_lossy().to_ascii_uppercase();
        match word.as_str() {
            "COUNT" if i + 1 < args.len() => {
                count = args[i + 1]
                    .parse_unsigned_integer()
                    .ok()
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| (1..=COUNT_MAX).contains(n))
                    .ok_or_else(|| {
                        RedisError::String(format!("ERR COUNT must be between 1 and {COUNT_MAX}"))
                    })?;
                i += 2;
            }
            "TIMEOUT" if i + 1 < args.len() => {
                timeout = args[i + 1]
                    .parse_unsigned_integer()
                    .ok()
                    .filter(|n| (1..=3600).contains(n))
                    .ok_or(RedisError::Str(
                        "ERR TIMEOUT must be between 1 and 3600 seconds",
                    ))?;
                i += 2;
            }
            "REJECTED-ONLY" => {
                rejected_only = true;
                i += 1;
            }
            _ => {
                return Err(RedisError::String(format!(
                "ERR syntax error near `{word}`: RDI.TRACE [COUNT n] [TIMEOUT s] [REJECTED-ONLY]"
            )))
            }
        }
    }
    // Opened only here, on the main thread: the count cannot change between check and open.
    if trace::open_sessions() >= SESSIONS_MAX {
        return Err(RedisError::String(format!(
            "ERR {SESSIONS_MAX} RDI.TRACE sessions are open already; try again when one ends"
        )));
    }
    let blocked = super::blocking::block(ctx, "RDI.TRACE")?;
    let session = trace::open(count, rejected_only);
    let spawned = std::thread::Builder::new().name("rdi-trace".into()).spawn({
        let session = session.clone();
        move || {
            let tsc = ThreadSafeContext::with_blocked_client(blocked);
            let deadline = Instant::now() + Duration::from_secs(timeout);
            while !session.is_full() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let records = trace::close(&session);
            tsc.reply(Ok(RedisValue::Array(
                records.into_iter().map(to_reply).collect(),
            )));
        }
    });
    match spawned {
        Ok(_) => Ok(RedisValue::NoReply),
        Err(e) => {
            trace::close(&session);
            Err(RedisError::String(format!(
                "ERR could not start the trace thread: {e}"
            )))
        }
    }
}
