//! Rebuilding the pipeline from the YAML kept in the keyspace: after loading, promotion or MODULE LOAD.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use redis_module::key::KeyFlags;
use redis_module::{Context, KeyType, RedisString, ScanKeyCursor};

use super::deploy::{validate_kept, Sources};
use super::keys;
use super::queue::RedisQueue;
use super::runtime::{self, Pipeline};
use super::warnings;
use crate::config::{parse_kept_deployment, Resolver, SystemResolver};
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

/// How the warnings about the kept deployment begin; they end when a deployment is in force again.
const KEPT: &str = "the deployment kept in the keyspace ";

/// How the warning of a deployment whose references do not resolve begins.
const HELD_PREFIX: &str =
    "the deployment kept in the keyspace has references that do not resolve here: ";

/// Ends the warnings about the kept deployment (it validated again, or a deploy replaced it).
pub fn retract_warnings() {
    warnings::retract(KEPT);
}

/// Whether the pipeline in force is held for unresolved references; tries to resolve them again first
/// (after `RDI.SET-SECRET`, or a fixed file before `RDI.START`). Returns why it is still held.
pub fn retry_held(ctx: &Context) -> Option<String> {
    runtime::current().and_then(|p| p.held.clone())?;
    restore(ctx);
    runtime::current().and_then(|p| p.held.clone())
}

/// A pipeline from a validated deployment; writers only when `writers` (a primary whose references
/// resolved). `held` says why a primary has none.
fn pipeline(
    deployment: crate::config::Deployment,
    notes: Vec<String>,
    writers: bool,
    held: Option<String>,
) -> Arc<Pipeline> {
    let previous = runtime::current();
    let queue = Arc::new(RedisQueue::new(&deployment));
    let mut p = Pipeline::new(
        deployment,
        notes,
        writers,
        queue,
        Arc::new(writer::connect),
        previous.as_deref(),
    );
    p.held = held;
    Arc::new(p)
}

/// Validates with every reference that fails to resolve replaced by a placeholder, for capture alone:
/// key patterns need no secret, and a change written while a secret is missing must still be queued.
/// Returns the deployment, its notes and the references that failed; `None` when the YAML is invalid
/// for another reason too.
fn validate_unresolved(src: &Sources) -> Option<(crate::config::Deployment, Vec<String>, String)> {
    let resolver = Lenient {
        inner: super::secrets::resolver(),
        failed: RefCell::new(Vec::new()),
    };
    let parsed = parse_kept_deployment(&src.config, &src.jobs, &resolver).ok()?;
    let failed = resolver.failed.into_inner();
    if failed.is_empty() {
        return None;
    }
    Some((parsed.deployment, parsed.notes, failed.join(", ")))
}

/// Resolves through `inner`; a reference that fails gives a placeholder and is remembered (by its
/// reference and the reason, never a value).
struct Lenient {
    inner: SystemResolver,
    failed: RefCell<Vec<String>>,
}

impl Resolver for Lenient {
    fn resolve(&self, kind: &str, arg: &str) -> Result<String, String> {
        self.inner.resolve(kind, arg).or_else(|reason| {
            let mention = format!("`${{{kind}:{arg}}}` ({reason})");
            let mut failed = self.failed.borrow_mut();
            if !failed.contains(&mention) {
                failed.push(mention);
            }
            // Valid wherever a number, a port, a flag or a name is expected; never used as a credential.
            Ok("1".to_string())
        })
    }
}

/// The sources of the last restore (`Some(None)`: nothing was kept). Set under the server lock, by
/// the main thread or a command's thread holding it (RDI.SET-SECRET).
static RESTORED: Mutex<Option<Option<Sources>>> = Mutex::new(None);

/// [`restore`] only if the YAML kept in the keyspace is not the one last restored: a replica's
/// RDI.STATUS calls this, and polling it must not rebuild the pipeline (nor log) every time.
pub fn refresh(ctx: &Context) {
    let sources = read_sources(ctx);
    let same = RESTORED
        .lock()
        .map(|r| r.as_ref() == Some(&sources))
        .unwrap_or(false);
    if !same {
        restore(ctx);
    }
}

/// Replaces the pipeline in force with the one kept in the keyspace (or none), starting writers only
/// on a primary. The old pipeline's writers are asked to stop, not waited for: this runs on the main
/// thread, which they may need.
pub fn restore(ctx: &Context) {
    if let Err(e) = super::cluster::settle_tag(ctx) {
        super::log::notice(ctx, &format!("rdi: no deployment restored yet: {e}"));
    }
    let sources = read_sources(ctx);
    if let Ok(mut r) = RESTORED.lock() {
        *r = Some(sources.clone());
    }
    let next = match sources {
        None => None,
        Some(src) => match validate_kept(&src) {
            Ok((deployment, notes)) => {
                retract_warnings();
                Some(pipeline(deployment, notes, runtime::is_primary(), None))
            }
            Err(e) => match validate_unresolved(&src) {
                Some((deployment, notes, unresolved)) => {
                    let msg = format!(
                        "{HELD_PREFIX}{unresolved}: changes are captured and queued, writers are held; \
                         store the secret (RDI.SET-SECRET), fix the file and run RDI.START, or redeploy"
                    );
                    if warnings::add(msg.clone()) {
                        super::log::warning(ctx, &format!("rdi: {msg}"));
                    }
                    Some(pipeline(deployment, notes, false, Some(msg)))
                }
                None => {
                    let msg = format!(
                        "the deployment kept in the keyspace no longer validates, nothing runs: {e}"
                    );
                    if warnings::add(msg.clone()) {
                        super::log::warning(ctx, &format!("rdi: {msg}"));
                    }
                    None
                }
            },
        },
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
        super::log::notice(
            ctx,
            &format!(
                "rdi: pipeline restored from the keyspace: {jobs} job(s), writers {}",
                if runtime::is_primary() {
                    "started"
                } else {
                    "idle (replica)"
                }
            ),
        );
    }
}
