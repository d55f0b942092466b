//! The dead-letter queue is capped at `applier.dlq_max_messages`, oldest first out, and
//! `error_handling: ignore` counts rejections without keeping them; the dead letters outlive the job.

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

    // Undeploying keeps the dead letters, and they can still be read by job name.
    call(&mut r, &["RDI.UNDEPLOY"]);
    let kept = call(&mut r, &["RDI.GET-REJECTED", "JOB", "emp", "COUNT", "10"]);
    let redis::Value::Array(records) = &kept else {
        panic!("{kept:?}")
    };
    assert_eq!(records.len(), 4, "{kept:?}");
    let unknown = module_tests::replies::call_err(&mut r, &["RDI.GET-REJECTED", "JOB", "nope"]);
    assert!(unknown.contains("no job named `nope`"), "{unknown}");
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

#[test]
fn a_key_that_is_no_longer_a_hash_or_json_when_read_is_rejected_naming_its_type() {
    let redis = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    let db = redis.dir().join("t.db");
    sqlite_target::create(&db, DDL);
    let mut r = redis.client();
    deploy_ok(
        &mut r,
        &sqlite_config(&db, &[]),
        &[("emp", &sqlite_job("emp:*", "emp", &["id"], &["age"]))],
    );
    // A key of another type reaches a writer when it was a hash when queued and is something else when
    // read, and when a command creates it under the pattern.
    call(&mut r, &["RDI.STOP"]);
    let others: [&[&str]; 5] = [
        &["SET", "emp:s", "x"],
        &["RPUSH", "emp:l", "x"],
        &["SADD", "emp:set", "x"],
        &["ZADD", "emp:z", "1", "x"],
        &["XADD", "emp:x", "*", "f", "v"],
    ];
    for (i, command) in others.iter().enumerate() {
        let id = (10 + i).to_string();
        call(&mut r, &["HSET", command[1], "id", &id, "age", "1"]);
        call(&mut r, &["DEL", command[1]]);
        call(&mut r, command);
    }
    // Created as a string, never a hash: counted once, when created.
    call(&mut r, &["SET", "emp:str", "x"]);
    call(&mut r, &["APPEND", "emp:str", "y"]);
    call(&mut r, &["HSET", "emp:1", "id", "1", "age", "40"]);
    call(
        &mut r,
        &["JSON.SET", "emp:2", "$", r#"{"id": 2, "age": 41}"#],
    );
    call(&mut r, &["RDI.START"]);
    drain(&mut r);
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("__rdi__:dlq:emp")
        .arg("-")
        .arg("+")
        .query(&mut r)
        .unwrap();
    let field = |fields: &[(String, String)], name: &str| {
        fields.iter().find(|(f, _)| f == name).unwrap().1.clone()
    };
    let mut got: Vec<(String, String)> = entries
        .iter()
        .map(|(_, f)| (field(f, "key"), field(f, "reason")))
        .collect();
    got.sort();
    let reason =
        |t: &str| format!("unsupported type: key holds a {t}, not a hash or JSON document");
    assert_eq!(
        got,
        [
            ("emp:l".to_string(), reason("list")),
            ("emp:s".to_string(), reason("string")),
            ("emp:set".to_string(), reason("set")),
            ("emp:str".to_string(), reason("string")),
            ("emp:x".to_string(), reason("stream")),
            ("emp:z".to_string(), reason("zset")),
        ]
    );
    assert_eq!(
        sqlite_target::rows(&db, "SELECT id, age FROM emp ORDER BY id"),
        [
            [Some("1".to_string()), Some("40".to_string())],
            [Some("2".to_string()), Some("41".to_string())]
        ]
    );
}

#[test]
fn a_mapped_hash_value_that_is_not_utf8_is_rejected_not_written_changed() {
    let redis = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    let db = redis.dir().join("t.db");
    sqlite_target::create(&db, "CREATE TABLE emp (id INTEGER PRIMARY KEY, name TEXT)");
    let mut r = redis.client();
    deploy_ok(
        &mut r,
        &sqlite_config(&db, &[]),
        &[("emp", &sqlite_job("emp:*", "emp", &["id"], &["name"]))],
    );
    redis::cmd("HSET")
        .arg("emp:1")
        .arg("id")
        .arg("1")
        .arg("name")
        .arg(&b"caf\xe9"[..])
        .query::<i64>(&mut r)
        .unwrap();
    call(&mut r, &["HSET", "emp:2", "id", "2", "name", "café"]);
    // Binary data in a field the job does not map: written without it.
    redis::cmd("HSET")
        .arg("emp:3")
        .arg("id")
        .arg("3")
        .arg("name")
        .arg("c")
        .arg("thumb")
        .arg(&b"\x89PNG\xff\x00"[..])
        .query::<i64>(&mut r)
        .unwrap();
    drain(&mut r);
    let rows = sqlite_target::rows(&db, "SELECT id, name FROM emp ORDER BY id");
    let row = |id: &str, name: &str| vec![Some(id.to_string()), Some(name.to_string())];
    assert_eq!(
        rows,
        [row("2", "café"), row("3", "c")],
        "the value with a Latin-1 byte is not written as U+FFFD"
    );
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("__rdi__:dlq:emp")
        .arg("-")
        .arg("+")
        .query(&mut r)
        .unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let fields = &entries[0].1;
    assert!(fields.contains(&("key".to_string(), "emp:1".to_string())));
    let reason = &fields.iter().find(|(f, _)| f == "reason").unwrap().1;
    assert!(
        reason.contains("field `name`") && reason.contains("not UTF-8"),
        "{reason}"
    );
}
