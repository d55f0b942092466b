//! Reading a key's value for the writers through the key API (`RedisModule_OpenKey` +
//! `RedisModule_ScanKey`) instead of `RedisModule_Call("HGETALL")`: no fake client, no command lookup,
//! no reply built by the server and parsed back into `RedisValue`s. Keys are opened with
//! `REDISMODULE_OPEN_KEY_NOEFFECTS` (no LRU/LFU touch, no keyspace hit/miss counted): reading a value
//! for a target is not a client access. Measured in bench/RESULTS.md.

use std::marker::PhantomData;
use std::os::raw::{c_char, c_int};
use std::ptr;

use redis_module::{raw, Context};

use super::hashscan::{string_bytes, HashFields, HashScan};

/// What a key holds, as far as the writers care.
pub enum Kind {
    /// No such key (or it expired).
    Empty,
    /// A hash.
    Hash,
    /// A module type (RedisJSON's documents among others).
    Module,
    /// Any other core type, by its `TYPE` name.
    Other(&'static str),
}

/// A key opened for reading, closed (and its name freed) when dropped. It borrows the context of the
/// held server lock, so it cannot outlive the section that opened it.
pub struct ReadKey<'c> {
    name: *mut raw::RedisModuleString,
    key: *mut raw::RedisModuleKey,
    _ctx: PhantomData<&'c Context>,
}

impl<'c> ReadKey<'c> {
    /// Opens `name` for reading with the context of the held server lock.
    pub fn open(ctx: &'c Context, name: &[u8]) -> Result<ReadKey<'c>, String> {
        // SAFETY: the API table is filled once when the module loads and only read afterwards; a null
        // context makes a string that is ours until freed (in `drop`); `name` is valid for its length.
        let s = unsafe {
            raw::RedisModule_CreateString.ok_or("RedisModule_CreateString is not available")?(
                ptr::null_mut(),
                name.as_ptr().cast::<c_char>(),
                name.len(),
            )
        };
        if s.is_null() {
            return Err("could not create a string".into());
        }
        let mut out = ReadKey {
            name: s,
            key: ptr::null_mut(),
            _ctx: PhantomData,
        };
        let mode = (raw::REDISMODULE_READ | raw::REDISMODULE_OPEN_KEY_NOEFFECTS) as c_int;
        // SAFETY: `ctx.ctx` is the context of the server lock this thread holds; `out.name` lives
        // until `drop`, which closes the key first.
        out.key = unsafe {
            raw::RedisModule_OpenKey.ok_or("RedisModule_OpenKey is not available")?(
                ctx.ctx, out.name, mode,
            )
        }
        .cast::<raw::RedisModuleKey>();
        Ok(out)
    }

    /// What the key holds.
    pub fn kind(&self) -> Kind {
        if self.key.is_null() {
            return Kind::Empty;
        }
        // SAFETY: `self.key` is open until `drop`.
        let Some(key_type) = (unsafe { raw::RedisModule_KeyType }) else {
            return Kind::Other("unknown");
        };
        // SAFETY: as above.
        let t = unsafe { key_type(self.key) } as isize;
        match t {
            raw::REDISMODULE_KEYTYPE_EMPTY => Kind::Empty,
            raw::REDISMODULE_KEYTYPE_HASH => Kind::Hash,
            raw::REDISMODULE_KEYTYPE_MODULE => Kind::Module,
            raw::REDISMODULE_KEYTYPE_STRING => Kind::Other("string"),
            raw::REDISMODULE_KEYTYPE_LIST => Kind::Other("list"),
            raw::REDISMODULE_KEYTYPE_SET => Kind::Other("set"),
            raw::REDISMODULE_KEYTYPE_ZSET => Kind::Other("zset"),
            raw::REDISMODULE_KEYTYPE_STREAM => Kind::Other("stream"),
            _ => Kind::Other("unknown"),
        }
    }

    /// Up to `count` entries of the stream after `after` (from the oldest if `None`), each with its
    /// fields as byte pairs handed to `each`; returns how many were read. The iterator's strings are
    /// freed as soon as `each` has seen them.
    pub fn stream_entries(
        &self,
        after: Option<(u64, u64)>,
        count: usize,
        mut each: impl FnMut((u64, u64), &[(&[u8], &[u8])]),
    ) -> Result<usize, String> {
        match self.kind() {
            Kind::Empty => return Ok(0),
            Kind::Other("stream") => {}
            _ => return Err("the queue key holds a value that is not a stream".into()),
        }
        let missing = |f: &str| format!("RedisModule_{f} is not available");
        // SAFETY: the API table is read-only after load.
        let (start, next_id, next_field, delete, free) = unsafe {
            (
                raw::RedisModule_StreamIteratorStart
                    .ok_or_else(|| missing("StreamIteratorStart"))?,
                raw::RedisModule_StreamIteratorNextID
                    .ok_or_else(|| missing("StreamIteratorNextID"))?,
                raw::RedisModule_StreamIteratorNextField
                    .ok_or_else(|| missing("StreamIteratorNextField"))?,
                raw::RedisModule_StreamIteratorDelete
                    .ok_or_else(|| missing("StreamIteratorDelete"))?,
                raw::RedisModule_FreeString.ok_or_else(|| missing("FreeString"))?,
            )
        };
        let mut from = after.map(|(ms, seq)| raw::RedisModuleStreamID { ms, seq });
        let flags = if from.is_some() {
            raw::REDISMODULE_STREAM_ITERATOR_EXCLUSIVE as c_int
        } else {
            0
        };
        let from_ptr = from
            .as_mut()
            .map_or(ptr::null_mut(), |f| f as *mut raw::RedisModuleStreamID);
        // SAFETY: `self.key` is an open stream key (checked above); `from_ptr` is null or points to
        // `from`, alive for the call; the iterator is deleted below before the key can be closed.
        if unsafe { start(self.key, flags, from_ptr, ptr::null_mut()) } != raw::Status::Ok as c_int
        {
            return Err("could not iterate the queue stream".into());
        }
        let mut n = 0;
        let mut id = raw::RedisModuleStreamID { ms: 0, seq: 0 };
        let mut numfields: std::os::raw::c_long = 0;
        let mut owned: Vec<(*mut raw::RedisModuleString, *mut raw::RedisModuleString)> = Vec::new();
        let mut pairs: Vec<(&[u8], &[u8])> = Vec::new();
        // SAFETY: the iterator started above on `self.key`; each field and value string the
        // iterator hands out is ours (no automatic memory on this context) and freed once below,
        // after `each` has used the slices borrowed from it.
        unsafe {
            while n < count
                && next_id(self.key, &mut id, &mut numfields) == raw::Status::Ok as c_int
            {
                let (mut f, mut v) = (ptr::null_mut(), ptr::null_mut());
                while next_field(self.key, &mut f, &mut v) == raw::Status::Ok as c_int {
                    owned.push((f, v));
                }
                pairs.extend(
                    owned
                        .iter()
                        .map(|(f, v)| (string_bytes(*f), string_bytes(*v))),
                );
                each((id.ms, id.seq), &pairs);
                pairs.clear();
                for (f, v) in owned.drain(..) {
                    if !f.is_null() {
                        free(ptr::null_mut(), f);
                    }
                    if !v.is_null() {
                        free(ptr::null_mut(), v);
                    }
                }
                n += 1;
            }
            delete(self.key);
        }
        Ok(n)
    }

    /// The number of elements of the value (fields of a hash), 0 for no key.
    pub fn value_length(&self) -> usize {
        if self.key.is_null() {
            return 0;
        }
        // SAFETY: `self.key` is open until `drop`; the API table is read-only after load.
        unsafe { raw::RedisModule_ValueLength.map_or(0, |f| f(self.key)) }
    }

    /// Every field of the hash (`None` if the key is not a hash).
    pub fn hash(&self) -> Option<HashFields> {
        if self.key.is_null() {
            return None;
        }
        super::hashscan::read_hash(self.key)
    }

    /// Only `fields` of the hash, each looked up by name (the key must be a hash).
    pub fn hash_fields(&self, fields: &[std::ffi::CString]) -> HashFields {
        super::hashscan::read_fields(self.key, fields)
    }

    /// A scan of the hash, to be read in steps with [`ReadKey::scan`] (`None` if the key is not a
    /// hash).
    pub fn hash_scan(&self) -> Option<HashScan> {
        if self.key.is_null() || !super::hashscan::is_hash(self.key) {
            return None;
        }
        HashScan::new(super::hashscan::length(self.key))
    }

    /// Goes on with `scan` (of this key, when it was opened in an earlier section) until it ends
    /// (`true`) or `enough` says so. The key must still be a hash (see [`ReadKey::kind`]).
    pub fn scan(&self, scan: &mut HashScan, enough: &dyn Fn() -> bool) -> bool {
        if self.key.is_null() {
            return true;
        }
        scan.step(self.key, enough)
    }
}

impl Drop for ReadKey<'_> {
    fn drop(&mut self) {
        // SAFETY: the key (if opened) and the name were created in `open` and are released once,
        // here, the key first; the server lock is still held by this thread (a `ReadKey` never
        // outlives the section that opened it).
        unsafe {
            if !self.key.is_null() {
                if let Some(close) = raw::RedisModule_CloseKey {
                    close(self.key.cast());
                }
            }
            if let Some(free) = raw::RedisModule_FreeString {
                free(ptr::null_mut(), self.name);
            }
        }
    }
}
