//! `RDI.DEPLOY`: validate, check the targets off the main thread, then swap the pipeline in one step.

use std::sync::{Arc, Mutex};

use redis_module::{
    CallOptionsBuilder, CallResult, Context, RedisError, RedisResult, RedisString, RedisValue,
    ThreadSafeContext,
};

use super::keys;
use super::queue::RedisQueue;
use super::runtime::{self, Pipeline, STOP_TIMEOUT};
use crate::config::{parse_deployment, parse_kept_deployment, problem_at, Connection, Deployment};
use crate::writer::{self, TableTarget, WriteError};

/// One deploy at a time: the swap must not interleave with another.
static DEPLOYING: Mutex<()> = Mutex::new(());

/// The YAML of a deployment, as sent (references unresolved).
#[derive(Clone, Default, PartialEq)]
pub struct Sources {
    /// `config.yaml`.
    pub config: String,
    /// `(job name, job yaml)`.
    pub jobs: Vec<(String, String)>,
}

impl std::fmt::Debug for Sources {
    // The job names only: the YAML may hold a password written out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field(
                "jobs",
                &self.jobs.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The argument as text, or an error naming `what`: a YAML file is UTF-8, and replacing the bytes
/// that are not would deploy something other than what was sent.
fn utf8(arg: &RedisString, what: &str) -> Result<String, RedisError> {
    arg.try_as_str().map(str::to_string).map_err(|_| {
        RedisError::String(format!(
            "ERR {what} is not UTF-8 text; save the YAML file as UTF-8"
        ))
    })
}

fn parse_args(args: &[RedisString]) -> Result<(Sources, bool), RedisError> {
    let mut src = Sources::default();
    let mut dry_run = false;
    let mut have_config = false;
    let mut i = 1;
    while i < args.len() {
        let word = args[i].to_string_lossy().to_ascii_uppercase();
        match word.as_str() {
            "CONFIG" if i + 1 < args.len() => {
                src.config = utf8(&args[i + 1], "the CONFIG text (config.yaml)")?;
                have_config = true;
                i += 2;
            }
            "JOB" if i + 2 < args.len() => {
                let name = utf8(&args[i + 1], "a JOB name")?;
                let yaml = utf8(&args[i + 2], &format!("the text of JOB {name}"))?;
                src.jobs.push((name, yaml));
                i += 3;
            }
            "DRYRUN" => {
                dry_run = true;
                i += 1;
            }
            _ => {
                return Err(RedisError::String(format!(
                    "ERR syntax error near `{word}`: expected RDI.DEPLOY CONFIG <yaml> [JOB <name> <yaml>]... [DRYRUN]"
                )))
            }
        }
    }
    if !have_config {
        return Err(RedisError::Str(
            "ERR missing CONFIG <yaml>: RDI.DEPLOY CONFIG <yaml> [JOB <name> <yaml>]... [DRYRUN]",
        ));
    }
    Ok((src, dry_run))
}

/// Parses and validates without touching the network.
pub fn validate(src: &Sources) -> Result<(Deployment, Vec<String>), String> {
    validate_with(src, parse_deployment)
}

/// [`validate`] of the deployment kept in the keyspace, which an earlier version may have stored:
/// checks added since then give notes instead of stopping the pipeline after an upgrade.
pub fn validate_kept(src: &Sources) -> Result<(Deployment, Vec<String>), String> {
    validate_with(src, parse_kept_deployment)
}

type Parse = fn(
    &str,
    &[(String, String)],
    &dyn crate::config::Resolver,
) -> Result<crate::config::Parsed, Vec<crate::config::ConfigProblem>>;

fn validate_with(src: &Sources, parse: Parse) -> Result<(Deployment, Vec<String>), String> {
    let resolver = super::secrets::resolver();
    match parse(&src.config, &src.jobs, &resolver) {
        Ok(p) => Ok((p.deployment, p.notes)),
        Err(problems) => {
            let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            Err(format!(
                "ERR invalid deployment ({} problem{}): {}",
                lines.len(),
                if lines.len() == 1 { "" } else { "s" },
                lines.join(" | ")
            ))
        }
    }
}

/// Test hook: set in the server's environment, the first deploy's thread panics while it checks the
/// targets, as a database driver's bug there would (module-tests/tests/commands_bad_arguments.rs).
static PANIC_IN_DEPLOY: super::test_hook::PanicOnce =
    super::test_hook::PanicOnce::new("RDI_TEST_PANIC_IN_DEPLOY");

/// `RDI.DEPLOY CONFIG <yaml> [JOB <name> <yaml>]... [DRYRUN]`
pub fn command(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    if !runtime::is_primary() {
        return Err(RedisError::Str(
            "READONLY deploy to the primary: this server is a replica",
        ));
    }
    let (src, dry_run) = parse_args(&args)?;
    if src.jobs.is_empty() {
        return Err(RedisError::Str(
            "ERR invalid deployment: no job; add at least one `JOB <name> <yaml>` (a file \
             jobs/<name>.yaml); to remove every job use RDI.UNDEPLOY",
        ));
    }
    let blocked = super::blocking::block(ctx, "RDI.DEPLOY")?;
    // Validation runs here too, off the main thread: it reads `${file:}` references.
    let spawned = std::thread::Builder::new()
        .name("rdi-deploy".into())
        .spawn(move || {
            let tsc = ThreadSafeContext::with_blocked_client(blocked);
            super::reply::from_thread(&tsc, "RDI.DEPLOY", || {
                validate(&src)
                    .map_err(RedisError::String)
                    .and_then(|(deployment, notes)| apply(src, deployment, notes, dry_run))
            });
        });
    match spawned {
        Ok(_) => Ok(RedisValue::NoReply),
        Err(e) => Err(RedisError::String(format!(
            "ERR could not start the deploy thread: {e}"
        ))),
    }
}

/// Where output `i` of `job` names the column a schema error says the table lacks: its `keys` or
/// `mapping` entry.
fn column_path(d: &Deployment, job: &str, i: usize, e: &WriteError) -> Option<String> {
    let WriteError::Schema(message) = e else {
        return None;
    };
    let column = message.split_once("has no column `")?.1.split_once('`')?.0;
    let output = d.jobs.iter().find(|j| j.name == job)?.outputs.get(i)?;
    let crate::config::Output::Relational(r) = output else {
        return None;
    };
    if let Some(k) = r.keys.iter().position(|c| c.column == column) {
        return Some(format!("output[{i}].with.keys[{k}]"));
    }
    let m = r.mapping.iter().position(|c| c.column == column)?;
    Some(format!("output[{i}].with.mapping[{m}]"))
}

/// The reply of a deploy or undeploy that found the server pausing writes (it began before the pause).
pub(super) const PAUSED: &str = "ERR the server pauses writes (CLIENT PAUSE, FAILOVER or a manual \
     failover); nothing was changed: try again once the pause ends";

/// Checks targets, then puts the deployment in force. Runs on a deploy thread.
fn apply(src: Sources, deployment: Deployment, notes: Vec<String>, dry_run: bool) -> RedisResult {
    // The lock guards no data: a deploy that panicked while holding it (a driver's bug, answered
    // as an error) leaves nothing half-done, so the next deploy goes ahead.
    let _one_at_a_time = DEPLOYING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    PANIC_IN_DEPLOY.fire();
    let (problems, warnings) = check_targets(&deployment, &src);
    if !problems.is_empty() {
        return Err(RedisError::String(format!(
            "ERR target check failed ({} problem{}): {}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            problems.join(" | ")
        )));
    }
    if dry_run {
        let mut lines = vec!["dry run: nothing was deployed".to_string()];
        lines.extend(notes);
        lines.extend(warnings);
        return Ok(reply(lines));
    }
    // Stop the old writers first (outside the server lock: they may be waiting for it), so that no
    // two writers ever apply the same queue. Changes captured meanwhile wait in the queues.
    if let Some(old) = runtime::current() {
        if let Some(engine) = &old.engine {
            if !engine.stop_and_join(STOP_TIMEOUT) {
                // They were asked to stop: start the pipeline in force again (under the server lock,
                // as every swap), whose writers begin once the busy ones have ended.
                let tsc = ThreadSafeContext::new();
                let ctx = tsc.lock();
                restart_current();
                drop(ctx);
                return Err(RedisError::Str(
                    "ERR the running writers did not stop in time; nothing was changed, try again",
                ));
            }
        }
    }
    let tsc = ThreadSafeContext::new();
    let ctx = tsc.lock();
    if super::lock::writes_paused() {
        restart_current();
        return Err(RedisError::Str(PAUSED));
    }
    if let Err(e) = super::cluster::settle_tag(&ctx).and_then(|()| store(&ctx, &src)) {
        // Put the old pipeline back to work before failing.
        restart_current();
        return Err(RedisError::String(format!(
            "ERR could not store the deployment: {e}"
        )));
    }
    let previous = runtime::current();
    let queue = Arc::new(RedisQueue::new(&deployment));
    let pipeline = Pipeline::new(
        deployment,
        notes.clone(),
        runtime::is_primary(),
        queue,
        Arc::new(writer::connect),
        previous.as_deref(),
    );
    super::queue::sync_pending(&ctx, &pipeline);
    let eviction = super::status::eviction_warning(&ctx);
    // A job that is no longer deployed keeps its queue: nothing captured is ever dropped silently.
    let removed: Vec<String> = previous
        .iter()
        .flat_map(|p| p.capture.iter())
        .filter(|old| !pipeline.capture.iter().any(|c| c.name == old.name))
        .filter_map(|old| {
            let n = super::queue::length(&ctx, &old.queue);
            (n > 0).then(|| {
                format!(
                    "job `{}` was removed with {n} change(s) queued: its queue {} is kept and drains if the job is deployed again (DEL it to drop them)",
                    old.name, old.queue
                )
            })
        })
        .collect();
    let jobs = pipeline.capture.len();
    let mut notes = notes;
    runtime::replace(Some(Arc::new(pipeline)));
    super::restore::retract_warnings();
    super::log::notice(&ctx, &format!("rdi: deployed {jobs} job(s)"));
    notes.extend(warnings);
    notes.extend(eviction);
    notes.extend(removed);
    Ok(reply(notes))
}

fn reply(notes: Vec<String>) -> RedisValue {
    if notes.is_empty() {
        return RedisValue::SimpleStringStatic("OK");
    }
    let mut items = vec![RedisValue::SimpleStringStatic("OK")];
    items.extend(notes.into_iter().map(RedisValue::BulkString));
    RedisValue::Array(items)
}

/// Restarts the writers of the pipeline in force (after a failed swap).
pub(super) fn restart_current() {
    if let Some(cur) = runtime::current() {
        // A pipeline held for unresolved references stays held: its placeholders are not credentials.
        let mut p = Pipeline::new(
            cur.deployment.clone(),
            cur.notes.clone(),
            runtime::is_primary() && cur.held.is_none(),
            Arc::new(RedisQueue::new(&cur.deployment)),
            Arc::new(writer::connect),
            Some(&cur),
        );
        p.held = cur.held.clone();
        runtime::replace(Some(Arc::new(p)));
    }
}

/// Writes the YAML as sent into the keyspace (replicated, persisted), replacing what was there in one
/// step: the new hash is built under a temporary name and renamed over the old one, so a crash leaves
/// either the old deployment or the new one, never a mix.
pub(super) fn store(ctx: &Context, src: &Sources) -> Result<(), String> {
    let opts = CallOptionsBuilder::new()
        .replicate()
        .errors_as_replies()
        .build();
    let call = |cmd: &str, args: &[&str]| -> Result<(), String> {
        let res: CallResult = ctx.call_ext(cmd, &opts, args);
        res.map(|_| ())
            .map_err(|e| e.to_utf8_string().unwrap_or_default())
    };
    let (next, current) = (keys::deploy_next_key(), keys::deploy_key());
    call("DEL", &[next.as_str()])?;
    let job_fields: Vec<String> = src
        .jobs
        .iter()
        .map(|(n, _)| format!("{}{n}", keys::JOB_FIELD_PREFIX))
        .collect();
    let mut args: Vec<&str> = vec![next.as_str(), keys::CONFIG_FIELD, src.config.as_str()];
    for (field, (_, yaml)) in job_fields.iter().zip(&src.jobs) {
        args.push(field);
        args.push(yaml);
    }
    call("HSET", &args)?;
    call("RENAME", &[next.as_str(), current.as_str()])
}

/// Connects to every target and checks each output's table and columns. Returns problems (missing
/// tables or columns: the deploy is refused), located in the YAML of `src`, and warnings (unreachable
/// targets: the writers retry).
fn check_targets(d: &Deployment, src: &Sources) -> (Vec<String>, Vec<String>) {
    let job_text = |job: &str| {
        src.jobs
            .iter()
            .find(|(name, _)| name == job)
            .map_or("", |(_, text)| text.as_str())
    };
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    for (name, conn) in &d.connections {
        let outputs: Vec<(String, usize, TableTarget)> = d
            .jobs
            .iter()
            .flat_map(|j| {
                j.outputs
                    .iter()
                    .enumerate()
                    .filter(|(_, o)| o.connection() == name)
                    .map(|(i, o)| {
                        let plan = crate::applier::batch::OutputPlan::new(o);
                        (j.name.clone(), i, plan.target.as_ref().clone())
                    })
            })
            .collect();
        if outputs.is_empty() && !matches!(conn, Connection::Sqlite { .. }) {
            continue;
        }
        let mut w = match writer::connect(conn) {
            Ok(w) => w,
            Err(e @ (WriteError::Transient(_) | WriteError::Unknown(_))) => {
                warnings.push(d.hidden.hide(&format!(
                    "connection `{name}` ({}) is unreachable now ({e}); its tables were not checked and the writers will retry",
                    conn.location()
                )));
                continue;
            }
            Err(e) => {
                let path = format!("connections.{name}");
                let message = d.hidden.hide(&e.to_string());
                problems.push(problem_at("config.yaml", &src.config, &path, message).to_string());
                continue;
            }
        };
        for (job, i, target) in outputs {
            match w.check(&target) {
                Ok(()) => {}
                Err(WriteError::Transient(e) | WriteError::Unknown(e)) => warnings.push(d.hidden.hide(&format!(
                    "jobs/{job}.yaml: output[{i}]: could not check table {} ({e}); the writers will retry",
                    target.display_name()
                ))),
                Err(e) => {
                    let field = if target.redis.is_some() { "data_type" } else { "table" };
                    // A missing column is shown where the job names it, when that can be found.
                    let path = column_path(d, &job, i, &e)
                        .filter(|p| crate::config::locate(job_text(&job), p).is_some())
                        .unwrap_or_else(|| format!("output[{i}].with.{field}"));
                    let file = format!("jobs/{job}.yaml");
                    let message = d.hidden.hide(&e.to_string());
                    problems.push(problem_at(&file, job_text(&job), &path, message).to_string());
                }
            }
        }
    }
    (problems, warnings)
}
