//! RDI.STOP / RDI.START pause and resume the writers while capture goes on; RDI.UNDEPLOY refuses to
//! drop pending changes unless FORCE, then removes the pipeline and its queues.

use module_tests::replies::{call_err, field_text, fields, items, string, try_call};
use module_tests::yaml::{sqlite_config, sqlite_job};
use module_tests::{
    call, deploy_ok, drain, rdi_wait, sqlite_target, wait_until, RedisOpts, RedisServer, Status,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

const COUNT: &str = "SELECT count(*) FROM emp";

/// Redis with the SQLite job `emp` (`emp:*` → table emp) deployed; the SQLite file's path.
fn deployed() -> (RedisServer, PathBuf, String) {
    let redis = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    let db = redis.dir().join("target.db");
    sqlite_target::create(&db, "CREATE TABLE emp (id INTEGER PRIMARY KEY, name TEXT)");
    let config = sqlite_config(&db, &[]);
    deploy_ok(&mut redis.client(), &config, &[("emp", &job())]);
    (redis, db, config)
}

fn job() -> String {
    sqlite_job("emp:*", "emp", &["id"], &["name"])
}

fn hset(r: &mut redis::Connection, id: usize) {
    let (key, id) = (format!("emp:{id}"), id.to_string());
    call(r, &["HSET", &key, "id", &id, "name", &format!("n{id}")]);
}

fn rows(db: &Path) -> i64 {
    sqlite_target::rows(db, COUNT)[0][0]
        .as_deref()
        .unwrap()
        .parse()
        .unwrap()
}

fn exists(r: &mut redis::Connection, key: &str) -> bool {
    redis::cmd("EXISTS").arg(key).query::<i64>(r).unwrap() == 1
}

#[test]
fn stop_queues_changes_without_writing_and_start_delivers_them() {
    let (redis, db, _) = deployed();
    let mut r = redis.client();
    (1..=3).for_each(|i| hset(&mut r, i));
    drain(&mut r);
    assert_eq!(rows(&db), 3);

    assert_eq!(string(&call(&mut r, &["RDI.STOP"])), "OK");
    let status = Status::query(&mut r);
    assert_eq!(status.engine, "STOPPED", "{}", status.raw);
    (4..=53).for_each(|i| hset(&mut r, i));
    call(&mut r, &["HSET", "emp:1", "name", "renamed"]);
    // Capture goes on: the 51 changes are queued at once.
    assert_eq!(Status::query(&mut r).job("emp").pending, 51);
    // Nothing is written while stopped: RDI.WAIT times out naming the job, the target is unchanged.
    let timeout = rdi_wait(&mut r, 700).expect_err("RDI.WAIT must time out while stopped");
    assert!(
        timeout.starts_with("TIMEOUT") && timeout.contains("emp"),
        "{timeout}"
    );
    let status = Status::query(&mut r);
    assert_eq!(status.engine, "STOPPED", "{}", status.raw);
    assert_eq!(status.job("emp").pending, 51, "{}", status.raw);
    assert!(status.job("emp").lag_ms >= 700, "{}", status.raw);
    assert_eq!(rows(&db), 3);

    assert_eq!(string(&call(&mut r, &["RDI.START"])), "OK");
    drain(&mut r);
    let status = Status::query(&mut r);
    assert_eq!(status.engine, "RUNNING", "{}", status.raw);
    assert_eq!(status.job("emp").pending, 0, "{}", status.raw);
    assert_eq!(rows(&db), 53);
    assert_eq!(
        sqlite_target::rows(&db, "SELECT name FROM emp WHERE id = 1")[0][0].as_deref(),
        Some("renamed")
    );
}

#[test]
fn undeploy_is_refused_while_changes_are_pending_and_names_the_job() {
    let (redis, db, _) = deployed();
    let mut r = redis.client();
    call(&mut r, &["RDI.STOP"]);
    (1..=5).for_each(|i| hset(&mut r, i));
    let refused = call_err(&mut r, &["RDI.UNDEPLOY"]);
    assert!(
        refused.starts_with("ERR")
            && refused.contains("emp: 5")
            && refused.contains("FORCE")
            && refused.contains("RDI.WAIT"),
        "{refused}"
    );
    // Nothing was removed.
    assert!(exists(&mut r, "__rdi__:deploy"));
    assert!(exists(&mut r, "__rdi__:queue:emp"));
    assert_eq!(Status::query(&mut r).job("emp").pending, 5);

    let forced = string(&call(&mut r, &["RDI.UNDEPLOY", "FORCE"]));
    assert!(
        forced.starts_with("OK") && forced.contains("5 pending"),
        "{forced}"
    );
    let status = Status::query(&mut r);
    assert_eq!(status.engine, "NOT DEPLOYED", "{}", status.raw);
    assert!(status.jobs.is_empty(), "{}", status.raw);
    assert!(!exists(&mut r, "__rdi__:deploy"));
    assert!(!exists(&mut r, "__rdi__:queue:emp"));
    assert_eq!(items(&call(&mut r, &["RDI.LIST-JOBS"])).len(), 0);

    // New writes are not captured any more.
    call(&mut r, &["RDI.START"]);
    (6..=8).for_each(|i| hset(&mut r, i));
    let own: Vec<String> = redis::cmd("KEYS").arg("__rdi__:*").query(&mut r).unwrap();
    assert!(
        own.is_empty(),
        "keys left or created after undeploy: {own:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rows(&db), 0);
}

#[test]
fn undeploy_without_pending_changes_replies_ok_and_a_redeploy_captures_again() {
    let (redis, db, config) = deployed();
    let mut r = redis.client();
    hset(&mut r, 1);
    drain(&mut r);
    call(&mut r, &["RDI.RESET"]);
    wait_until(Duration::from_secs(10), "the backfill ends", || {
        reset_of(&mut r).is_some_and(|state| state == "done")
    });
    drain(&mut r);
    let reply = try_call(&mut r, &["RDI.UNDEPLOY"]).expect("undeploy with nothing pending");
    assert_eq!(string(&reply), "OK");
    assert_eq!(Status::query(&mut r).engine, "NOT DEPLOYED");
    let again = call_err(&mut r, &["RDI.UNDEPLOY"]);
    assert!(again.contains("nothing is deployed"), "{again}");

    deploy_ok(&mut r, &config, &[("emp", &job())]);
    assert_eq!(
        reset_of(&mut r),
        None,
        "the old backfill is not shown for the new job"
    );
    hset(&mut r, 2);
    drain(&mut r);
    wait_until(Duration::from_secs(5), "emp:2 arrives", || rows(&db) == 2);
    assert_eq!(Status::query(&mut r).engine, "RUNNING");
}

/// The state of job `emp`'s backfill in RDI.STATUS, if one is shown.
fn reset_of(r: &mut redis::Connection) -> Option<String> {
    let status = fields(&call(r, &["RDI.STATUS"]));
    let jobs = fields(&status["jobs"]);
    fields(&jobs["emp"])
        .get("reset")
        .map(|reset| field_text(&fields(reset), "state"))
}

/// RDI.WAIT is `@read` and each call has a thread looking at the queues under the server lock: at
/// most 64 are blocked at once, the next is refused until one returns.
#[test]
fn at_most_64_rdi_wait_calls_block_at_once() {
    use std::io::{Read, Write};
    let (redis, _db, _) = deployed();
    let mut r = redis.client();
    call(&mut r, &["RDI.STOP"]);
    call(&mut r, &["HSET", "emp:1", "id", "1", "name", "a"]);
    // Raw connections, each sending RDI.WAIT without reading its reply yet.
    let mut waiters: Vec<std::net::TcpStream> = (0..64)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", redis.port())).unwrap();
            s.write_all(b"RDI.WAIT 30000\r\n").unwrap();
            s
        })
        .collect();
    wait_until(Duration::from_secs(10), "64 clients blocked", || {
        let info: String = redis::cmd("INFO").arg("clients").query(&mut r).unwrap();
        info.contains("blocked_clients:64")
    });
    let e = call_err(&mut r, &["RDI.WAIT", "100"]);
    assert!(e.contains("64 RDI.WAIT calls are blocked already"), "{e}");
    call(&mut r, &["RDI.START"]);
    for w in &mut waiters {
        w.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut reply = [0u8; 64];
        let n = w.read(&mut reply).unwrap();
        let text = String::from_utf8_lossy(&reply[..n]).to_string();
        assert!(text.contains("written"), "{text}");
    }
    // Their threads have ended: a new call is served.
    wait_until(Duration::from_secs(5), "a new RDI.WAIT is accepted", || {
        rdi_wait(&mut r, 1000).is_ok()
    });
}
