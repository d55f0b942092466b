//! Server events: loading, role changes and flushes decide when capture and writers run.

use redis_module::server_events::{FlushSubevent, LoadingSubevent, ServerRole};
use redis_module::Context;
use redis_module_macros::{flush_event_handler, loading_event_handler, role_changed_event_handler};

use super::restore::restore;
use super::runtime;
use super::warnings;

#[loading_event_handler]
fn on_loading(ctx: &Context, event: LoadingSubevent) {
    match event {
        LoadingSubevent::RdbStarted
        | LoadingSubevent::AofStarted
        | LoadingSubevent::ReplStarted => {
            // The queue in the file is the truth; nothing is captured or written while it loads.
            runtime::set_loading(true);
        }
        LoadingSubevent::Ended | LoadingSubevent::Failed => {
            runtime::set_loading(false);
            restore(ctx);
        }
    }
}

#[role_changed_event_handler]
fn on_role_changed(ctx: &Context, role: ServerRole) {
    let primary = role == ServerRole::Primary;
    runtime::set_primary(primary);
    ctx.log_notice(if primary {
        "rdi: promoted to primary: writers resume from the replicated queue"
    } else {
        "rdi: now a replica: capture and writers stop"
    });
    restore(ctx);
}

#[flush_event_handler]
fn on_flush(_ctx: &Context, event: FlushSubevent) {
    if event == FlushSubevent::Started {
        warnings::add(
            "FLUSHALL/FLUSHDB ran: it emits no key events, so the targets were left as they were; \
             the queues and the kept deployment were flushed too: the pipeline runs until the next \
             restart, redeploy to keep it"
                .into(),
        );
    }
}
