//! The key-removal server event: the last moment a deleted or overwritten key can be read, so that a
//! delete entry can carry the value that locates its row.
//!
//! `redis-module` has no wrapper for this event, so it is subscribed through the raw API here.

use std::ffi::c_void;
use std::os::raw::c_int;

use redis_module::{raw, Context};
use serde_json::{Map, Value};

use super::capture;

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
    let tracked = if expired {
        capture::is_tracked_for_expiry(&name)
    } else {
        capture::is_tracked(&name)
    };
    if !tracked || db_of(key) != capture::CAPTURED_DB {
        return;
    }
    let context = Context::new(ctx);
    // A delete's value gives its key columns only: bytes that are not UTF-8 are read with U+FFFD.
    let value = match read_hash(key).map(|h| h.fields) {
        Some(m) if m.is_empty() => None,
        Some(m) => Some(Value::Object(m).to_string()),
        None => read_json(&context, key, &name),
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

/// # Safety
/// `s` must be a valid RedisModuleString that outlives the returned slice.
unsafe fn string_bytes<'a>(s: *const raw::RedisModuleString) -> &'a [u8] {
    let mut len: usize = 0;
    // SAFETY: guaranteed by the caller.
    unsafe {
        let Some(f) = raw::RedisModule_StringPtrLen else {
            return &[];
        };
        let p = f(s, &mut len);
        if p.is_null() {
            return &[];
        }
        std::slice::from_raw_parts(p.cast::<u8>(), len)
    }
}

/// Reads a RedisJSON document that is about to go, as JSON text; `None` for other module types.
///
/// The key is still in the keyspace while this event runs (Redis unlinks it in two phases), so
/// `JSON.GET` reads it; RedisJSON offers no other way to read its value from another module.
fn read_json(ctx: &Context, key: *mut raw::RedisModuleKey, name: &[u8]) -> Option<String> {
    // SAFETY: `key` is open for reading (see on_key_event).
    let module_type =
        unsafe { raw::RedisModule_KeyType?(key) } == raw::REDISMODULE_KEYTYPE_MODULE as c_int;
    if !module_type {
        return None;
    }
    let reply = ctx.call("JSON.GET", &[name]).ok()?;
    let text = super::queue::text(&reply)?;
    text.starts_with('{').then_some(text)
}

/// A hash's fields as text, with the fields whose name or value is not UTF-8 (read with U+FFFD in
/// place of the invalid bytes).
pub struct HashFields {
    pub fields: Map<String, Value>,
    pub not_utf8: Vec<String>,
}

/// Reads every field of a hash key; `None` for other types. `key` must be open for reading.
pub(super) fn read_hash(key: *mut raw::RedisModuleKey) -> Option<HashFields> {
    // SAFETY: `key` is open for reading (see on_key_event); the cursor is created and destroyed here;
    // `map` outlives the scan that writes to it through `privdata`.
    unsafe {
        if raw::RedisModule_KeyType?(key) != raw::REDISMODULE_KEYTYPE_HASH as c_int {
            return None;
        }
        // Sized for every field at once: growing the map field by field reallocates it several times.
        let fields = raw::RedisModule_ValueLength.map_or(0, |len| len(key));
        let mut hash = HashFields {
            fields: Map::with_capacity(fields.min(1 << 16)),
            not_utf8: Vec::new(),
        };
        let cursor = raw::RedisModule_ScanCursorCreate?();
        let scan = raw::RedisModule_ScanKey?;
        while scan(
            key,
            cursor,
            Some(on_field),
            (&mut hash as *mut HashFields).cast(),
        ) != 0
        {}
        if let Some(destroy) = raw::RedisModule_ScanCursorDestroy {
            destroy(cursor);
        }
        Some(hash)
    }
}

extern "C" fn on_field(
    _key: *mut raw::RedisModuleKey,
    field: *mut raw::RedisModuleString,
    value: *mut raw::RedisModuleString,
    privdata: *mut c_void,
) {
    if privdata.is_null() || field.is_null() {
        return;
    }
    // SAFETY: privdata is the `HashFields` passed by read_hash; field and value are valid for
    // this call.
    unsafe {
        let hash = &mut *(privdata as *mut HashFields);
        let (f, field_ok) = text(string_bytes(field));
        let (v, value_ok) = if value.is_null() {
            (Value::Null, true)
        } else {
            let (v, ok) = text(string_bytes(value));
            (Value::String(v), ok)
        };
        if !(field_ok && value_ok) {
            hash.not_utf8.push(f.clone());
        }
        hash.fields.insert(f, v);
    }
}

/// The bytes as text, and whether they were UTF-8 (else read with U+FFFD).
fn text(bytes: &[u8]) -> (String, bool) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_owned(), true),
        Err(_) => (String::from_utf8_lossy(bytes).into_owned(), false),
    }
}
