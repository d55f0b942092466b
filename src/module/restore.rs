//! Rebuilding the pipeline from the YAML kept in the keyspace: after loading, promotion or MODULE LOAD.

use std::sync::Arc;

use redis_module::{Context, RedisValue};

use super::deploy::{validate, Sources};
use super::keys;
use super::queue::{text, RedisQueue};
use super::runtime::{self, Pipeline};
use super::warnings;
use crate::writer;

/// Reads the deployed YAML, if any.
pub fn read_sources(ctx: &Context) -> Option<Sources> {
    let reply = ctx.call("HGETALL", &[keys::DEPLOY_KEY]).ok()?;
    let RedisValue::Array(items) = reply else {
        return None;
    };
    let mut src = Sources::default();
    let mut have_config = false;
    for pair in items.chunks(2) {
        let (Some(f), Some(v)) = (pair.first().and_then(text), pair.get(1).and_then(text)) else {
            continue;
        };
        if f == keys::CONFIG_FIELD {
            src.config = v;
            have_config = true;
        } else if let Some(name) = f.strip_prefix(keys::JOB_FIELD_PREFIX) {
            src.jobs.push((name.to_string(), v));
        }
    }
    src.jobs.sort();
    have_config.then_some(src)
}

/// Replaces the pipeline in force with the one kept in the keyspace (or none), starting writers only
/// on a primary. The old pipeline's writers are asked to stop, not waited for: this runs on the main
/// thread, which they may need.
pub fn restore(ctx: &Context) {
    let next = match read_sources(ctx) {
        None => None,
        Some(src) => {
            match validate(&src) {
                Ok((deployment, notes)) => {
                    let previous = runtime::current();
                    Some(Arc::new(Pipeline::new(
                        deployment,
                        notes,
                        runtime::is_primary(),
                        Arc::new(RedisQueue),
                        Arc::new(writer::connect),
                        previous.as_deref(),
                    )))
                }
                Err(e) => {
                    let msg = format!("the deployment kept in the keyspace no longer validates, nothing runs: {e}");
                    ctx.log_warning(&format!("rdi: {msg}"));
                    warnings::add(msg);
                    None
                }
            }
        }
    };
    if let Some(p) = &next {
        super::queue::sync_pending(ctx, p);
    }
    let jobs = next.as_ref().map_or(0, |p| p.capture.len());
    if let Some(old) = runtime::replace(next) {
        if let Some(engine) = &old.engine {
            engine.signal_stop();
        }
    }
    if jobs > 0 {
        ctx.log_notice(&format!(
            "rdi: pipeline restored from the keyspace: {jobs} job(s), writers {}",
            if runtime::is_primary() {
                "started"
            } else {
                "idle (replica)"
            }
        ));
    }
}
