//! RDI write-behind as a Redis module: captures changes of Hash keys, queues them durably in the
//! keyspace, and writes them in batches to target databases.
//!
//! This file declares the module and its commands, nothing else; see `module/` for the Redis side and
//! `config/`, `applier/`, `writer/` for the pure-Rust core.

pub mod applier;
pub mod config;
pub mod expr;
pub mod module;
pub mod pattern;
pub mod transform;
pub mod writer;

use redis_module::{redis_module, Context, NotifyEvent, RedisString, Status};

use module::{capture, deploy, removal, runtime, status, wait};

/// Oldest server this module runs on: the key-removal event and post-notification jobs are 7.2 APIs.
const MIN_SERVER_VERSION: (i32, i32) = (7, 2);

fn init(ctx: &Context, _args: &[RedisString]) -> Status {
    if let Ok(v) = ctx.get_redis_version() {
        if (v.major, v.minor) < MIN_SERVER_VERSION {
            ctx.log_warning(&format!(
                "rdi: this server is {}.{}.{}; the module needs Redis 7.2 or later (or Valkey 8): not loading",
                v.major, v.minor, v.patch
            ));
            return Status::Err;
        }
    }
    if let Err(e) = removal::subscribe(ctx) {
        ctx.log_warning(&format!("rdi: {e}: not loading"));
        return Status::Err;
    }
    let flags = ctx.get_flags();
    runtime::set_primary(!flags.contains(redis_module::ContextFlags::SLAVE));
    runtime::set_loading(flags.contains(redis_module::ContextFlags::LOADING));
    if !runtime::is_loading() {
        // MODULE LOAD into a running server: the deployment may already be in the keyspace.
        module::restore::restore(ctx);
    }
    ctx.log_notice("rdi: write-behind module loaded");
    Status::Ok
}

fn deinit(ctx: &Context) -> Status {
    // Unloading while writer threads run would pull their code out from under them, and they cannot
    // be joined here: this thread holds the server lock they may be waiting for.
    if runtime::current().is_some_and(|p| p.engine.as_ref().is_some_and(|e| e.is_running())) {
        ctx.log_warning("rdi: cannot unload while a pipeline's writers run; nothing was changed");
        return Status::Err;
    }
    runtime::replace(None);
    Status::Ok
}

/// `RDI.DEPLOY CONFIG <yaml> [JOB <name> <yaml>]... [DRYRUN]`
fn rdi_deploy(ctx: &Context, args: Vec<RedisString>) -> redis_module::RedisResult {
    deploy::command(ctx, args)
}

/// `RDI.STATUS`
fn rdi_status(ctx: &Context, args: Vec<RedisString>) -> redis_module::RedisResult {
    status::command(ctx, args)
}

/// `RDI.WAIT [timeout-ms]`
fn rdi_wait(ctx: &Context, args: Vec<RedisString>) -> redis_module::RedisResult {
    wait::command(ctx, args)
}

fn on_keyspace_event(ctx: &Context, kind: NotifyEvent, event: &str, key: &[u8]) {
    capture::on_keyspace_event(ctx, kind, event, key);
}

// Unit tests link this library without a Redis server around it: they use the system allocator.
#[cfg(test)]
use std::alloc::System as ModuleAllocator;

#[cfg(not(test))]
use redis_module::alloc::RedisAlloc as ModuleAllocator;

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
    ],
    event_handlers: [
        [@HASH @GENERIC @NEW @MODULE: on_keyspace_event],
    ],
}
