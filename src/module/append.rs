//! Appending queue entries through the stream key API (`RedisModule_StreamAdd`) instead of
//! `RedisModule_Call("XADD")`: no fake client, no command lookup and argument parsing, no reply to build
//! and parse. Each entry is replicated (and written to the AOF) as `XADD <stream> <id> <fields...>` with
//! the ID it got, exactly what `XADD *` propagates, so replicas hold the same IDs.
//!
//! An entry is `k <key> o <opcode>`, plus `v <value>` for a delete (the value captured before the key
//! went). Field names, opcodes and queue names are strings created once and kept; an entry creates only
//! its key, its value (deletes) and its ID. Measured in bench/RESULTS.md.

use std::cell::RefCell;
use std::os::raw::{c_char, c_int};
use std::ptr;

use redis_module::{raw, Context};

use crate::applier::Opcode;

/// A string owned by this module (never freed: a handful of them, kept for the process's life).
type Str = *mut raw::RedisModuleString;

fn create(bytes: &[u8]) -> Result<Str, String> {
    // SAFETY: the API table is filled once when the module loads and only read afterwards; a null
    // context makes a string that is ours until freed; `bytes` is valid for `len` bytes.
    let s = unsafe {
        raw::RedisModule_CreateString.ok_or("RedisModule_CreateString is not available")?(
            ptr::null_mut(),
            bytes.as_ptr().cast::<c_char>(),
            bytes.len(),
        )
    };
    if s.is_null() {
        return Err("could not create a string".into());
    }
    Ok(s)
}

/// A string created for one call, freed when dropped.
struct Temp(Str);

impl Temp {
    fn new(bytes: &[u8]) -> Result<Temp, String> {
        create(bytes).map(Temp)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        // SAFETY: the API table is read-only after load; `self.0` was created by `create` and is
        // freed once, here (Redis keeps its own reference if it still needs the string).
        if let Some(free) = unsafe { raw::RedisModule_FreeString } {
            // SAFETY: as above.
            unsafe { free(ptr::null_mut(), self.0) };
        }
    }
}

/// The strings of every entry: its field names and opcodes.
#[derive(Clone, Copy)]
struct Fixed {
    k: Str,
    o: Str,
    v: Str,
    create: Str,
    update: Str,
    delete: Str,
    refresh: Str,
}

impl Fixed {
    fn new() -> Result<Fixed, String> {
        let op = |o: Opcode| create(o.as_str().as_bytes());
        Ok(Fixed {
            k: create(b"k")?,
            o: create(b"o")?,
            v: create(b"v")?,
            create: op(Opcode::Create)?,
            update: op(Opcode::Update)?,
            delete: op(Opcode::Delete)?,
            refresh: op(Opcode::Refresh)?,
        })
    }

    fn opcode(&self, op: Opcode) -> Str {
        match op {
            Opcode::Create => self.create,
            Opcode::Update => self.update,
            Opcode::Delete => self.delete,
            Opcode::Refresh => self.refresh,
        }
    }
}

/// Strings kept for the process's life, created on first use on the main thread.
#[derive(Default)]
struct Cached {
    fixed: Option<Fixed>,
    /// Queue names.
    names: Vec<(Vec<u8>, Str)>,
}

/// How many queue names are kept.
const CACHE_BOUND: usize = 128;

impl Cached {
    fn fixed(&mut self) -> Result<Fixed, String> {
        match self.fixed {
            Some(f) => Ok(f),
            None => Ok(*self.fixed.insert(Fixed::new()?)),
        }
    }

    /// The kept string for the queue name `bytes`, made now if there is room; `None` when the cache
    /// is full.
    fn name(&mut self, bytes: &[u8]) -> Result<Option<Str>, String> {
        if let Some((_, s)) = self.names.iter().find(|(b, _)| b == bytes) {
            return Ok(Some(*s));
        }
        if self.names.len() >= CACHE_BOUND {
            return Ok(None);
        }
        let s = create(bytes)?;
        self.names.push((bytes.to_vec(), s));
        Ok(Some(s))
    }
}

thread_local! {
    // Only the main thread appends (post-notification jobs and commands).
    static CACHED: RefCell<Cached> = RefCell::new(Cached::default());
}

/// The entry strings, and the kept string for the queue name `bytes` or, when the cache is full, one
/// made now and freed with the returned [`Temp`].
fn strings_for(bytes: &[u8]) -> Result<(Fixed, Str, Option<Temp>), String> {
    let (fixed, name) = CACHED.with(|c| {
        let mut c = c.borrow_mut();
        Ok::<_, String>((c.fixed()?, c.name(bytes)?))
    })?;
    match name {
        Some(s) => Ok((fixed, s, None)),
        None => {
            let t = Temp::new(bytes)?;
            Ok((fixed, t.0, Some(t)))
        }
    }
}

/// A stream opened for writing, closed when dropped.
pub struct StreamWriter<'c> {
    ctx: &'c Context,
    /// The stream's name: a cached string, or `owned`'s.
    name: Str,
    fixed: Fixed,
    /// The name when the cache was full, freed after the key is closed.
    _owned: Option<Temp>,
    key: *mut raw::RedisModuleKey,
}

impl<'c> StreamWriter<'c> {
    /// Opens `stream` for writing; fails if the key holds another type.
    pub fn open(ctx: &'c Context, stream: &str) -> Result<Self, String> {
        // Queue names are few (one per job); past the cache's bound a name is made per unit.
        let (fixed, name, owned) = strings_for(stream.as_bytes())?;
        // SAFETY: `ctx.ctx` is the live context of the current callback on the main thread (a
        // post-notification job or a command); `name` outlives the key: cached strings are never
        // freed and `owned` is freed after the key is closed (`drop`).
        let key = unsafe {
            raw::RedisModule_OpenKey.ok_or("RedisModule_OpenKey is not available")?(
                ctx.ctx,
                name,
                raw::REDISMODULE_WRITE as c_int,
            )
        }
        .cast::<raw::RedisModuleKey>();
        if key.is_null() {
            return Err(format!("cannot open {stream} for writing"));
        }
        let writer = StreamWriter {
            ctx,
            name,
            fixed,
            _owned: owned,
            key,
        };
        // SAFETY: `key` was just opened and is not closed before `drop`.
        let kind = unsafe {
            raw::RedisModule_KeyType.ok_or("RedisModule_KeyType is not available")?(writer.key)
        };
        if kind != raw::REDISMODULE_KEYTYPE_EMPTY as c_int
            && kind != raw::REDISMODULE_KEYTYPE_STREAM as c_int
        {
            return Err(format!("{stream} holds a value that is not a stream"));
        }
        Ok(writer)
    }

    /// Appends one entry `k <key> o <opcode> [v <value>]` with an automatic ID and replicates it.
    pub fn add(&mut self, key: &[u8], opcode: Opcode, value: Option<&[u8]>) -> Result<(), String> {
        let f = self.fixed;
        let key_s = Temp::new(key)?;
        let value_s = value.map(Temp::new).transpose()?;
        // [stream, id, fields...]: the XADD to replicate; StreamAdd takes the fields only.
        let mut argv: [Str; 8] = [
            self.name,
            ptr::null_mut(),
            f.k,
            key_s.0,
            f.o,
            f.opcode(opcode),
            f.v,
            value_s.as_ref().map_or(ptr::null_mut(), |s| s.0),
        ];
        let pairs: usize = if value_s.is_some() { 3 } else { 2 };
        let mut id = raw::RedisModuleStreamID { ms: 0, seq: 0 };
        // SAFETY: the API table is read-only after load.
        let add = unsafe { raw::RedisModule_StreamAdd }
            .ok_or("RedisModule_StreamAdd is not available")?;
        // SAFETY: `self.key` is open for writing (see `open`); `argv[2..]` holds `2 * pairs` valid
        // strings that live until the end of this function; StreamAdd copies them into the stream and
        // keeps no pointer; `id` is a valid out-parameter.
        let status = unsafe {
            add(
                self.key,
                raw::REDISMODULE_STREAM_ADD_AUTOID as c_int,
                &mut id,
                argv[2..].as_mut_ptr(),
                pairs as i64,
            )
        };
        if status != raw::REDISMODULE_OK as c_int {
            return Err("the stream refused the entry".into());
        }
        let mut buf = [0u8; 41];
        let id_s = Temp::new(format_id(&mut buf, id.ms, id.seq))?;
        argv[1] = id_s.0;
        // SAFETY: the API table is read-only after load.
        let replicate = unsafe { raw::RedisModule_Replicate }
            .ok_or("RedisModule_Replicate is not available")?;
        // SAFETY: `self.ctx.ctx` is the live context; the command name and the "v" format are NUL
        // terminated; `argv` holds `2 + 2 * pairs` valid strings, which Redis retains for itself.
        unsafe {
            replicate(
                self.ctx.ctx,
                c"XADD".as_ptr(),
                c"v".as_ptr(),
                argv.as_ptr(),
                2 + 2 * pairs,
            )
        };
        Ok(())
    }
}

/// Writes `<ms>-<seq>` into `buf` (no allocation) and returns it.
fn format_id(buf: &mut [u8; 41], ms: u64, seq: u64) -> &[u8] {
    fn digits(mut n: u64, out: &mut [u8]) -> usize {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let len = tmp.len() - i;
        out[..len].copy_from_slice(&tmp[i..]);
        len
    }
    let a = digits(ms, &mut buf[..]);
    buf[a] = b'-';
    let b = digits(seq, &mut buf[a + 1..]);
    &buf[..a + 1 + b]
}

impl Drop for StreamWriter<'_> {
    fn drop(&mut self) {
        // SAFETY: the API table is filled once when the module loads and only read afterwards.
        if let Some(close) = unsafe { raw::RedisModule_CloseKey } {
            // SAFETY: `self.key` was opened in `open` and is closed exactly once, here.
            unsafe { close(self.key) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::format_id;

    #[test]
    fn ids_are_formatted_like_xadd_replies() {
        let mut buf = [0u8; 41];
        assert_eq!(format_id(&mut buf, 0, 0), b"0-0");
        assert_eq!(
            format_id(&mut buf, 1_732_000_000_123, 7),
            b"1732000000123-7"
        );
        assert_eq!(
            format_id(&mut buf, u64::MAX, u64::MAX),
            b"18446744073709551615-18446744073709551615"
        );
    }
}
