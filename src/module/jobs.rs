//! `RDI.LIST-JOBS` and `RDI.DESCRIBE-JOB`: the deployed jobs, as deployed, with their counters.

use std::collections::BTreeMap;

use redis_module::redisvalue::RedisValueKey;
use redis_module::{Context, RedisError, RedisResult, RedisString, RedisValue};

use super::queue::length;
use super::restore::read_sources;
use super::runtime;
use super::status::job_status;

/// `RDI.LIST-JOBS`
pub fn list(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    if args.len() != 1 {
        return Err(RedisError::WrongArity);
    }
    let Some(p) = runtime::current() else {
        return Ok(RedisValue::Array(Vec::new()));
    };
    let jobs = p
        .capture
        .iter()
        .filter_map(|c| {
            p.deployment
                .jobs
                .iter()
                .find(|j| j.name == c.name)
                .map(|j| (c, j))
        })
        .map(|(c, j)| {
            let mut m = BTreeMap::new();
            m.insert(
                RedisValueKey::String("name".into()),
                RedisValue::BulkString(j.name.clone()),
            );
            m.insert(
                RedisValueKey::String("key_pattern".into()),
                RedisValue::BulkString(p.deployment.hidden.field(&j.key_pattern)),
            );
            m.insert(
                RedisValueKey::String("outputs".into()),
                super::status::outputs(j, &p.deployment),
            );
            m.insert(
                RedisValueKey::String("pending".into()),
                RedisValue::Integer(length(ctx, &c.queue) as i64),
            );
            RedisValue::OrderedMap(m)
        })
        .collect();
    Ok(RedisValue::Array(jobs))
}

/// `RDI.DESCRIBE-JOB <name>`: the job's YAML as deployed (references unresolved) and its status.
pub fn describe(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    if args.len() != 2 {
        return Err(RedisError::WrongArity);
    }
    let name = args[1].to_string_lossy();
    let p = runtime::current().ok_or(RedisError::Str("ERR nothing is deployed"))?;
    let job = p
        .deployment
        .jobs
        .iter()
        .find(|j| j.name == name)
        .ok_or_else(|| RedisError::String(format!("ERR no job named `{name}` is deployed")))?;
    let yaml = read_sources(ctx)
        .and_then(|s| s.jobs.into_iter().find(|(n, _)| *n == name).map(|(_, y)| y))
        .unwrap_or_default();
    let mut m = job_status(ctx, &p, job);
    m.insert(
        RedisValueKey::String("name".into()),
        RedisValue::BulkString(name),
    );
    m.insert(
        RedisValueKey::String("yaml".into()),
        RedisValue::BulkString(yaml),
    );
    Ok(RedisValue::OrderedMap(m))
}
