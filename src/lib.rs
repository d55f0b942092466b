//! RDI write-behind as a Redis module: captures changes of Hash keys, queues them durably in the
//! keyspace, and writes them in batches to target databases.
//!
//! This file declares the module and its commands, nothing else; see `module/` for the Redis side and
//! `config/`, `applier/`, `writer/` for the pure-Rust core.

pub mod applier;
pub mod config;
pub mod expr;
#[cfg(test)]
mod fuzz;
pub mod module;
pub mod pattern;
pub mod thread_cache;
pub mod transform;
pub mod writer;

use redis_module::configuration::ConfigurationFlags;
use redis_module::{redis_module, Context, NotifyEvent, RedisString, Status};

use module::{
    capture, control, deploy, filter, jobs, metrics, rejected, removal, reply, reset, runtime,
    secrets, settings, status, trace, wait,
};

/// Oldest server this module runs on: the key-removal event and post-notification jobs are 7.2 APIs.
const MIN_SERVER_VERSION: (i32, i32) = (7, 2);

fn init(ctx: &Context, args: &[RedisString]) -> Status {
    let args: Vec<String> = args.iter().map(|a| a.to_string_lossy()).collect();
    if let Err(e) = settings::check_load_args(&args) {
        module::log::warning(ctx, &format!("rdi: {e}: not loading"));
        return Status::Err;
    }
    if let Ok(v) = ctx.get_redis_version() {
        if (v.major, v.minor) < MIN_SERVER_VERSION {
            module::log::warning(ctx, &format!(
                "rdi: this server is {}.{}.{}; the module needs Redis 7.2 or later (or Valkey 8): not loading",
                v.major, v.minor, v.patch
            ));
            return Status::Err;
        }
    }
    if let Err(e) = removal::subscribe(ctx) {
        module::log::warning(ctx, &format!("rdi: {e}: not loading"));
        return Status::Err;
    }
    if let Err(e) = module::events::subscribe(ctx) {
        module::log::warning(ctx, &format!("rdi: {e}: not loading"));
        return Status::Err;
    }
    if let Err(e) = filter::register(ctx) {
        module::log::warning(ctx, &format!("rdi: {e}: not loading"));
        return Status::Err;
    }
    if let Err(e) = module::handoff::subscribe(ctx) {
        // Writers still get the lock while the main thread waits for events, only less often.
        module::log::warning(
            ctx,
            &format!("rdi: {e}; writers may wait longer for the server lock"),
        );
    }
    match secrets::load() {
        Ok(0) => {}
        Ok(n) => module::log::notice(
            ctx,
            &format!("rdi: {n} secret(s) loaded from {}", secrets::SECRETS_FILE),
        ),
        Err(e) => module::log::warning(
            ctx,
            &format!("rdi: {e}; ${{secrets:...}} references will not resolve"),
        ),
    }
    let flags = ctx.get_flags();
    runtime::set_primary(!flags.contains(redis_module::ContextFlags::SLAVE));
    runtime::set_loading(flags.contains(redis_module::ContextFlags::LOADING));
    if !runtime::is_loading() {
        // MODULE LOAD into a running server: the deployment may already be in the keyspace.
        module::restore::restore(ctx);
    }
    module::log::notice(ctx, "rdi: write-behind module loaded");
    Status::Ok
}

fn deinit(ctx: &Context) -> Status {
    // Writers give up waiting for the server lock (held by this thread) once unloading is set, so
    // they can be joined here; a writer in the middle of a target transaction finishes it first.
    // Whatever they did not acknowledge stays queued in the keyspace for the next load.
    module::lock::set_unloading(true);
    // The engine, or on a replica the writers of its last term as a primary (still in a target
    // call, perhaps): none may outlive the module's code.
    if let Some(engine) = runtime::current().and_then(|p| p.threads()) {
        if !engine.stop_and_join(UNLOAD_TIMEOUT) {
            module::lock::set_unloading(false);
            module::restore::restore(ctx);
            module::log::warning(
                ctx,
                "rdi: a writer did not stop in time (a target call is hanging); unload refused",
            );
            return Status::Err;
        }
    }
    runtime::replace(None);
    module::log::notice(
        ctx,
        "rdi: writers stopped; the queues stay in the keyspace for the next load",
    );
    Status::Ok
}

/// How long MODULE UNLOAD waits for the writers.
const UNLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// `RDI.DEPLOY CONFIG <yaml> [JOB <name> <yaml>]... [DRYRUN]`
fn rdi_deploy(ctx: &Context, args: Vec<RedisString>) -> redis_module::RedisResult {
    reply::utf8(deploy::command(ctx, args))
}

/// `RDI.STATUS`
fn rdi_status(ctx: &Context, args: Vec<RedisString>) -> redis_module::RedisResult {
    reply::utf8(status::command(ctx, args))
}

/// `RDI.WAIT [timeout-ms]`
fn rdi_wait(ctx: &Context, args: Vec<RedisString>) -> redis_module::RedisResult {
    reply::utf8(wait::command(ctx, args))
}

/// `RDI.LIST-JOBS`
fn rdi_list_jobs(ctx: &Context, args: Vec<RedisString>) -> redis_module::RedisResult {
    reply::utf8(jobs::list(ctx, args))
}

/// `RDI.DESCRIBE-JOB <name>`
fn rdi_describe_job(ctx: &Context, args: Vec<RedisString>) -> redis_module::RedisResult {
    reply::utf8(jobs::describe(ctx, args))
}

/// `RDI.GET-REJECTED [JOB <name>] [COUNT <n>] [OLDEST]`
fn rdi_get_rejected(ctx: &Context, args: Vec<RedisString>) -> redis_module::RedisResult {
    reply::utf8(rejected::command(ctx, args))
}

/// `RDI.STOP`
fn rdi_stop(ctx: &Context, args: Vec<RedisString>) -> redis_module::RedisResult {
    reply::utf8(control::stop(ctx, args))
}

/// `RDI.START`
fn rdi_start(ctx: &Context, args: Vec<RedisString>) -> redis_module::RedisResult {
    reply::utf8(control::start(ctx, args))
}

/// `RDI.UNDEPLOY [FORCE]`
fn rdi_undeploy(ctx: &Context, args: Vec<RedisString>) -> redis_module::RedisResult {
    reply::utf8(control::undeploy(ctx, args))
}

/// `RDI.SET-SECRET <name> <value>`
fn rdi_set_secret(ctx: &Context, args: Vec<RedisString>) -> redis_module::RedisResult {
    reply::utf8(secrets::command(ctx, args))
}

/// `RDI.METRICS`
fn rdi_metrics(ctx: &Context, args: Vec<RedisString>) -> redis_module::RedisResult {
    reply::utf8(metrics::command(ctx, args))
}

/// `RDI.RESET [JOB <name>]`
fn rdi_reset(ctx: &Context, args: Vec<RedisString>) -> redis_module::RedisResult {
    reply::utf8(reset::command(ctx, args))
}

/// `RDI.HDEL key field [field ...]`: what HDEL of a tracked key becomes (see module/filter.rs)
fn rdi_hdel(ctx: &Context, args: Vec<RedisString>) -> redis_module::RedisResult {
    reply::utf8(filter::hdel(ctx, args))
}

/// `RDI.BUSY <job> ...`: what a write to a key of a full job becomes (see module/filter.rs)
fn rdi_busy(ctx: &Context, args: Vec<RedisString>) -> redis_module::RedisResult {
    reply::utf8(filter::busy(ctx, args))
}

/// `RDI.TRACE [COUNT n] [TIMEOUT s] [REJECTED-ONLY]`
fn rdi_trace(ctx: &Context, args: Vec<RedisString>) -> redis_module::RedisResult {
    reply::utf8(trace::command(ctx, args))
}

fn on_keyspace_event(ctx: &Context, kind: NotifyEvent, event: &str, key: &[u8]) {
    capture::on_keyspace_event(ctx, kind, event, key);
}

// Unit tests link this library without a Redis server around it: they use the system allocator.
#[cfg(test)]
use std::alloc::System as ModuleAllocator;

#[cfg(not(test))]
use module::alloc::ModuleAlloc as ModuleAllocator;

redis_module! {
    name: "rdi",
    version: 1,
    allocator: (ModuleAllocator, ModuleAllocator),
    data_types: [],
    init: init,
    deinit: deinit,
    commands: [
        ["rdi.deploy", rdi_deploy, "write deny-script", 0, 0, 0, vec![AclCategory::Admin, AclCategory::Dangerous]],
        ["rdi.status", rdi_status, "readonly deny-script", 0, 0, 0, AclCategory::Read],
        ["rdi.wait", rdi_wait, "readonly deny-script", 0, 0, 0, vec![AclCategory::Read, AclCategory::Blocking]],
        ["rdi.metrics", rdi_metrics, "readonly", 0, 0, 0, AclCategory::Read],
        ["rdi.reset", rdi_reset, "admin deny-script", 0, 0, 0, vec![AclCategory::Admin, AclCategory::Dangerous]],
        ["rdi.hdel", rdi_hdel, "write fast", 1, 1, 1, vec![AclCategory::Write, AclCategory::Hash, AclCategory::Fast]],
        ["rdi.busy", rdi_busy, "readonly fast allow-stale", 0, 0, 0, AclCategory::Fast],
        ["rdi.trace", rdi_trace, "readonly deny-script", 0, 0, 0, vec![AclCategory::Admin, AclCategory::Blocking]],
        ["rdi.list-jobs", rdi_list_jobs, "readonly", 0, 0, 0, AclCategory::Read],
        ["rdi.describe-job", rdi_describe_job, "readonly", 0, 0, 0, AclCategory::Read],
        ["rdi.get-rejected", rdi_get_rejected, "readonly", 0, 0, 0, AclCategory::Read],
        ["rdi.stop", rdi_stop, "admin deny-script", 0, 0, 0, vec![AclCategory::Admin, AclCategory::Dangerous]],
        ["rdi.start", rdi_start, "admin deny-script", 0, 0, 0, vec![AclCategory::Admin, AclCategory::Dangerous]],
        ["rdi.undeploy", rdi_undeploy, "write admin deny-script", 0, 0, 0, vec![AclCategory::Admin, AclCategory::Dangerous]],
        ["rdi.set-secret", rdi_set_secret, "admin deny-script no-monitor no-slowlog", 0, 0, 0, vec![AclCategory::Admin, AclCategory::Dangerous]],
    ],
    event_handlers: [
        [@HASH @GENERIC @NEW @MODULE @EXPIRED: on_keyspace_event],
    ],
    configurations: [
        i64: [
            ["pending-warning", &settings::PENDING_WARNING, settings::PENDING_WARNING_DEFAULT, settings::PENDING_WARNING_MIN, settings::PENDING_WARNING_MAX, ConfigurationFlags::DEFAULT, None],
            ["reset-scan-count", &settings::RESET_SCAN_COUNT, settings::RESET_SCAN_COUNT_DEFAULT, settings::RESET_SCAN_COUNT_MIN, settings::RESET_SCAN_COUNT_MAX, ConfigurationFlags::DEFAULT, None],
        ],
        string: [],
        bool: [],
        enum: [],
        module_args_as_configuration: true,
    ]
}
