//! The deployed pipeline and its queue live in the keyspace: after a restart from RDB or AOF the job
//! is back by itself, new writes reach PostgreSQL, and changes queued during an outage are delivered.

use module_tests::yaml::pg_job;
use module_tests::{call, row, wait_until, PgPipeline, PgServer, RedisOpts, Status};
use std::time::Duration;

const DDL: &str = "CREATE TABLE emp (id integer PRIMARY KEY, name text)";
const ALL: &str = "SELECT id::text, name FROM emp ORDER BY emp.id";
const RESTART_DEADLINE: Duration = Duration::from_secs(20);

fn start<'a>(pg: &'a PgServer, opts: RedisOpts, db: &str) -> PgPipeline<'a> {
    PgPipeline::start(
        pg,
        opts,
        db,
        DDL,
        &[("emp", &pg_job("emp:*", "emp", &["id"], &["name"]))],
    )
}

/// Waits until the restarted server runs the `emp` job again.
fn wait_for_job(p: &PgPipeline) -> Status {
    wait_until(
        RESTART_DEADLINE,
        "RDI.STATUS lists job emp with the engine RUNNING",
        || {
            let status = p.status();
            status.engine == "RUNNING" && status.jobs.contains_key("emp")
        },
    );
    let status = p.status();
    assert_eq!(status.job("emp").key_pattern, "emp:*", "{}", status.raw);
    status
}

fn deployed_keys(p: &PgPipeline) -> Vec<String> {
    let (_cursor, keys): (u64, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("MATCH")
        .arg("__rdi__:*")
        .arg("COUNT")
        .arg(100_000)
        .query(&mut p.redis())
        .expect("SCAN");
    keys
}

#[test]
fn job_survives_a_restart_from_rdb_and_new_writes_arrive() {
    let mut p = start(PgServer::shared(), RedisOpts::redis74(), "persist_rdb");
    call(
        &mut p.redis(),
        &["HSET", "emp:1", "id", "1", "name", "before"],
    );
    p.drain();
    assert!(
        !deployed_keys(&p).is_empty(),
        "the deployed YAML is kept under __rdi__:"
    );
    call(&mut p.redis(), &["SAVE"]);
    p.redis.restart();
    assert!(
        p.redis.log().contains("DB loaded from disk"),
        "{}",
        p.redis.log()
    );
    wait_for_job(&p);
    assert!(!deployed_keys(&p).is_empty());
    call(
        &mut p.redis(),
        &["HSET", "emp:2", "id", "2", "name", "after"],
    );
    call(&mut p.redis(), &["HSET", "emp:1", "name", "changed"]);
    p.drain();
    assert_eq!(
        p.rows(ALL),
        vec![row(&["1", "changed"]), row(&["2", "after"])]
    );
}

#[test]
fn job_survives_a_restart_from_aof_and_new_writes_arrive() {
    let mut p = start(
        PgServer::shared(),
        RedisOpts::redis74().appendonly(),
        "persist_aof",
    );
    call(
        &mut p.redis(),
        &["HSET", "emp:1", "id", "1", "name", "before"],
    );
    p.drain();
    p.redis.restart();
    assert!(
        p.redis.log().contains("DB loaded from append only file"),
        "{}",
        p.redis.log()
    );
    wait_for_job(&p);
    call(
        &mut p.redis(),
        &["HSET", "emp:2", "id", "2", "name", "after"],
    );
    call(&mut p.redis(), &["DEL", "emp:1"]);
    p.drain();
    assert_eq!(p.rows(ALL), vec![row(&["2", "after"])]);
}

#[test]
fn changes_queued_while_the_target_was_down_are_delivered_after_a_restart() {
    let pg = PgServer::new();
    let mut p = start(&pg, RedisOpts::redis74(), "persist_queued");
    let mut r = p.redis();
    call(&mut r, &["HSET", "emp:1", "id", "1", "name", "a"]);
    call(&mut r, &["HSET", "emp:3", "id", "3", "name", "c"]);
    p.drain();

    pg.stop();
    call(&mut r, &["HSET", "emp:2", "id", "2", "name", "new"]);
    call(&mut r, &["HSET", "emp:1", "name", "b"]);
    call(&mut r, &["DEL", "emp:3"]);
    wait_until(
        Duration::from_secs(10),
        "the queued changes show as pending",
        || p.status().job("emp").pending > 0,
    );
    call(&mut r, &["SAVE"]);
    drop(r);

    p.redis.restart();
    let status = wait_for_job(&p);
    assert!(
        status.job("emp").pending > 0,
        "the queue came back with the RDB: {}",
        status.raw
    );
    pg.start();
    p.drain();
    assert_eq!(p.rows(ALL), vec![row(&["1", "b"]), row(&["2", "new"])]);
}
