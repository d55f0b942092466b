//! The `rdi_pipeline` section of `INFO` (`INFO rdi`): engine state and totals, and one line per job.

use std::sync::atomic::Ordering;

use redis_module::{InfoContext, RedisResult};
use redis_module_macros::info_command_handler;

use super::{control, runtime};
use crate::applier::JobStats;

#[info_command_handler]
fn rdi_info(ctx: &InfoContext, _for_crash_report: bool) -> RedisResult<()> {
    let p = runtime::current();
    let engine = match &p {
        None => "not_deployed",
        Some(p) if p.engine.as_ref().is_some_and(|e| e.is_running()) && !control::is_paused() => {
            "running"
        }
        Some(_) => "stopped",
    };
    let jobs = p.as_ref().map_or(0, |p| p.capture.len());
    let pending: u64 = p.as_ref().map_or(0, |p| {
        p.capture
            .iter()
            .map(|c| c.pending.load(Ordering::Relaxed))
            .sum()
    });
    let mut section = ctx
        .builder()
        .add_section("pipeline")
        .field("engine", engine)?
        .field(
            "role",
            if runtime::is_primary() {
                "primary"
            } else {
                "replica"
            },
        )?
        .field("jobs", jobs.to_string())?
        .field("pending", pending.to_string())?
        .field(
            "backpressure",
            u8::from(runtime::backpressure_active()).to_string(),
        )?;
    if let Some(e) = p.as_ref().and_then(|p| p.engine.as_ref()) {
        section = section.field("writer_threads", e.thread_count().to_string())?;
    }
    if let Some(p) = &p {
        for c in &p.capture {
            let stats = p
                .engine
                .as_ref()
                .and_then(|e| e.jobs().iter().find(|j| j.job.name == c.name));
            let get = |f: fn(&JobStats) -> &std::sync::atomic::AtomicU64| {
                stats.map_or(0, |j| JobStats::get(f(&j.stats)))
            };
            let line = format!(
                "pending={},inserted={},updated={},deleted={},filtered={},rejected={},retries={}",
                c.pending.load(Ordering::Relaxed),
                get(|s| &s.inserted),
                get(|s| &s.updated),
                get(|s| &s.deleted),
                get(|s| &s.filtered),
                get(|s| &s.rejected),
                get(|s| &s.retries_total),
            );
            section = section.field(&format!("job_{}", c.name), line)?;
        }
    }
    section.build_section()?.build_info()?;
    Ok(())
}
