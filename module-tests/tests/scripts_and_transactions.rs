//! Writes made inside MULTI/EXEC, Lua scripts (EVAL) and functions (FCALL) are captured like any other:
//! one execution unit, its changes appended together after it, in order.

use module_tests::{call, drain, sqlite_emp, sqlite_target, RedisOpts, Status};
use std::path::Path;

fn rows(db: &Path) -> Vec<(String, String)> {
    sqlite_target::rows(db, "SELECT id, name FROM emp ORDER BY id")
        .into_iter()
        .map(|r| {
            (
                r[0].clone().unwrap_or_default(),
                r[1].clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn transactions_scripts_and_functions_are_captured() {
    let (redis, db) = sqlite_emp(RedisOpts::redis74());
    let mut r = redis.client();

    // MULTI/EXEC: a create, an update and a delete of another key, in one unit.
    call(&mut r, &["HSET", "emp:9", "id", "9", "name", "gone"]);
    drain(&mut r);
    call(&mut r, &["MULTI"]);
    call(&mut r, &["HSET", "emp:1", "id", "1", "name", "a"]);
    call(&mut r, &["HSET", "emp:1", "name", "a2"]);
    call(&mut r, &["DEL", "emp:9"]);
    call(&mut r, &["EXEC"]);
    drain(&mut r);
    assert_eq!(rows(&db), pairs(&[("1", "a2")]));

    // A Lua script: writes two keys, deletes one of them (and its last field through HDEL).
    let script = "redis.call('HSET', KEYS[1], 'id', '2', 'name', 'b') \
                  redis.call('HSET', KEYS[2], 'id', '3', 'name', 'c') \
                  redis.call('HDEL', KEYS[1], 'id', 'name') \
                  return 1";
    call(&mut r, &["EVAL", script, "2", "emp:2", "emp:3"]);
    drain(&mut r);
    assert_eq!(rows(&db), pairs(&[("1", "a2"), ("3", "c")]));

    // A function.
    let library = "#!lua name=emp\n\
                   redis.register_function('rename', function(keys, args) \
                   return redis.call('HSET', keys[1], 'name', args[1]) end)";
    call(&mut r, &["FUNCTION", "LOAD", library]);
    call(&mut r, &["FCALL", "rename", "1", "emp:3", "c2"]);
    drain(&mut r);
    assert_eq!(rows(&db), pairs(&[("1", "a2"), ("3", "c2")]));

    let status = Status::query(&mut r);
    let job = status.job("emp");
    assert_eq!((job.rejected, job.pending), (0, 0), "{}", status.raw);
}

/// The commands that answer from a thread cannot block a client inside MULTI/EXEC. Redis would answer
/// them with an error and still let them act (a secret stored, a deploy applied, a session opened):
/// they are refused before they do anything.
#[test]
fn commands_answering_from_a_thread_are_refused_inside_a_transaction_and_do_nothing() {
    let (redis, _db) = sqlite_emp(RedisOpts::redis74());
    let mut r = redis.client();
    let before = call(&mut r, &["RDI.LIST-JOBS"]);
    for words in [
        vec!["RDI.SET-SECRET", "in_multi", "value"],
        vec!["RDI.UNDEPLOY", "FORCE"],
        vec!["RDI.DEPLOY", "CONFIG", "x: 1", "JOB", "j", "y: 1"],
        vec!["RDI.TRACE", "COUNT", "1", "TIMEOUT", "1"],
        vec!["RDI.WAIT", "10"],
    ] {
        call(&mut r, &["MULTI"]);
        call(&mut r, &words);
        // The error is inside EXEC's reply: the client may give it as the reply or as an error.
        let text = match redis::cmd("EXEC").query::<redis::Value>(&mut r) {
            Ok(v) => format!("{v:?}"),
            Err(e) => e.to_string(),
        };
        assert!(
            text.contains("cannot run inside MULTI/EXEC"),
            "{words:?}: {text}"
        );
    }
    assert!(!redis.dir().join("rdi-secrets.json").exists());
    assert_eq!(
        call(&mut r, &["RDI.LIST-JOBS"]),
        before,
        "nothing undeployed"
    );

    // On their own they work.
    call(&mut r, &["RDI.SET-SECRET", "in_multi", "value"]);
    assert!(redis.dir().join("rdi-secrets.json").exists());
    call(&mut r, &["HSET", "emp:1", "id", "1", "name", "a"]);
    drain(&mut r);
}
