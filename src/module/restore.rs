//! Rebuilding the pipeline from the YAML kept in the keyspace: after loading, promotion or MODULE LOAD.

use std::sync::Arc;

use redis_module::key::KeyFlags;
use redis_module::{Context, KeyType, RedisString, ScanKeyCursor};

use super::deploy::{validate, Sources};
use super::keys;
use super::queue::RedisQueue;
use super::runtime::{self, Pipeline};
use super::warnings;
use crate::writer;

/// Reads the deployed YAML, if any. Through the key API, not a command: on a cluster node that has
/// just started, commands on keys are refused until the cluster is up, and the pipeline must come
/// back before that.
pub fn read_sources(ctx: &Context) -> Option<Sources> {
    let name = RedisString::create(None, keys::deploy_key().as_bytes());
    let key = ctx.open_key_with_flags(&name, KeyFlags::NOTOUCH);
    if key.key_type() != KeyType::Hash {
        return None;
    }
    let mut src = Sources::default();
    let mut have_config = false;
    ScanKeyCursor::new(key).for_each(|_, field, value| {
        let (Ok(f), Ok(v)) = (field.try_as_str(), value.try_as_str()) else {
            return;
        };
        if f == keys::CONFIG_FIELD {
            src.config = v.to_string();
            have_config = true;
        } else if let Some(job) = f.strip_prefix(keys::JOB_FIELD_PREFIX) {
            src.jobs.push((job.to_string(), v.to_string()));
        }
    });
    src.jobs.sort();
    have_config.then_some(src)
}

/// Replaces the pipeline in force with the one kept in the keyspace (or none), starting writers only
/// on a primary. The old pipeline's writers are asked to stop, not waited for: this runs on the main
/// thread, which they may need.
pub fn restore(ctx: &Context) {
    if let Err(e) = super::cluster::settle_tag(ctx) {
        ctx.log_notice(&format!("rdi: no deployment restored yet: {e}"));
    }
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
