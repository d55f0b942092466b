//! RDI.LIST-JOBS and RDI.DESCRIBE-JOB: the deployed jobs, as deployed, with their counters.

use module_tests::replies::{field_int, field_text, fields, items, string};
use module_tests::yaml::{sqlite_config, sqlite_job};
use module_tests::{call, deploy_ok, drain, sqlite_target, RedisOpts, RedisServer};
use redis::Value;
use std::collections::HashMap;

fn emp_job() -> String {
    sqlite_job("emp:*", "emp", &["id"], &["name"])
}

fn dept_job() -> String {
    sqlite_job("dept:*", "dept", &["id"], &["title"])
}

/// Redis with jobs `emp` and `dept` deployed to one SQLite file.
fn deployed() -> RedisServer {
    let redis = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    let db = redis.dir().join("target.db");
    sqlite_target::create(
        &db,
        "CREATE TABLE emp (id INTEGER PRIMARY KEY, name TEXT);
         CREATE TABLE dept (id INTEGER PRIMARY KEY, title TEXT);",
    );
    deploy_ok(
        &mut redis.client(),
        &sqlite_config(&db, &[]),
        &[("emp", &emp_job()), ("dept", &dept_job())],
    );
    redis
}

fn list_jobs(r: &mut redis::Connection) -> HashMap<String, HashMap<String, Value>> {
    items(&call(r, &["RDI.LIST-JOBS"]))
        .iter()
        .map(fields)
        .map(|f| (field_text(&f, "name"), f))
        .collect()
}

#[test]
fn list_jobs_names_each_job_with_pattern_outputs_and_pending() {
    let redis = deployed();
    let mut r = redis.client();
    call(&mut r, &["RDI.STOP"]);
    call(&mut r, &["HSET", "emp:1", "id", "1", "name", "a"]);
    call(&mut r, &["HSET", "emp:2", "id", "2", "name", "b"]);
    let jobs = list_jobs(&mut r);
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    let emp = &jobs["emp"];
    assert_eq!(field_text(emp, "key_pattern"), "emp:*");
    assert_eq!(field_int(emp, "pending"), 2);
    let outputs: Vec<String> = items(&emp["outputs"]).iter().map(string).collect();
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    assert!(
        outputs[0].contains("relational.write") && outputs[0].contains("emp"),
        "{outputs:?}"
    );
    let dept = &jobs["dept"];
    assert_eq!(field_text(dept, "key_pattern"), "dept:*");
    assert_eq!(field_int(dept, "pending"), 0);

    call(&mut r, &["RDI.START"]);
    drain(&mut r);
    assert_eq!(field_int(&list_jobs(&mut r)["emp"], "pending"), 0);
}

#[test]
fn describe_job_shows_the_yaml_as_deployed_and_the_counters() {
    let redis = deployed();
    let mut r = redis.client();
    call(&mut r, &["HSET", "emp:1", "id", "1", "name", "a"]);
    call(&mut r, &["HSET", "emp:2", "id", "2", "name", "b"]);
    drain(&mut r);
    call(&mut r, &["HSET", "emp:1", "name", "c"]);
    drain(&mut r);
    call(&mut r, &["DEL", "emp:2"]);
    drain(&mut r);

    let emp = fields(&call(&mut r, &["RDI.DESCRIBE-JOB", "emp"]));
    assert_eq!(field_text(&emp, "name"), "emp");
    assert_eq!(field_text(&emp, "yaml"), emp_job(), "the YAML as sent");
    assert_eq!(field_text(&emp, "key_pattern"), "emp:*");
    assert_eq!(field_int(&emp, "pending"), 0);
    assert_eq!(field_int(&emp, "inserted"), 2, "{emp:?}");
    assert_eq!(field_int(&emp, "updated"), 1, "{emp:?}");
    assert_eq!(field_int(&emp, "deleted"), 1, "{emp:?}");
    assert_eq!(field_int(&emp, "rejected"), 0, "{emp:?}");
    assert_eq!(field_int(&emp, "dlq_size"), 0, "{emp:?}");
    for name in [
        "outputs",
        "lag_ms",
        "batches",
        "retry_attempts",
        "last_error",
    ] {
        assert!(emp.contains_key(name), "no {name} in {emp:?}");
    }

    let dept = fields(&call(&mut r, &["RDI.DESCRIBE-JOB", "dept"]));
    assert_eq!(field_text(&dept, "yaml"), dept_job());
    assert_eq!(field_int(&dept, "inserted"), 0);
}
