//! Issue 5, must-show 3: an APPEND job (audit rows, no unique key) whose Redis dies between the commit
//! of a batch in PostgreSQL, MariaDB or SQLite and its acknowledgement in the queue (the module's test hook
//! `RDI_TEST_ABORT_BEFORE_ACK` aborts the process exactly there, as `kill -9` would). After a restart
//! from the AOF the batch is replayed: with `applier.exactly_once: true` the checkpoint table makes the
//! writer skip it (no duplicate rows); with it off every replayed change is appended a second time.

use module_tests::replies::try_call;
use module_tests::targets::{Target, TargetKind};
use module_tests::{
    call, deploy_ok, drain_within, wait_until, RedisOpts, RedisServer, Status, FAST_RETRY,
};
use std::time::Duration;

/// Audit records written before the crash, all in one batch.
const N: usize = 50;
const JOB: &str = "audit";
const QUEUE: &str = "__rdi__:queue:audit";
const DDL: &str = "CREATE TABLE audit (id integer NOT NULL, v text NOT NULL, op text)";
/// How long the server may take to abort after the writers were started.
const ABORT_DEADLINE: Duration = Duration::from_secs(60);

/// The APPEND job: every change of `audit:*` becomes a new row of table `audit` of `target`.
fn append_job(target: &Target) -> String {
    let connection = target.connection();
    let schema = target
        .schema()
        .map_or(String::new(), |s| format!("      schema: {s}\n"));
    format!(
        "source:\n  redis:\n    key_pattern: \"audit:*\"\n    trigger: write-behind\noutput:\n  \
         - uses: relational.write\n    with:\n      connection: {connection}\n{schema}      \
         table: audit\n      load_strategy: APPEND\n      mapping:\n        - id\n        - v\n        \
         - op\n"
    )
}

/// What a run saw: rows right after the crash, rows after the restart and drain, distinct ids.
struct Outcome {
    at_crash: i64,
    after: i64,
    distinct: i64,
    last_queued_id: String,
    target: Target,
}

/// Deploys the APPEND job (with `exactly_once` on or off) on a Redis that aborts before the first
/// acknowledgement, queues N changes while stopped, starts the writers, waits for the abort, restarts
/// on the same directory without the hook and drains.
fn crash_between_commit_and_ack(kind: TargetKind, db: &str, exactly_once: bool) -> Outcome {
    let exactly = format!("exactly_once: {exactly_once}");
    let mut target = Target::create(kind, db, DDL, &[FAST_RETRY, &exactly]);
    let job = append_job(&target);
    let opts = RedisOpts::redis74()
        .appendonly()
        .appendfsync("always")
        .env("RDI_TEST_ABORT_BEFORE_ACK", "1");
    let mut redis = RedisServer::start(opts).expect("start redis with the module");
    let mut r = redis.client();
    deploy_ok(&mut r, target.config(), &[(JOB, &job)]);

    // Queue N changes while the writers are paused, so they are taken as one batch.
    call(&mut r, &["RDI.STOP"]);
    let mut pipe = redis::pipe();
    for i in 0..N {
        pipe.cmd("HSET")
            .arg(format!("audit:{i}"))
            .arg("id")
            .arg(i)
            .arg("v")
            .arg(format!("value-{i}"))
            .arg("op")
            .arg("create")
            .ignore();
    }
    pipe.query::<()>(&mut r).unwrap();
    assert_eq!(Status::query(&mut r).job(JOB).pending, N as i64);
    let last: redis::Value = call(&mut r, &["XREVRANGE", QUEUE, "+", "-", "COUNT", "1"]);
    let last_queued_id = match &last {
        redis::Value::Array(entries) => match entries.first() {
            Some(redis::Value::Array(entry)) => module_tests::status::text(&entry[0]).unwrap(),
            other => panic!("no entry in {QUEUE}: {other:?}"),
        },
        other => panic!("XREVRANGE {QUEUE}: {other:?}"),
    };

    // The writers commit the batch, then the hook aborts the server before the queue is trimmed.
    let _ = try_call(&mut r, &["RDI.START"]);
    drop(r);
    let exit = redis.wait_exit(ABORT_DEADLINE).unwrap_or_else(|| {
        panic!(
            "the server did not abort within {ABORT_DEADLINE:?} after RDI.START; log:\n{}",
            redis.log()
        )
    });
    assert!(!exit.success(), "the server exited cleanly: {exit:?}");
    let at_crash = target.count("SELECT count(*) FROM audit");
    assert_eq!(
        at_crash,
        N as i64,
        "the batch was not committed before the abort ({exit:?}); log:\n{}",
        redis.log()
    );

    // Same directory and port, the AOF replayed, the hook gone.
    redis.opts_mut().env.clear();
    redis.restart();
    let mut r = redis.client();
    wait_until(
        Duration::from_secs(30),
        "the job runs again after the restart",
        || {
            let status = Status::query(&mut r);
            status.engine == "RUNNING" && status.jobs.contains_key(JOB)
        },
    );
    drain_within(&mut r, 60_000);
    let status = Status::query(&mut r);
    assert_eq!(status.job(JOB).pending, 0, "{}", status.raw);
    assert_eq!(status.job(JOB).rejected, 0, "{}", status.raw);
    let keys: i64 = redis::cmd("EXISTS")
        .arg((0..N).map(|i| format!("audit:{i}")).collect::<Vec<_>>())
        .query(&mut r)
        .unwrap();
    assert_eq!(keys, N as i64, "every acknowledged HSET survives the abort");
    let xlen: i64 = redis::cmd("XLEN").arg(QUEUE).query(&mut r).unwrap();
    assert_eq!(
        xlen, 0,
        "the replayed batch is acknowledged after the restart"
    );
    Outcome {
        at_crash,
        after: target.count("SELECT count(*) FROM audit"),
        distinct: target.count("SELECT count(DISTINCT id) FROM audit"),
        last_queued_id,
        target,
    }
}

#[test]
fn with_exactly_once_a_batch_replayed_after_a_crash_is_not_appended_twice() {
    replayed_batch_not_appended_twice(TargetKind::Postgres, "exactly_once_on");
}

#[test]
fn with_exactly_once_a_batch_replayed_after_a_crash_is_not_appended_twice_in_mariadb() {
    replayed_batch_not_appended_twice(TargetKind::MariaDb, "exactly_once_on_maria");
}

#[test]
fn with_exactly_once_a_batch_replayed_after_a_crash_is_not_appended_twice_in_sqlite() {
    replayed_batch_not_appended_twice(TargetKind::Sqlite, "exactly_once_on_lite");
}

#[test]
fn without_exactly_once_the_replayed_batch_is_appended_again() {
    replayed_batch_appended_again(TargetKind::Postgres, "exactly_once_off");
}

#[test]
fn without_exactly_once_the_replayed_batch_is_appended_again_in_mariadb() {
    replayed_batch_appended_again(TargetKind::MariaDb, "exactly_once_off_maria");
}

#[test]
fn without_exactly_once_the_replayed_batch_is_appended_again_in_sqlite() {
    replayed_batch_appended_again(TargetKind::Sqlite, "exactly_once_off_lite");
}

fn replayed_batch_not_appended_twice(kind: TargetKind, db: &str) {
    let mut o = crash_between_commit_and_ack(kind, db, true);
    eprintln!(
        "{kind:?}, exactly_once on: {} rows at the crash, {} after the restart ({} distinct ids) for \
         {N} changes",
        o.at_crash, o.after, o.distinct
    );
    assert_eq!(o.after, N as i64, "duplicate audit rows after the replay");
    assert_eq!(o.distinct, N as i64);
    let dup = o
        .target
        .count("SELECT count(*) FROM (SELECT id FROM audit GROUP BY id HAVING count(*) > 1) d");
    assert_eq!(dup, 0, "ids appended more than once");
    let values = o
        .target
        .count("SELECT count(*) FROM audit WHERE v = concat('value-', id) AND op = 'create'");
    assert_eq!(values, N as i64, "every row holds its own record");

    // The checkpoint table exists (default name) and holds the job's last applied queue position.
    let positions: Vec<(String, String)> = o
        .target
        .rows("SELECT stream, position FROM rdi_checkpoints")
        .into_iter()
        .map(|row| {
            (
                row[0].clone().unwrap_or_default(),
                row[1].clone().unwrap_or_default(),
            )
        })
        .collect();
    // One row per job and connection: `<job>/<connection>`.
    let prefix = format!("{JOB}/");
    let ours: Vec<&(String, String)> = positions
        .iter()
        .filter(|(s, _)| s.starts_with(&prefix))
        .collect();
    assert_eq!(ours.len(), 1, "one checkpoint for the job: {positions:?}");
    assert_eq!(
        ours[0].1, o.last_queued_id,
        "the checkpoint is the position of the last committed change: {positions:?}"
    );
}

fn replayed_batch_appended_again(kind: TargetKind, db: &str) {
    let mut o = crash_between_commit_and_ack(kind, db, false);
    let duplicates = o.after - N as i64;
    eprintln!(
        "{kind:?}, exactly_once off: {} rows at the crash, {} after the restart ({} distinct ids) \
         for {N} changes: {duplicates} duplicate rows, which exactly_once prevents",
        o.at_crash, o.after, o.distinct
    );
    assert!(
        o.after > N as i64,
        "no duplicates without exactly_once: the crash did not replay anything"
    );
    assert_eq!(o.distinct, N as i64);
    assert_eq!(
        duplicates, o.at_crash,
        "the whole committed batch is replayed"
    );
    let sql = o.target.tables_named_sql("rdi_checkpoints");
    assert_eq!(
        o.target.count(&sql),
        0,
        "no checkpoint table without exactly_once"
    );
}
