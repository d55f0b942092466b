//! The queue entry's format: `k <key> o <opcode>`, and `v <value>` for a delete. Entries queued by
//! versions that also stored the event name (`e <event>`) are still applied after an upgrade.

use module_tests::replies::string;
use module_tests::{call, drain, sqlite_target, RedisOpts, RedisServer};

const QUEUE: &str = "__rdi__:queue:emp";

/// The field-value pairs of every entry of the queue, oldest first.
fn entries(r: &mut redis::Connection) -> Vec<Vec<String>> {
    let all: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg(QUEUE)
        .arg("-")
        .arg("+")
        .query(r)
        .unwrap();
    all.into_iter().map(|(_, fields)| fields).collect()
}

#[test]
fn entries_hold_key_and_opcode_and_old_entries_with_an_event_are_still_applied() {
    let redis = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    let mut r = redis.client();
    // Written before the deploy, so not captured: only the old-format entry below brings it.
    call(&mut r, &["HSET", "emp:3", "id", "3", "name", "y"]);
    let db = sqlite_target::deploy_emp(&redis);
    assert_eq!(string(&call(&mut r, &["RDI.STOP"])), "OK");

    call(&mut r, &["HSET", "emp:1", "id", "1", "name", "a"]);
    call(&mut r, &["HSET", "emp:1", "name", "b"]);
    call(&mut r, &["DEL", "emp:1"]);
    let queued = entries(&mut r);
    assert_eq!(queued.len(), 3, "{queued:?}");
    assert_eq!(queued[0], ["k", "emp:1", "o", "c"]);
    assert_eq!(queued[1], ["k", "emp:1", "o", "u"]);
    assert_eq!(queued[2][..5], ["k", "emp:1", "o", "d", "v"]);
    // What the delete needs of the value the key had just before the DEL: the job's key field (the
    // job reads nothing else on delete, so `name` is not read).
    assert_eq!(queued[2][5], r#"{"id":"1"}"#);

    // An entry as earlier versions wrote it, with the event name.
    call(&mut r, &["HSET", "emp:2", "id", "2", "name", "x"]);
    call(
        &mut r,
        &["XADD", QUEUE, "*", "k", "emp:3", "o", "c", "e", "hset"],
    );
    assert_eq!(entries(&mut r).len(), 5);

    assert_eq!(string(&call(&mut r, &["RDI.START"])), "OK");
    let done = drain(&mut r);
    assert_eq!(
        sqlite_target::rows(&db, "SELECT id, name FROM emp ORDER BY id"),
        vec![
            vec![Some("2".to_string()), Some("x".to_string())],
            vec![Some("3".to_string()), Some("y".to_string())],
        ],
        "{done:?}"
    );
    assert_eq!(entries(&mut r).len(), 0);
}
