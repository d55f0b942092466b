//! `RDI.GET-REJECTED [JOB <name>] [COUNT <n>] [OLDEST]`: entries of the dead-letter queues.

use std::collections::BTreeMap;

use redis_module::redisvalue::RedisValueKey;
use redis_module::{Context, RedisError, RedisResult, RedisString, RedisValue};

use super::keys;
use super::queue::{bytes, text};
use super::runtime;

/// Entries returned when COUNT is not given.
pub const COUNT_DEFAULT: usize = 10;

fn entry(job: &str, item: &RedisValue) -> Option<(String, RedisValue)> {
    let RedisValue::Array(parts) = item else {
        return None;
    };
    let id = parts.first().and_then(text)?;
    let RedisValue::Array(fields) = parts.get(1)? else {
        return None;
    };
    let mut m = BTreeMap::new();
    m.insert(
        RedisValueKey::String("id".into()),
        RedisValue::BulkString(id.clone()),
    );
    m.insert(
        RedisValueKey::String("job".into()),
        RedisValue::BulkString(job.to_string()),
    );
    for pair in fields.chunks(2) {
        let (Some(f), Some(v)) = (pair.first().and_then(text), pair.get(1).and_then(bytes)) else {
            continue;
        };
        let v = String::from_utf8_lossy(v).into_owned();
        let value = match f.as_str() {
            "time" => RedisValue::Integer(v.parse().unwrap_or(0)),
            _ => RedisValue::BulkString(v),
        };
        let name = if f == "time" {
            "time_ms".to_string()
        } else {
            f
        };
        if name != "job" {
            m.insert(RedisValueKey::String(name), value);
        }
    }
    Some((id, RedisValue::OrderedMap(m)))
}

/// `RDI.GET-REJECTED [JOB <name>] [COUNT <n>] [OLDEST]`: newest first unless OLDEST.
pub fn command(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    let mut job: Option<String> = None;
    let mut count = COUNT_DEFAULT;
    let mut oldest = false;
    let mut i = 1;
    while i < args.len() {
        match args[i].to_string_lossy().to_ascii_uppercase().as_str() {
            "JOB" if i + 1 < args.len() => {
                job = Some(args[i + 1].to_string_lossy());
                i += 2;
            }
            "COUNT" if i + 1 < args.len() => {
                count = args[i + 1]
                    .parse_unsigned_integer()
                    .ok()
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| *n > 0)
                    .ok_or(RedisError::Str("ERR COUNT must be a positive integer"))?;
                i += 2;
            }
            "OLDEST" => {
                oldest = true;
                i += 1;
            }
            other => {
                return Err(RedisError::String(format!(
                    "ERR syntax error near `{other}`: RDI.GET-REJECTED [JOB <name>] [COUNT <n>] [OLDEST]"
                )))
            }
        }
    }
    let names: Vec<String> = match (&job, runtime::current()) {
        (Some(j), Some(p)) if p.capture.iter().any(|c| &c.name == j) => vec![j.clone()],
        // A job removed (or undeployed) keeps its dead letters: they can still be read by name.
        (Some(j), _) if super::queue::length(ctx, &keys::dlq_key(j)) > 0 => vec![j.clone()],
        (Some(j), _) => {
            return Err(RedisError::String(format!(
                "ERR no job named `{j}` is deployed, and none by that name has dead letters"
            )))
        }
        (None, Some(p)) => p.capture.iter().map(|c| c.name.clone()).collect(),
        (None, None) => Vec::new(),
    };
    let n = count.to_string();
    let mut all: Vec<(String, RedisValue)> = Vec::new();
    for name in &names {
        let dlq = keys::dlq_key(name);
        let reply = if oldest {
            ctx.call("XRANGE", &[dlq.as_str(), "-", "+", "COUNT", n.as_str()])
        } else {
            ctx.call("XREVRANGE", &[dlq.as_str(), "+", "-", "COUNT", n.as_str()])
        };
        if let Ok(RedisValue::Array(items)) = reply {
            all.extend(items.iter().filter_map(|it| entry(name, it)));
        }
    }
    // Stream IDs are time-ordered; compare them numerically across jobs.
    let key = |id: &str| crate::applier::EntryId::parse(id).unwrap_or_default();
    all.sort_by(|a, b| {
        if oldest {
            key(&a.0).cmp(&key(&b.0))
        } else {
            key(&b.0).cmp(&key(&a.0))
        }
    });
    all.truncate(count);
    Ok(RedisValue::Array(all.into_iter().map(|(_, v)| v).collect()))
}
