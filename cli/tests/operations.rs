//! The operator's round trip with `redis-di` against Redis 7.4 with the module: scaffold, edit,
//! deploy, list and describe jobs, get-rejected, reset (backfill), stop/start, wait, secrets, undeploy.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{call, command, deployed_with_age, json, ok, redis_di, server, sqlite_target};
use module_tests::row;

const ROWS: &str = "SELECT first_name, last_name, age FROM emp ORDER BY first_name";

#[test]
fn operator_round_trip() {
    let redis = server();
    let port = redis.port();
    let work = tempfile::tempdir().unwrap();
    deployed_with_age(&redis, work.path());
    let db = redis.dir().join("rdi.db");
    let mut r = redis.client();

    let jobs = ok(port, &["list-jobs"]);
    assert!(
        jobs.stdout
            .starts_with("JOB  PATTERN  PENDING  OUTPUTS\nemp  emp:*"),
        "{jobs:?}"
    );
    let described = ok(port, &["describe-job", "emp"]);
    assert!(
        described.stdout.contains("key_pattern: emp:*"),
        "{described:?}"
    );
    assert!(
        described
            .stdout
            .contains("--- as deployed ---\n# One job per key pattern"),
        "{described:?}"
    );
    let missing = redis_di(port, &["describe-job", "nope"]);
    assert!(
        !missing.ok && missing.stderr.contains("nope"),
        "{missing:?}"
    );

    call(
        &mut r,
        &[
            "HSET",
            "emp:1",
            "first_name",
            "Ada",
            "last_name",
            "Lovelace",
            "age",
            "36",
        ],
    );
    call(
        &mut r,
        &[
            "HSET",
            "emp:2",
            "first_name",
            "Bob",
            "last_name",
            "Bad",
            "age",
            "old",
        ],
    );
    ok(port, &["wait", "--timeout-ms", "30000"]);
    assert_eq!(
        sqlite_target::rows(&db, ROWS),
        vec![row(&["Ada", "Lovelace", "36"])]
    );

    let rejected = json(port, &["get-rejected", "--job", "emp"]);
    let items = rejected.as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "{rejected:#}");
    assert_eq!(items[0]["key"], "emp:2", "{rejected:#}");
    let table = ok(port, &["get-rejected", "--count", "5", "--oldest"]);
    assert!(
        table
            .stdout
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains("emp:2")),
        "{table:?}"
    );

    // Backfill: the rows vanish from the target, RDI.RESET queues every key again.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM emp", [])
        .unwrap();
    let reset = ok(port, &["reset", "--job", "emp"]);
    assert!(
        reset.stdout.starts_with("backfill scan ended after "),
        "{reset:?}"
    );
    assert!(reset.stdout.contains(": 2 key(s) queued"), "{reset:?}");
    ok(port, &["wait", "--timeout-ms", "30000"]);
    assert_eq!(
        sqlite_target::rows(&db, ROWS),
        vec![row(&["Ada", "Lovelace", "36"])]
    );
    let status = json(port, &["status"]);
    assert_eq!(
        status["jobs"]["emp"]["reset"]["state"], "done",
        "{status:#}"
    );
    assert_eq!(status["jobs"]["emp"]["rejected"], 2, "{status:#}");

    // Stopped: capture goes on, nothing is written, wait times out with a one-line reason.
    ok(port, &["stop"]);
    assert_eq!(json(port, &["status"])["engine"], "STOPPED");
    call(
        &mut r,
        &[
            "HSET",
            "emp:3",
            "first_name",
            "Cy",
            "last_name",
            "Young",
            "age",
            "50",
        ],
    );
    let timed_out = redis_di(port, &["wait", "--timeout-ms", "300"]);
    assert_eq!(timed_out.code, Some(1), "{timed_out:?}");
    assert!(
        timed_out.stderr.starts_with("redis-di: TIMEOUT"),
        "{timed_out:?}"
    );
    assert_eq!(json(port, &["status"])["jobs"]["emp"]["pending"], 1);
    ok(port, &["start"]);
    ok(port, &["wait", "--timeout-ms", "30000"]);
    assert_eq!(sqlite_target::rows(&db, ROWS).len(), 2);

    // A secret from stdin is stored and never echoed.
    let mut child = command(port, &["set-secret", "pg-password"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hunter2-value\n")
        .unwrap();
    let out = common::Run::from(child.wait_with_output().unwrap());
    assert!(out.ok, "{out:?}");
    assert_eq!(out.stdout, "secret `pg-password` stored\n");
    assert!(!out.stderr.contains("hunter2"));

    ok(port, &["undeploy"]);
    assert_eq!(json(port, &["status"])["engine"], "NOT DEPLOYED");
    assert_eq!(ok(port, &["list-jobs"]).stdout, "no jobs deployed\n");
}

#[test]
fn undeploy_refuses_pending_changes_unless_forced() {
    let redis = server();
    let port = redis.port();
    let work = tempfile::tempdir().unwrap();
    deployed_with_age(&redis, work.path());
    ok(port, &["stop"]);
    let mut r = redis.client();
    call(
        &mut r,
        &["HSET", "emp:9", "first_name", "Pat", "last_name", "Pending"],
    );
    let refused = redis_di(port, &["undeploy"]);
    assert!(!refused.ok, "{refused:?}");
    assert_eq!(refused.stderr.lines().count(), 1, "{refused:?}");
    ok(port, &["undeploy", "--force"]);
    assert_eq!(json(port, &["status"])["engine"], "NOT DEPLOYED");
}

#[test]
fn a_user_without_info_gets_the_refusal_of_the_command_it_ran() {
    let redis = server();
    let port = redis.port();
    let work = tempfile::tempdir().unwrap();
    deployed_with_age(&redis, work.path());
    call(
        &mut redis.client(),
        &[
            "ACL",
            "SETUSER",
            "watcher",
            "reset",
            "on",
            ">pw",
            "~*",
            "+rdi.status",
            "+rdi.list-jobs",
        ],
    );
    let as_watcher = |args: &[&str]| {
        let mut all = vec!["--rdi-user", "watcher", "--rdi-password", "pw"];
        all.extend_from_slice(args);
        redis_di(port, &all)
    };
    let jobs = as_watcher(&["list-jobs"]);
    assert!(jobs.ok && jobs.stdout.contains("emp"), "{jobs:?}");
    let stop = as_watcher(&["stop"]);
    assert!(!stop.ok, "{stop:?}");
    assert!(
        stop.stderr.contains("NOPERM") && stop.stderr.to_lowercase().contains("rdi.stop"),
        "the refusal names RDI.STOP: {stop:?}"
    );
    assert!(!stop.stderr.to_lowercase().contains("'info'"), "{stop:?}");
}
