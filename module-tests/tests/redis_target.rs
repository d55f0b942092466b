//! `redis.write` end to end: hashes `emp:*` of one Redis arrive in a second Redis as hashes and as JSON
//! documents, updates and deletes follow; a key expression the job would capture is refused.

use module_tests::{call, deploy_err, deploy_ok, drain, RedisOpts, RedisServer, Status};
use redis::Value;

const PASSWORD: &str = "target-pass-never-shown-4c1e";

fn config(target: &RedisServer) -> String {
    format!(
        "connections:\n  target:\n    type: redis\n    host: 127.0.0.1\n    port: {}\n    password: {PASSWORD}\n",
        target.port()
    )
}

const HASH_JOB: &str = "source:\n  redis:\n    key_pattern: emp:*\n    trigger: write-behind\n\
output:\n  - uses: redis.write\n    with:\n      key:\n        expression: concat(['emp_copy:', id])\n        \
language: jmespath\n      mapping:\n        - id\n        - name: full_name\n";

const JSON_JOB: &str = "source:\n  redis:\n    key_pattern: emp:*\n    trigger: write-behind\n\
output:\n  - uses: redis.write\n    with:\n      connection: target\n      data_type: json\n      key:\n        \
expression: \"'emp_doc:' || id\"\n        language: sql\n      mapping:\n        - id\n        - city: address.city\n";

fn text(v: Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

#[test]
fn hashes_reach_a_second_redis_as_hashes_and_json() {
    let target = RedisServer::start(RedisOpts::redis74().without_module()).expect("start target");
    let mut t = target.client();
    call(&mut t, &["CONFIG", "SET", "requirepass", PASSWORD]);
    call(&mut t, &["AUTH", PASSWORD]);
    let source = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    let mut r = source.client();
    deploy_ok(
        &mut r,
        &config(&target),
        &[("copy", HASH_JOB), ("docs", JSON_JOB)],
    );

    call(
        &mut r,
        &["HSET", "emp:1", "id", "1", "name", "Ada", "city", "Oslo"],
    );
    call(&mut r, &["HSET", "emp:2", "id", "2", "name", "Bob"]);
    drain(&mut r);
    assert_eq!(
        text(call(&mut t, &["HGET", "emp_copy:1", "full_name"])).as_deref(),
        Some("Ada")
    );
    assert_eq!(
        text(call(&mut t, &["HGET", "emp_copy:2", "id"])).as_deref(),
        Some("2")
    );
    let doc = text(call(&mut t, &["JSON.GET", "emp_doc:1"])).unwrap_or_default();
    assert_eq!(doc, r#"{"id":"1","address":{"city":"Oslo"}}"#);

    call(&mut r, &["HSET", "emp:1", "name", "Ada L."]);
    call(&mut r, &["DEL", "emp:2"]);
    drain(&mut r);
    assert_eq!(
        text(call(&mut t, &["HGET", "emp_copy:1", "full_name"])).as_deref(),
        Some("Ada L.")
    );
    assert_eq!(
        call(&mut t, &["EXISTS", "emp_copy:2", "emp_doc:2"]),
        Value::Int(0)
    );

    let status = Status::query(&mut r);
    let conn = status.connection("target");
    assert_eq!(
        (conn.kind.as_str(), conn.health.as_str()),
        ("redis", "ok"),
        "{}",
        status.raw
    );
    assert_eq!(status.job("copy").rejected, 0, "{}", status.raw);
    assert!(!status.raw.contains(PASSWORD), "{}", status.raw);
    // The writes of the jobs are not captured again: the source has only the two hashes' keys and the module's.
    assert_eq!(call(&mut r, &["EXISTS", "emp_copy:1"]), Value::Int(0));
}

#[test]
fn a_key_expression_the_job_would_capture_is_refused() {
    let target = RedisServer::start(RedisOpts::redis74().without_module()).expect("start target");
    let source = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    let job = HASH_JOB.replace("emp_copy:", "emp:copy:");
    let reply = deploy_err(&mut source.client(), &config(&target), &[("copy", &job)]);
    assert!(
        reply.contains("jobs/copy.yaml:9:21: output[0].with.key.expression: the key expression may produce keys that this job captures"),
        "{reply}"
    );
}
