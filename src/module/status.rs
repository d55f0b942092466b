//! `RDI.STATUS`: engine state, connections, per-job counters and lag, warnings. Never a secret.

use std::collections::BTreeMap;

use redis_module::redisvalue::RedisValueKey;
use redis_module::{Context, RedisResult, RedisString, RedisValue};

use super::keys;
use super::queue::{length, oldest_id};
use super::restore::refresh;
use super::runtime;
use super::runtime::Pipeline;
use super::warnings;
use crate::applier::{now_ms, Health, JobStats, LastError};
use crate::config::{Connection, Deployment, Hidden, Job, Output};

/// A reply map.
pub type Map = BTreeMap<RedisValueKey, RedisValue>;

fn key(k: &str) -> RedisValueKey {
    RedisValueKey::String(k.to_string())
}

fn s(v: impl Into<String>) -> RedisValue {
    RedisValue::BulkString(v.into())
}

fn n(v: u64) -> RedisValue {
    RedisValue::Integer(i64::try_from(v).unwrap_or(i64::MAX))
}

/// A job's last error. A writer's message can quote what the target said, which may hold a resolved
/// secret (a user name in "password authentication failed for user ..."): hidden as in the
/// connection's status.
fn error_fields(m: &mut Map, e: Option<LastError>, hidden: &Hidden) {
    match e {
        Some(e) => {
            m.insert(key("last_error"), s(hidden.hide(&e.message)));
            m.insert(key("last_error_time_ms"), n(e.at_ms));
        }
        None => {
            m.insert(key("last_error"), RedisValue::Null);
            m.insert(key("last_error_time_ms"), n(0));
        }
    }
}

/// The outputs of a job, one line each; `deployment` tells a Cassandra table from a relational one
/// (both are read into the same shape).
pub fn outputs(job: &Job, deployment: &Deployment) -> RedisValue {
    RedisValue::Array(
        job.outputs
            .iter()
            .map(|o| -> String {
                match o {
                    Output::Relational(r) => format!(
                        "{} -> {} ({})",
                        match deployment.connections.get(&r.connection) {
                            Some(Connection::Cassandra(_)) => "cassandra.write",
                            _ => "relational.write",
                        },
                        r.schema
                            .as_ref()
                            .map_or(r.table.clone(), |sc| format!("{sc}.{}", r.table)),
                        r.connection
                    ),
                    Output::Redis(r) => format!(
                        "redis.write -> {} {} ({})",
                        r.data_type.as_str(),
                        r.key.source(),
                        r.connection
                    ),
                }
            })
            // A table or schema may come from a reference.
            .map(|line| s(deployment.hidden.hide(&line)))
            .collect(),
    )
}

/// One job's status: pattern, outputs, queue, counters, last error.
pub fn job_status(ctx: &Context, p: &Pipeline, job: &Job) -> Map {
    let queue = keys::queue_key(&job.name);
    let mut m = Map::new();
    m.insert(
        key("key_pattern"),
        s(p.deployment.hidden.field(&job.key_pattern)),
    );
    m.insert(key("outputs"), outputs(job, &p.deployment));
    m.insert(key("pending"), n(length(ctx, &queue)));
    let now = now_ms();
    m.insert(
        key("lag_ms"),
        n(oldest_id(ctx, &queue).map_or(0, |id| now.saturating_sub(id.ms))),
    );
    m.insert(key("dlq_size"), n(length(ctx, &keys::dlq_key(&job.name))));
    let stats = p
        .engine
        .as_ref()
        .and_then(|e| e.jobs().iter().find(|j| j.job.name == job.name));
    let get = |f: fn(&JobStats) -> &std::sync::atomic::AtomicU64| {
        n(stats.map_or(0, |j| JobStats::get(f(&j.stats))))
    };
    m.insert(key("inserted"), get(|s| &s.inserted));
    m.insert(key("updated"), get(|s| &s.updated));
    m.insert(key("deleted"), get(|s| &s.deleted));
    m.insert(key("filtered"), get(|s| &s.filtered));
    m.insert(key("rejected"), get(|s| &s.rejected));
    m.insert(key("coalesced"), get(|s| &s.coalesced));
    m.insert(key("batches"), get(|s| &s.batches));
    m.insert(key("retry_attempts"), get(|s| &s.retry_attempts));
    let next = stats.map_or(0, |j| JobStats::get(&j.stats.next_retry_ms));
    m.insert(key("next_retry_in_ms"), n(next.saturating_sub(now)));
    error_fields(
        &mut m,
        stats.and_then(|j| j.stats.last_error()),
        &p.deployment.hidden,
    );
    if let Some(r) = super::reset::progress(&job.name) {
        m.insert(key("reset"), r);
    }
    m
}

/// Warnings about the state right now: queues past the warning threshold, an eviction policy that
/// could evict the queues.
pub fn live_warnings(ctx: &Context, p: &Pipeline) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(limit) = super::settings::pending_warning().filter(|_| p.max_pending() == 0) {
        for c in &p.capture {
            let n = length(ctx, &c.queue);
            if n > limit {
                out.push(format!(
                    "job `{}` has {n} changes queued (over rdi.pending-warning {limit}) and no applier.max_pending: the queue grows while its target is behind",
                    c.name
                ));
            }
        }
    }
    if let Some(w) = eviction_warning(ctx) {
        out.push(w);
    }
    out
}

/// A warning when `maxmemory-policy` could evict the queues (they are ordinary keys without TTL).
pub fn eviction_warning(ctx: &Context) -> Option<String> {
    let reply = ctx.call("CONFIG", &["GET", "maxmemory-policy"]).ok()?;
    let policy = match &reply {
        RedisValue::Array(items) => items.get(1).and_then(super::queue::text),
        RedisValue::Map(_) | RedisValue::OrderedMap(_) => None,
        _ => None,
    }?;
    policy.starts_with("allkeys-").then(|| {
        format!(
            "maxmemory-policy is {policy}: under memory pressure Redis may evict the change queues (the streams __rdi__:queue:<job>, __rdi__:{{<tag>}}:queue:<job> on a cluster) and lose changes; use noeviction or a volatile-* policy"
        )
    })
}

/// `RDI.STATUS`
pub fn command(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    if args.len() != 1 {
        return Err(redis_module::RedisError::WrongArity);
    }
    if !runtime::is_primary() {
        // A replica does not hear of deploys (the YAML arrives as plain key writes): re-read it.
        refresh(ctx);
    }
    let pipeline = runtime::current();
    let mut top = Map::new();
    let engine_state = match &pipeline {
        None => "NOT DEPLOYED",
        Some(p)
            if p.engine.as_ref().is_some_and(|e| e.is_running())
                && !super::control::is_paused() =>
        {
            "RUNNING"
        }
        Some(_) => "STOPPED",
    };
    top.insert(key("engine"), s(engine_state));
    top.insert(
        key("role"),
        s(if runtime::is_primary() {
            "primary"
        } else {
            "replica"
        }),
    );
    let mut conns = Map::new();
    let mut jobs = Map::new();
    if let Some(p) = &pipeline {
        let engine = p.engine.as_ref();
        for (name, c) in &p.deployment.connections {
            let mut m = Map::new();
            m.insert(key("type"), s(c.type_name()));
            // A host or database given as a `${...}` reference is shown as the reference.
            let hidden = &p.deployment.hidden;
            m.insert(key("location"), s(hidden.hide(&c.location())));
            m.insert(
                key("host"),
                c.host().map_or(RedisValue::Null, |h| s(hidden.field(&h))),
            );
            m.insert(
                key("port"),
                c.port()
                    .map_or(RedisValue::Null, |p| RedisValue::Integer(p.into())),
            );
            m.insert(
                key("database"),
                c.database()
                    .map_or(RedisValue::Null, |d| s(hidden.field(d))),
            );
            let stats = engine.and_then(|e| e.connection_stats().get(name));
            let health = stats.map_or(Health::Unknown, |st| st.health());
            m.insert(key("health"), s(health.as_str()));
            let last = stats.and_then(|st| st.last_error());
            m.insert(
                key("last_error"),
                last.as_ref()
                    .map_or(RedisValue::Null, |e| s(hidden.hide(&e.message))),
            );
            // When: a healthy connection may show an error it has since recovered from.
            m.insert(
                key("last_error_time_ms"),
                n(last.as_ref().map_or(0, |e| e.at_ms)),
            );
            conns.insert(key(name), RedisValue::OrderedMap(m));
        }
        for job in &p.deployment.jobs {
            jobs.insert(
                key(&job.name),
                RedisValue::OrderedMap(job_status(ctx, p, job)),
            );
        }
    }
    top.insert(key("connections"), RedisValue::OrderedMap(conns));
    top.insert(key("jobs"), RedisValue::OrderedMap(jobs));
    let mut warns: Vec<RedisValue> = warnings::all().into_iter().map(|(_, w)| s(w)).collect();
    if let Some(p) = &pipeline {
        warns.extend(p.notes.iter().map(|w| s(w.clone())));
        warns.extend(live_warnings(ctx, p).into_iter().map(s));
    }
    top.insert(key("warnings"), RedisValue::Array(warns));
    Ok(RedisValue::OrderedMap(top))
}
