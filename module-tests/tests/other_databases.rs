//! The module captures database 0, where its queues and deployment live (the only database of Redis
//! Cluster). A write to a tracked key in another database used to create a queue in that database,
//! which no writer ever read: the change was lost without a word. Now it is not captured, and
//! RDI.STATUS and the log say so; a key moved out of database 0 is a delete there.

use module_tests::{call, drain, sqlite_emp, sqlite_target, RedisOpts, Status};
use std::path::Path;

fn ids(db: &Path) -> Vec<String> {
    sqlite_target::rows(db, "SELECT id FROM emp ORDER BY id")
        .into_iter()
        .filter_map(|r| r[0].clone())
        .collect()
}

fn exists(r: &mut redis::Connection, key: &str) -> bool {
    redis::cmd("EXISTS")
        .arg(key)
        .query::<i64>(r)
        .expect("EXISTS")
        == 1
}

#[test]
fn writes_in_another_database_are_not_captured_and_status_says_so() {
    let (redis, db) = sqlite_emp(RedisOpts::redis74());
    let mut r = redis.client();

    call(&mut r, &["HSET", "emp:1", "id", "1", "name", "a"]);
    call(&mut r, &["HSET", "emp:2", "id", "2", "name", "b"]);
    drain(&mut r);
    assert_eq!(ids(&db), ["1", "2"]);

    let mut other = redis.client();
    call(&mut other, &["SELECT", "3"]);
    call(&mut other, &["HSET", "emp:3", "id", "3", "name", "c"]);
    call(&mut other, &["HSET", "emp:3", "name", "c2"]);
    assert!(
        !exists(&mut other, "__rdi__:queue:emp"),
        "no queue may be made in database 3, where nothing reads it"
    );
    // MOVE takes emp:2 out of database 0: a delete there; its arrival in database 3 is not captured.
    call(&mut r, &["MOVE", "emp:2", "3"]);
    drain(&mut r);
    assert_eq!(ids(&db), ["1"]);
    assert!(!exists(&mut other, "__rdi__:queue:emp"));

    let status = Status::query(&mut r);
    assert!(
        status
            .raw
            .contains("writes to its keys in database 3 are not captured"),
        "{}",
        status.raw
    );
    let log = redis.log();
    assert_eq!(
        log.matches("in database 3 are not captured").count(),
        1,
        "warned once per job and database:\n{log}"
    );
}

/// The (job, database) pairs warned about are kept up to 256; past them, one warning says so and no
/// later write logs anything (before, each write to a further pair logged a warning).
#[test]
fn past_256_databases_written_one_warning_says_so_and_the_log_stays_quiet() {
    let (redis, _db) = sqlite_emp(RedisOpts::redis74().arg("--databases").arg("300"));
    let mut other = redis.client();
    for db in 1..=270 {
        call(&mut other, &["SELECT", &db.to_string()]);
        call(&mut other, &["HSET", "emp:1", "id", "1"]);
        call(&mut other, &["HSET", "emp:1", "name", "again"]);
    }
    let log = redis.log();
    assert_eq!(
        log.matches("are not captured").count(),
        256,
        "{}",
        &log[log.len().saturating_sub(2000)..]
    );
    assert_eq!(log.matches("further ones are not reported").count(), 1);
    let mut r = redis.client();
    let status = Status::query(&mut r);
    assert!(
        status
            .raw
            .contains("256 (job, database) pairs other than database 0"),
        "{}",
        status.raw
    );
}

/// FLUSHDB of another database leaves the pipeline alone and says nothing; SWAPDB with database 0
/// moves the queues away from the writers and emits no key events: RDI.STATUS says so. Swapping back
/// brings the pending changes back to the writers.
#[test]
fn swapdb_with_database_0_is_reported_and_a_flush_of_another_database_is_not() {
    let (redis, db) = sqlite_emp(RedisOpts::redis74());
    let mut r = redis.client();

    let mut other = redis.client();
    call(&mut other, &["SELECT", "3"]);
    call(&mut other, &["SET", "unrelated", "x"]);
    call(&mut other, &["FLUSHDB"]);
    let status = Status::query(&mut r);
    assert!(!status.raw.contains("FLUSH"), "{}", status.raw);

    assert_eq!(
        module_tests::replies::string(&call(&mut r, &["RDI.STOP"])),
        "OK"
    );
    call(&mut r, &["HSET", "emp:1", "id", "1", "name", "a"]);
    call(&mut r, &["SWAPDB", "0", "1"]);
    let status = Status::query(&mut r);
    assert!(
        status.raw.contains("SWAPDB 0 1 ran") && status.raw.contains("went to database 1"),
        "{}",
        status.raw
    );
    call(&mut r, &["SWAPDB", "0", "1"]);
    assert_eq!(
        module_tests::replies::string(&call(&mut r, &["RDI.START"])),
        "OK"
    );
    drain(&mut r);
    assert_eq!(ids(&db), ["1"]);
}
