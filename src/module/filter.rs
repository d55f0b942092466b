//! The command filter: back-pressure (writes to the keys of a job whose queue is full are turned into
//! an error before they run) and HDEL of tracked keys (routed through `RDI.HDEL`, which can read the
//! hash before its last field goes).
//!
//! Runs before every command on the main thread: one atomic load and a byte comparison on the common
//! path; patterns are matched only for HDEL or while back-pressure is active.

use std::cell::Cell;
use std::os::raw::c_int;

use redis_module::{
    raw, CallOptionsBuilder, CallReply, CallResult, Context, RedisError, RedisResult, RedisString,
    RedisValue,
};

use super::capture;
use super::runtime;

thread_local! {
    // Set on the main thread when the filter is registered. Redis runs filters for the writer
    // threads' `RedisModule_Call`s too (NOSELF does not cover thread-safe contexts): those are the
    // module's own reads and trims and must pass untouched.
    static ON_MAIN: Cell<bool> = const { Cell::new(false) };
}

/// Registers the filter. It does not see the module's own `RedisModule_Call`s (NOSELF on the main
/// thread, [`ON_MAIN`] elsewhere).
pub fn register(ctx: &Context) -> Result<(), String> {
    ON_MAIN.with(|m| m.set(true));
    // SAFETY: called from the module's load with its context; the callback lives as long as the module.
    let filter = unsafe {
        match raw::RedisModule_RegisterCommandFilter {
            Some(f) => f(
                ctx.ctx,
                Some(on_command),
                raw::REDISMODULE_CMDFILTER_NOSELF as c_int,
            ),
            None => std::ptr::null_mut(),
        }
    };
    if filter.is_null() {
        Err("could not register the command filter".into())
    } else {
        Ok(())
    }
}

fn arg<'a>(fctx: *mut raw::RedisModuleCommandFilterCtx, pos: c_int) -> Option<&'a [u8]> {
    // SAFETY: `fctx` is the filter context of the running callback and `pos` is below its count;
    // the argument string lives until the command has run, after the callback returns.
    unsafe {
        let s = raw::RedisModule_CommandFilterArgGet?(fctx, pos);
        if s.is_null() {
            return None;
        }
        let mut len = 0usize;
        let p = raw::RedisModule_StringPtrLen?(s, &mut len);
        if p.is_null() {
            return None;
        }
        Some(std::slice::from_raw_parts(p.cast::<u8>(), len))
    }
}

fn replace_command(fctx: *mut raw::RedisModuleCommandFilterCtx, name: &str, insert: Option<&str>) {
    // SAFETY: new strings are created without a context (not auto-freed) and handed over to the
    // filter context, which owns them from then on.
    unsafe {
        let (Some(create), Some(replace)) = (
            raw::RedisModule_CreateString,
            raw::RedisModule_CommandFilterArgReplace,
        ) else {
            return;
        };
        let s = create(std::ptr::null_mut(), name.as_ptr().cast(), name.len());
        replace(fctx, 0, s);
        if let (Some(extra), Some(ins)) = (insert, raw::RedisModule_CommandFilterArgInsert) {
            let e = create(std::ptr::null_mut(), extra.as_ptr().cast(), extra.len());
            ins(fctx, 1, e);
        }
    }
}

/// Positions of the keys that a capturable write command changes.
fn written_keys(cmd: &[u8], argc: c_int) -> Vec<c_int> {
    let lower = cmd.to_ascii_lowercase();
    match lower.as_slice() {
        b"hset" | b"hmset" | b"hsetnx" | b"hincrby" | b"hincrbyfloat" | b"hdel" | b"restore" => {
            vec![1]
        }
        b"del" | b"unlink" => (1..argc).collect(),
        b"rename" | b"renamenx" | b"copy" => vec![1, 2],
        // A write that overwrites a tracked hash (a delete) or creates a key of another type under a
        // pattern (an "unsupported type" record) queues a change too; MOVE takes a key away (a delete).
        b"move" | b"set" | b"setnx" | b"setex" | b"psetex" | b"getset" | b"getdel" | b"append"
        | b"setrange" | b"incr" | b"incrby" | b"decr" | b"decrby" | b"incrbyfloat" | b"lpush"
        | b"rpush" | b"sadd" | b"zadd" | b"xadd" | b"pfadd" => vec![1],
        b"mset" | b"msetnx" => (1..argc).step_by(2).collect(),
        b"json.mset" => (1..argc).step_by(3).collect(),
        b"json.get" | b"json.mget" | b"json.type" | b"json.strlen" | b"json.arrlen"
        | b"json.objkeys" | b"json.objlen" | b"json.resp" | b"json.debug" | b"json.arrindex" => {
            Vec::new()
        }
        c if c.starts_with(b"json.") => vec![1],
        _ => Vec::new(),
    }
}

extern "C" fn on_command(fctx: *mut raw::RedisModuleCommandFilterCtx) {
    if !ON_MAIN.with(Cell::get) {
        return;
    }
    // SAFETY: `fctx` is valid for this callback.
    let argc = unsafe { raw::RedisModule_CommandFilterArgsCount.map_or(0, |f| f(fctx)) };
    let Some(cmd) = arg(fctx, 0) else { return };
    super::migrate::on_command(cmd.eq_ignore_ascii_case(b"migrate"), || {
        let args: Vec<&[u8]> = (1..argc).filter_map(|i| arg(fctx, i)).collect();
        super::migrate::moved_keys(&args)
    });
    if argc < 2 {
        return;
    }
    let pressure = runtime::backpressure_active();
    let is_hdel = cmd.eq_ignore_ascii_case(b"hdel");
    if !pressure && !is_hdel {
        return;
    }
    // Replicated and loaded commands already happened on the primary: never change them.
    if !runtime::is_primary() || runtime::is_loading() {
        return;
    }
    let Some(p) = runtime::current() else { return };
    if pressure {
        for pos in written_keys(cmd, argc) {
            if let Some(job) = arg(fctx, pos).and_then(|k| p.full_job_for(k)) {
                replace_command(fctx, "rdi.busy", Some(&job.name));
                return;
            }
        }
    }
    if is_hdel && arg(fctx, 1).is_some_and(capture::is_tracked) {
        replace_command(fctx, "rdi.hdel", None);
    }
}

/// `RDI.BUSY <job> ...`: what a write to a key of a full job becomes.
pub fn busy(_ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    let job = args.get(1).map(|a| a.to_string_lossy()).unwrap_or_default();
    let max = runtime::current().map_or(0, |p| p.max_pending());
    Err(RedisError::String(format!(
        "BUSY rdi: the queue of job `{job}` is full (applier.max_pending {max}): its target is behind or down; nothing was written, retry later"
    )))
}

/// `RDI.HDEL key field [field ...]`: HDEL, but when it is about to remove the last field of a tracked
/// hash, the value is captured first so that the delete can find its row.
pub fn hdel(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    if args.len() < 3 {
        return Err(RedisError::Str(
            "ERR wrong number of arguments for 'hdel' command",
        ));
    }
    let key = args[1].as_slice();
    // The field count first (key API, no command): a hash with more fields than the HDEL names
    // cannot be emptied by it, and reading all its field names on every HDEL would cost as much as
    // the hash is large.
    let fields = super::readkey::ReadKey::open(ctx, key).map_or(0, |k| match k.kind() {
        super::readkey::Kind::Hash => k.value_length(),
        _ => 0,
    });
    let could_empty = fields > 0 && fields <= args.len() - 2;
    let existing = if could_empty {
        ctx.call("HKEYS", &[key]).ok()
    } else {
        None
    };
    if let Some(RedisValue::Array(existing)) = existing {
        let asked: Vec<&[u8]> = args[2..].iter().map(|a| a.as_slice()).collect();
        let empties = !existing.is_empty()
            && existing
                .iter()
                .all(|f| super::queue::bytes(f).is_some_and(|f| asked.contains(&f)));
        if empties {
            if let Some(value) = super::queue::hash_json(ctx, key) {
                capture::on_key_removed(ctx, key, Some(value), false);
            }
        }
    }
    let opts = CallOptionsBuilder::new()
        .replicate()
        .errors_as_replies()
        .build();
    let rest: Vec<&[u8]> = args[1..].iter().map(|a| a.as_slice()).collect();
    let res: CallResult = ctx.call_ext("HDEL", &opts, rest.as_slice());
    match res {
        Ok(CallReply::I64(n)) => Ok(RedisValue::Integer(n.to_i64())),
        Ok(_) => Ok(RedisValue::Integer(0)),
        Err(e) => Err(RedisError::String(
            e.to_utf8_string()
                .unwrap_or_else(|| "ERR HDEL failed".into()),
        )),
    }
}
