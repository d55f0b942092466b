//! Reading a hash's fields through `RedisModule_ScanKey`, at once or in steps: a writer thread reads a
//! large hash over several sections of the server lock, so that a hash of a million fields (over a
//! second of scanning) never holds the main thread for longer than one section.
//!
//! Between two steps the lock is released and the key opened again with the same cursor, as the module
//! API documents for `RedisModule_ScanKey`. Fields present for the whole scan are read (some possibly
//! twice: the last value read wins); a field written meanwhile may be read before or after its change.
//! Every such write also queued a change of the key after the one being read, and that change reads the
//! key again: the target converges on the key's final state, as it does for any value read after its
//! change was queued.

use std::ffi::{c_void, CString};
use std::os::raw::{c_char, c_int};
use std::ptr;

use redis_module::raw;
use serde_json::{Map, Value};

/// A hash's fields as text, with the fields whose name or value is not UTF-8 (read with U+FFFD in
/// place of the invalid bytes).
pub struct HashFields {
    pub fields: Map<String, Value>,
    pub not_utf8: Vec<String>,
}

/// A scan of one hash under way: its cursor and the fields read so far.
pub struct HashScan {
    cursor: *mut raw::RedisModuleScanCursor,
    hash: HashFields,
}

impl HashScan {
    /// A new scan, sized for `fields` fields (the hash's length when it starts).
    pub fn new(fields: usize) -> Option<HashScan> {
        // SAFETY: the API table is read-only after load.
        let cursor = unsafe { raw::RedisModule_ScanCursorCreate?() };
        if cursor.is_null() {
            return None;
        }
        Some(HashScan {
            cursor,
            hash: HashFields {
                // Sized for every field at once: growing the map field by field reallocates and
                // rehashes it several times, each time under the server lock (128 ms at 512 k fields).
                fields: Map::with_capacity(fields),
                not_utf8: Vec::new(),
            },
        })
    }

    /// Scans `key` (open for reading, a hash) from where the scan stopped until it ends or `enough`
    /// says so (asked after each step; a hash small enough to be stored as a listpack is read in one
    /// step). Returns whether the scan ended.
    pub(super) fn step(
        &mut self,
        key: *mut raw::RedisModuleKey,
        enough: &dyn Fn() -> bool,
    ) -> bool {
        // SAFETY: `key` is open for reading under the lock this thread holds (callers'); the cursor
        // is ours; `self.hash` outlives the call that writes to it through `privdata`.
        unsafe {
            let Some(scan) = raw::RedisModule_ScanKey else {
                return true;
            };
            let privdata = (&mut self.hash as *mut HashFields).cast::<c_void>();
            loop {
                if scan(key, self.cursor, Some(on_field), privdata) == 0 {
                    return true;
                }
                if enough() {
                    return false;
                }
            }
        }
    }

    /// The fields read.
    pub fn into_fields(mut self) -> HashFields {
        let mut hash = std::mem::replace(
            &mut self.hash,
            HashFields {
                fields: Map::new(),
                not_utf8: Vec::new(),
            },
        );
        if hash.not_utf8.len() > 1 {
            // A field read twice (a scan over several sections can) is named once.
            let mut seen = std::collections::HashSet::new();
            hash.not_utf8.retain(|f| seen.insert(f.clone()));
        }
        hash
    }
}

impl Drop for HashScan {
    fn drop(&mut self) {
        // SAFETY: the cursor was created in `new` and is destroyed once, here; destroying it frees
        // memory only and needs no key.
        unsafe {
            if let Some(destroy) = raw::RedisModule_ScanCursorDestroy {
                destroy(self.cursor);
            }
        }
    }
}

/// Whether `key` (open for reading) is a hash.
pub(super) fn is_hash(key: *mut raw::RedisModuleKey) -> bool {
    // SAFETY: `key` is open for reading (callers'); the API table is read-only after load.
    unsafe {
        raw::RedisModule_KeyType.is_some_and(|t| t(key) == raw::REDISMODULE_KEYTYPE_HASH as c_int)
    }
}

/// The number of fields of `key` (open for reading).
pub(super) fn length(key: *mut raw::RedisModuleKey) -> usize {
    // SAFETY: as in `is_hash`.
    unsafe { raw::RedisModule_ValueLength.map_or(0, |len| len(key)) }
}

/// Reads every field of a hash key at once; `None` for other types. `key` must be open for reading.
pub(super) fn read_hash(key: *mut raw::RedisModuleKey) -> Option<HashFields> {
    is_hash(key).then(|| read_all(key))
}

/// Reads every field of `key` (open for reading, a hash) at once.
pub(super) fn read_all(key: *mut raw::RedisModuleKey) -> HashFields {
    match HashScan::new(length(key)) {
        Some(mut scan) => {
            scan.step(key, &|| false);
            scan.into_fields()
        }
        None => HashFields {
            fields: Map::new(),
            not_utf8: Vec::new(),
        },
    }
}

/// Only `fields` of a hash key (open for reading), each looked up by name: what a delete needs of a
/// hash that goes (its key fields), however many fields it has. Missing fields are left out.
pub(super) fn read_fields(key: *mut raw::RedisModuleKey, fields: &[CString]) -> HashFields {
    let mut hash = HashFields {
        fields: Map::with_capacity(fields.len()),
        not_utf8: Vec::new(),
    };
    // SAFETY: the API table is read-only after load.
    let (Some(get), Some(free)) = (unsafe { raw::RedisModule_HashGet }, unsafe {
        raw::RedisModule_FreeString
    }) else {
        return hash;
    };
    for field in fields {
        let mut value: *mut raw::RedisModuleString = ptr::null_mut();
        // SAFETY: `key` is open for reading (callers'); CFIELDS takes NUL-terminated field names and a
        // pointer to the value of each, the list ending with a null pointer; the value string returned
        // is ours (no automatic memory on a null context) and freed below.
        unsafe {
            get(
                key,
                raw::REDISMODULE_HASH_CFIELDS as c_int,
                field.as_ptr(),
                &mut value as *mut *mut raw::RedisModuleString,
                ptr::null::<c_char>(),
            );
        }
        if value.is_null() {
            continue;
        }
        let name = field.to_string_lossy().into_owned();
        // SAFETY: `value` is a valid string until freed right after.
        let (text, ok) = text(unsafe { string_bytes(value) });
        if !ok {
            hash.not_utf8.push(name.clone());
        }
        hash.fields.insert(name, Value::String(text));
        // SAFETY: freed once; a null context is allowed.
        unsafe { free(ptr::null_mut(), value) };
    }
    hash
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
    // SAFETY: privdata is the `HashFields` of the scan's `step`; field and value are valid for
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

/// The bytes of a string (empty for null).
///
/// # Safety
/// `s` must be null or a valid RedisModuleString that outlives the returned slice.
pub(super) unsafe fn string_bytes<'a>(s: *const raw::RedisModuleString) -> &'a [u8] {
    if s.is_null() {
        return &[];
    }
    let mut len: usize = 0;
    // SAFETY: guaranteed by the caller; the API table is read-only after load.
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
