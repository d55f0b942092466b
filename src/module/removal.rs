//! The key-removal server event: the last moment a deleted or overwritten key can be read, so that a
//! delete entry can carry the value that locates its row.
//!
//! `redis-module` has no wrapper for this event, so it is subscribed through the raw API here.

use std::ffi::c_void;
use std::os::raw::c_int;

use redis_module::{raw, Context};
use serde_json::Value;

use super::capture;
use super::hashscan::{self, string_bytes};

/// Subscribes to `RedisModuleEvent_Key`. Fails on servers without it (before Redis 7.2).
pub fn subscribe(ctx: &Context) -> Result<(), String> {
    // The bindings' `RedisModuleEvent_Key` static is an undefined symbol at load time, so the event
    // is built by hand from its id and data version, as redismodule.h defines it.
    let event = raw::RedisModuleEvent {
        id: raw::REDISMODULE_EVENT_KEY,
        dataver: 1,
    };
    // SAFETY: the function pointer is filled in by RedisModule_Init; `ctx` is the module's load-time
    // context; the callback has the signature the API expects and lives as long as the module.
    let status = unsafe {
        match raw::RedisModule_SubscribeToServerEvent {
            Some(f) => f(ctx.ctx, event, Some(on_key_event)),
            None => raw::Status::Err as c_int,
        }
    };
    if status == raw::Status::Ok as c_int {
        Ok(())
    } else {
        Err("this server has no key-removal event (Redis 7.2 or later is required)".into())
    }
}

extern "C" fn on_key_event(
    ctx: *mut raw::RedisModuleCtx,
    _eid: raw::RedisModuleEvent,
    subevent: u64,
    data: *mut c_void,
) {
    let (overwritten, expired) = match subevent {
        raw::REDISMODULE_SUBEVENT_KEY_DELETED => (false, false),
        raw::REDISMODULE_SUBEVENT_KEY_OVERWRITTEN => (true, false),
        // Only for jobs with `propagate_expired`, checked below.
        raw::REDISMODULE_SUBEVENT_KEY_EXPIRED => (false, true),
        _ => return, // evicted keys are not captured (SPEC.md §3.1)
    };
    if data.is_null() {
        return;
    }
    // SAFETY: for this event Redis passes a RedisModuleKeyInfoV1 whose `key` is open for reading
    // for the duration of the callback.
    let key = unsafe { (*(data as *mut raw::RedisModuleKeyInfoV1)).key };
    if key.is_null() {
        return;
    }
    let Some(name) = key_name(key) else {
        return;
    };
    let Some(reads) = capture::removal_reads(&name, expired) else {
        return;
    };
    if db_of(key) != capture::CAPTURED_DB {
        return;
    }
    let context = Context::new(ctx);
    // A delete's value gives its key columns only: bytes that are not UTF-8 are read with U+FFFD.
    // When every job tracking the key reads only its key fields on delete, only those are read: a
    // hash of a million fields would take over a second of the main thread. An emptied hash (HDEL of
    // its last field) has no value.
    let value = if hashscan::is_hash(key) {
        (hashscan::length(key) > 0).then(|| {
            let hash = match reads {
                capture::RemovalReads::Fields(fields) => hashscan::read_fields(key, &fields),
                capture::RemovalReads::All => hashscan::read_all(key),
            };
            Value::Object(hash.fields).to_string()
        })
    } else {
        read_json(&context, key, &name, &reads)
    };
    capture::on_key_removed(&context, &name, value, overwritten);
}

/// The database of the key handed to the callback.
fn db_of(key: *mut raw::RedisModuleKey) -> c_int {
    // SAFETY: `key` is the open key handed to the callback; the API table is read-only after load.
    unsafe { raw::RedisModule_GetDbIdFromModuleKey.map_or(capture::CAPTURED_DB, |f| f(key)) }
}

fn key_name(key: *mut raw::RedisModuleKey) -> Option<Vec<u8>> {
    // SAFETY: `key` is the open key handed to the callback; the returned string belongs to the key
    // and is copied before the callback returns.
    unsafe {
        let name = raw::RedisModule_GetKeyNameFromModuleKey?(key);
        if name.is_null() {
            return None;
        }
        Some(string_bytes(name).to_vec())
    }
}

/// Reads a RedisJSON document that is about to go, as JSON text; `None` for other module types.
///
/// The key is still in the keyspace while this event runs (Redis unlinks it in two phases), so
/// `JSON.GET` reads it; RedisJSON offers no other way to read its value from another module. When
/// the jobs read only key fields on delete, only those are read (one path each): a document of
/// megabytes would hold the main thread while it is serialized.
fn read_json(
    ctx: &Context,
    key: *mut raw::RedisModuleKey,
    name: &[u8],
    reads: &capture::RemovalReads,
) -> Option<String> {
    // SAFETY: `key` is open for reading (see on_key_event).
    let module_type =
        unsafe { raw::RedisModule_KeyType?(key) } == raw::REDISMODULE_KEYTYPE_MODULE as c_int;
    if !module_type {
        return None;
    }
    let fields: Option<Vec<&str>> = match reads {
        capture::RemovalReads::Fields(fields) => fields.iter().map(|f| f.to_str().ok()).collect(),
        capture::RemovalReads::All => None,
    };
    // A server whose RedisJSON refuses the paths still gets the whole document read.
    if let Some(picked) = fields
        .filter(|f| !f.is_empty())
        .and_then(|f| read_json_fields(ctx, name, &f))
    {
        return Some(picked);
    }
    let reply = ctx.call("JSON.GET", &[name]).ok()?;
    let text = super::queue::text(&reply)?;
    text.starts_with('{').then_some(text)
}

/// Reads the top-level `fields` of the document `name` with one `JSON.GET`, as a JSON object text.
fn read_json_fields(ctx: &Context, name: &[u8], fields: &[&str]) -> Option<String> {
    let paths = json_paths(fields);
    let mut args: Vec<&[u8]> = vec![name];
    args.extend(paths.iter().map(|p| p.as_bytes()));
    let reply = ctx.call("JSON.GET", &args[..]).ok()?;
    let text = super::queue::text(&reply)?;
    picked_fields(fields, &paths, &text).map(|m| Value::Object(m).to_string())
}

/// One JSONPath per top-level field: `$["name"]`, any name quoted as a JSON string.
fn json_paths(fields: &[&str]) -> Vec<String> {
    fields
        .iter()
        .map(|f| format!("$[{}]", Value::String((*f).to_string())))
        .collect()
}

/// The fields found in `JSON.GET`'s answer to [`json_paths`], as the document's own top-level
/// values; a field the document lacks is left out. `JSON.GET` answers one path with the array of
/// its matches, several with an object of such arrays keyed by path. `None` when the answer is
/// neither.
fn picked_fields(
    fields: &[&str],
    paths: &[String],
    text: &str,
) -> Option<serde_json::Map<String, Value>> {
    let mut picked = serde_json::Map::new();
    let mut pick = |field: &str, matches: Option<Value>| {
        if let Some(Value::Array(values)) = matches {
            if let Some(value) = values.into_iter().next() {
                picked.insert(field.to_string(), value);
            }
        }
    };
    match (fields, serde_json::from_str::<Value>(text).ok()?) {
        ([field], matches @ Value::Array(_)) => pick(field, Some(matches)),
        (_, Value::Object(mut by_path)) if fields.len() > 1 => {
            for (field, path) in fields.iter().zip(paths) {
                pick(field, by_path.remove(path));
            }
        }
        _ => return None,
    }
    Some(picked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_quote_names() {
        assert_eq!(json_paths(&["id"]), vec![r#"$["id"]"#]);
        assert_eq!(
            json_paths(&["id", r#"my "f""#]),
            vec![r#"$["id"]"#, r#"$["my \"f\""]"#]
        );
    }

    #[test]
    fn picked_fields_take_each_path_s_first_match() {
        let fields = ["id", "dept", "gone"];
        let paths = json_paths(&fields);
        // As RedisJSON 2.8 answers `JSON.GET k $["id"] $["dept"] $["gone"]`.
        let text = r#"{"$[\"id\"]":[7],"$[\"dept\"]":[{"a":1}],"$[\"gone\"]":[]}"#;
        let picked = picked_fields(&fields, &paths, text).unwrap();
        assert_eq!(
            Value::Object(picked),
            serde_json::json!({"id": 7, "dept": {"a": 1}})
        );
        assert!(picked_fields(&fields, &paths, "[1]").is_none());

        // One path: the bare array of its matches.
        let one = json_paths(&["id"]);
        let picked = picked_fields(&["id"], &one, "[\"x\"]").unwrap();
        assert_eq!(Value::Object(picked), serde_json::json!({"id": "x"}));
        assert!(picked_fields(&["id"], &one, "[]").unwrap().is_empty());
        assert!(picked_fields(&["id"], &one, "{}").is_none());
    }
}
