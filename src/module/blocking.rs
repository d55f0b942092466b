//! Commands that answer from a thread of their own: the client waits, the server does not.

use redis_module::{BlockedClient, Context, ContextFlags, RedisError};

/// Blocks the client until a thread replies. Inside MULTI/EXEC (or called by another module through
/// RedisModule_Call) Redis cannot block a client: it answers with an error yet lets the command go on,
/// so the command would act while its client is told it failed. Such a call is refused here, before
/// the command does anything.
pub fn block(ctx: &Context, command: &str) -> Result<BlockedClient, RedisError> {
    let flags = ctx.get_flags();
    if flags.contains(ContextFlags::MULTI) || flags.contains(ContextFlags::DENY_BLOCKING) {
        return Err(RedisError::String(format!(
            "ERR {command} cannot run inside MULTI/EXEC: send it on its own"
        )));
    }
    Ok(ctx.block_client())
}
