//! `RDI.STOP`, `RDI.START` and `RDI.UNDEPLOY`: pausing the writers and removing the pipeline.

use std::sync::atomic::{AtomicBool, Ordering};

use redis_module::{
    CallOptionsBuilder, CallResult, Context, RedisError, RedisResult, RedisString, RedisValue,
    ThreadSafeContext,
};

use super::keys;
use super::queue::length;
use super::runtime::{self, STOP_TIMEOUT};

static PAUSED: AtomicBool = AtomicBool::new(false);

/// Whether an operator paused the writers (capture goes on).
pub fn is_paused() -> bool {
    PAUSED.load(Ordering::Acquire)
}

/// `RDI.STOP`: writers stop taking batches; capture continues, so changes wait in the queues.
pub fn stop(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    if args.len() != 1 {
        return Err(RedisError::WrongArity);
    }
    PAUSED.store(true, Ordering::Release);
    super::log::notice(ctx, "rdi: writers stopped by RDI.STOP; capture continues");
    Ok(RedisValue::SimpleStringStatic("OK"))
}

/// `RDI.START`: writers resume.
pub fn start(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    if args.len() != 1 {
        return Err(RedisError::WrongArity);
    }
    PAUSED.store(false, Ordering::Release);
    if let Some(held) = super::restore::retry_held(ctx) {
        return Err(RedisError::String(format!(
            "ERR writers are still held: {held}"
        )));
    }
    if let Some(engine) = runtime::current().and_then(|p| p.engine.clone()) {
        engine.wake_all();
    }
    super::log::notice(ctx, "rdi: writers started by RDI.START");
    Ok(RedisValue::SimpleStringStatic("OK"))
}

/// `RDI.UNDEPLOY [FORCE]`: removes the pipeline and its queues. Refuses while changes are pending
/// unless FORCE, which drops them. Dead-letter streams are kept for inspection.
pub fn undeploy(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    let force = match args.len() {
        1 => false,
        2 if args[1].to_string_lossy().eq_ignore_ascii_case("FORCE") => true,
        _ => return Err(RedisError::Str("ERR syntax: RDI.UNDEPLOY [FORCE]")),
    };
    if !runtime::is_primary() {
        return Err(RedisError::Str(
            "READONLY undeploy on the primary: this server is a replica",
        ));
    }
    let Some(pipeline) = runtime::current() else {
        return Err(RedisError::Str("ERR nothing is deployed"));
    };
    let pending: Vec<(String, u64)> = pipeline
        .capture
        .iter()
        .map(|j| (j.name.clone(), length(ctx, &j.queue)))
        .filter(|(_, n)| *n > 0)
        .collect();
    if !pending.is_empty() && !force {
        let list: Vec<String> = pending.iter().map(|(j, n)| format!("{j}: {n}")).collect();
        return Err(RedisError::String(format!(
            "ERR changes are still pending ({}); RDI.WAIT for them, or RDI.UNDEPLOY FORCE to drop them",
            list.join(", ")
        )));
    }
    let blocked = super::blocking::block(ctx, "RDI.UNDEPLOY")?;
    let spawned = std::thread::Builder::new()
        .name("rdi-undeploy".into())
        .spawn(move || {
            let tsc = ThreadSafeContext::with_blocked_client(blocked);
            if let Some(engine) = &pipeline.engine {
                if !engine.stop_and_join(STOP_TIMEOUT) {
                    // Writers of the pipeline still in force begin once the busy ones have ended.
                    let ctx = tsc.lock();
                    super::deploy::restart_current();
                    drop(ctx);
                    tsc.reply(Err(RedisError::Str(
                        "ERR the writers did not stop in time; try again",
                    )));
                    return;
                }
            }
            let ctx = tsc.lock();
            if super::lock::writes_paused() {
                super::deploy::restart_current();
                drop(ctx);
                tsc.reply(Err(RedisError::Str(super::deploy::PAUSED)));
                return;
            }
            // Changes captured since the check (the writers were stopping meanwhile) are not
            // dropped without FORCE.
            let queued: u64 = pipeline.capture.iter().map(|j| length(&ctx, &j.queue)).sum();
            if !force && queued > 0 {
                super::deploy::restart_current();
                drop(ctx);
                tsc.reply(Err(RedisError::String(format!(
                    "ERR {queued} change(s) were captured while undeploying; RDI.WAIT for them, or RDI.UNDEPLOY FORCE to drop them"
                ))));
                return;
            }
            let dropped = queued;
            let opts = CallOptionsBuilder::new()
                .replicate()
                .errors_as_replies()
                .build();
            let mut doomed = vec![keys::deploy_key()];
            doomed.extend(pipeline.capture.iter().map(|j| j.queue.clone()));
            for key in &doomed {
                let _: CallResult = ctx.call_ext("DEL", &opts, &[key.as_str()]);
            }
            runtime::replace(None);
            super::reset::forget_finished();
            super::log::notice(&ctx, "rdi: pipeline undeployed");
            drop(ctx);
            tsc.reply(Ok(if dropped > 0 {
                RedisValue::BulkString(format!(
                    "OK: undeployed; {dropped} pending change(s) dropped"
                ))
            } else {
                RedisValue::SimpleStringStatic("OK")
            }));
        });
    match spawned {
        Ok(_) => Ok(RedisValue::NoReply),
        Err(e) => Err(RedisError::String(format!(
            "ERR could not start the undeploy thread: {e}"
        ))),
    }
}
