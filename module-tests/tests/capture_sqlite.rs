//! The embedded SQLite target end to end: deploy, HSET/update/DEL, rows in the SQLite file.

use module_tests::yaml::{sqlite_config, sqlite_job};
use module_tests::{
    call, deploy_err, deploy_ok, drain, row, sqlite_target, RedisOpts, RedisServer, Status,
};

const DDL: &str = "CREATE TABLE emp (id INTEGER PRIMARY KEY, name TEXT, age INTEGER)";
const ALL: &str = "SELECT id, name, age, typeof(age) FROM emp ORDER BY id";

#[test]
fn hash_changes_reach_an_sqlite_file() {
    let redis = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    let db = redis.dir().join("target.db");
    sqlite_target::create(&db, DDL);
    let mut r = redis.client();
    deploy_ok(
        &mut r,
        &sqlite_config(&db, &[]),
        &[(
            "emp",
            &sqlite_job("emp:*", "emp", &["id"], &["name", "age"]),
        )],
    );

    call(
        &mut r,
        &["HSET", "emp:1", "id", "1", "name", "Alice", "age", "30"],
    );
    call(
        &mut r,
        &["HSET", "emp:2", "id", "2", "name", "Bob", "age", "40"],
    );
    call(&mut r, &["HSET", "emp:3", "id", "3", "name", "Carol"]);
    drain(&mut r);
    call(&mut r, &["HINCRBY", "emp:1", "age", "1"]);
    call(&mut r, &["DEL", "emp:2"]);
    drain(&mut r);

    assert_eq!(
        sqlite_target::rows(&db, ALL),
        vec![
            row(&["1", "Alice", "31", "integer"]),
            row(&["3", "Carol", "NULL", "null"])
        ]
    );
    let status = Status::query(&mut r);
    let lite = status.connection("lite");
    assert_eq!(
        (lite.kind.as_str(), lite.health.as_str()),
        ("sqlite", "ok"),
        "{}",
        status.raw
    );
    assert!(lite.location.contains("target.db"), "{}", status.raw);
    assert_eq!(
        (lite.host.as_deref(), lite.port),
        (None, None),
        "{}",
        status.raw
    );
    assert_eq!(status.job("emp").deleted, 1, "{}", status.raw);
}

#[test]
fn sqlite_job_for_a_missing_table_is_refused_naming_it() {
    let redis = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    let db = redis.dir().join("target.db");
    sqlite_target::create(&db, DDL);
    let job = sqlite_job("emp:*", "no_such_table", &["id"], &["name"]);
    let reply = deploy_err(
        &mut redis.client(),
        &sqlite_config(&db, &[]),
        &[("emp", &job)],
    );
    assert!(
        reply.starts_with("ERR") && reply.contains("no_such_table"),
        "{reply}"
    );
}

/// HDEL frees memory: like Redis's own HDEL, it must work when `maxmemory` is reached (the module
/// turns an HDEL of a tracked key into RDI.HDEL, which must not refuse it with OOM).
#[test]
fn hdel_of_a_tracked_key_works_at_maxmemory() {
    let redis = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    let db = sqlite_target::deploy_emp(&redis);
    let mut r = redis.client();
    call(
        &mut r,
        &["HSET", "emp:1", "id", "1", "name", "Ada", "x", "1"],
    );
    call(&mut r, &["HSET", "emp:2", "id", "2", "name", "Bob"]);
    drain(&mut r);
    call(&mut r, &["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    call(&mut r, &["CONFIG", "SET", "maxmemory", "1"]);
    let refused = module_tests::replies::call_err(&mut r, &["HSET", "emp:3", "id", "3"]);
    assert!(refused.starts_with("OOM"), "memory is full: {refused}");
    let removed = module_tests::replies::try_call(&mut r, &["HDEL", "emp:1", "x"]);
    assert_eq!(
        removed,
        Ok(redis::Value::Int(1)),
        "HDEL of a field at maxmemory"
    );
    let emptied = module_tests::replies::try_call(&mut r, &["HDEL", "emp:2", "id", "name"]);
    assert_eq!(
        emptied,
        Ok(redis::Value::Int(2)),
        "HDEL of the last fields at maxmemory"
    );
    call(&mut r, &["CONFIG", "SET", "maxmemory", "0"]);
    drain(&mut r);
    assert_eq!(
        sqlite_target::rows(&db, "SELECT id, name FROM emp ORDER BY id"),
        vec![row(&["1", "Ada"])],
        "emp:2's row is deleted"
    );
}
