//! The dead-letter queue is capped at `applier.dlq_max_messages`, oldest first out, and
//! `error_handling: ignore` counts rejections without keeping them.

use module_tests::yaml::{sqlite_config, sqlite_job};
use module_tests::{call, deploy_ok, drain, sqlite_target, RedisOpts, RedisServer, Status};

const DDL: &str = "CREATE TABLE emp (id INTEGER PRIMARY KEY, age INTEGER)";

fn run(applier: &[&str]) -> (RedisServer, redis::Connection) {
    let redis = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    let db = redis.dir().join("t.db");
    sqlite_target::create(&db, DDL);
    let mut r = redis.client();
    deploy_ok(
        &mut r,
        &sqlite_config(&db, applier),
        &[("emp", &sqlite_job("emp:*", "emp", &["id"], &["age"]))],
    );
    // Ten records whose age does not convert to INTEGER, one after another (separate batches too).
    for i in 0..10 {
        let id = i.to_string();
        call(
            &mut r,
            &["HSET", &format!("emp:{i}"), "id", &id, "age", "old"],
        );
        if i % 3 == 0 {
            drain(&mut r);
        }
    }
    drain(&mut r);
    (redis, r)
}

#[test]
fn the_dead_letter_queue_keeps_only_the_newest_dlq_max_messages() {
    let (_redis, mut r) = run(&["dlq_max_messages: 4"]);
    let status = Status::query(&mut r);
    assert_eq!(status.job("emp").rejected, 10, "{}", status.raw);
    let len: i64 = redis::cmd("XLEN")
        .arg("__rdi__:dlq:emp")
        .query(&mut r)
        .unwrap();
    assert_eq!(len, 4);
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("__rdi__:dlq:emp")
        .arg("-")
        .arg("+")
        .query(&mut r)
        .unwrap();
    let keys: Vec<String> = entries
        .iter()
        .map(|(_, fields)| fields.iter().find(|(f, _)| f == "key").unwrap().1.clone())
        .collect();
    assert_eq!(
        keys,
        ["emp:6", "emp:7", "emp:8", "emp:9"],
        "the oldest go first"
    );
}

#[test]
fn error_handling_ignore_counts_rejections_but_keeps_none() {
    let (_redis, mut r) = run(&["error_handling: ignore"]);
    let status = Status::query(&mut r);
    assert_eq!(status.job("emp").rejected, 10, "{}", status.raw);
    let len: i64 = redis::cmd("XLEN")
        .arg("__rdi__:dlq:emp")
        .query(&mut r)
        .unwrap();
    assert_eq!(len, 0);
}
