//! Issue 2, must-show 4: PostgreSQL stopped during writes and started again: RDI.STATUS shows the error
//! and the growing lag meanwhile, and afterwards the table holds exactly the final state.

use module_tests::yaml::pg_job;
use module_tests::{
    call, drain_within, rdi_wait, row, wait_for, wait_until, PgPipeline, PgServer, RedisOpts,
    Status,
};
use std::time::Duration;

const DDL: &str = "CREATE TABLE emp (id integer PRIMARY KEY, name text, age integer)";
const ALL: &str = "SELECT id::text, name, age::text FROM emp ORDER BY emp.id";

#[test]
fn target_outage_shows_error_and_growing_lag_then_everything_arrives_once() {
    let pg = PgServer::new();
    let job = pg_job("emp:*", "emp", &["id"], &["name", "age"]);
    let p = PgPipeline::start(&pg, RedisOpts::redis74(), "outage", DDL, &[("emp", &job)]);
    let mut r = p.redis();
    for i in 1..=5 {
        call(
            &mut r,
            &[
                "HSET",
                &format!("emp:{i}"),
                "id",
                &i.to_string(),
                "name",
                &format!("n{i}"),
                "age",
                "20",
            ],
        );
    }
    p.drain();
    assert_eq!(p.rows(ALL).len(), 5);

    pg.stop();
    for i in 6..=10 {
        call(
            &mut r,
            &[
                "HSET",
                &format!("emp:{i}"),
                "id",
                &i.to_string(),
                "name",
                &format!("n{i}"),
                "age",
                "30",
            ],
        );
    }
    call(&mut r, &["HSET", "emp:2", "name", "renamed"]);
    call(&mut r, &["HINCRBY", "emp:6", "age", "1"]);
    call(&mut r, &["DEL", "emp:3"]);
    call(&mut r, &["UNLINK", "emp:7"]);
    call(&mut r, &["RENAME", "emp:4", "emp:40"]);

    // While it is down: the job reports the error, the connection is unhealthy, the lag grows.
    let first: Status = wait_for(
        Duration::from_secs(30),
        "RDI.STATUS to show the outage",
        || {
            let status = Status::query(&mut r);
            let job = status.job("emp");
            let down = job.pending > 0
                && job.last_error.is_some()
                && job.last_error_time_ms.is_some()
                && job.lag_ms > 0
                && status.connection("pg").health == "error";
            down.then_some(status)
        },
    );
    let lag1 = first.job("emp").lag_ms;
    let second: Status = wait_for(Duration::from_secs(30), "the lag to grow", || {
        let status = Status::query(&mut r);
        (status.job("emp").lag_ms > lag1).then_some(status)
    });
    assert!(second.job("emp").pending > 0, "{}", second.raw);
    // The writer backs off: failed attempts are counted and go on, and the next one is shown at most
    // the cap away (`on_failed_retry_interval: 1`), the writer seen waiting for it.
    let mut waits = Vec::new();
    wait_until(
        Duration::from_secs(30),
        "RDI.STATUS to show the writer waiting for its next attempt",
        || {
            let status = Status::query(&mut r);
            let job = status.job("emp");
            assert!(job.retry_attempts >= 1, "{}", status.raw);
            assert!(
                (0..=1_000).contains(&job.next_retry_in_ms),
                "{}",
                status.raw
            );
            if job.next_retry_in_ms > 0 {
                waits.push(job.next_retry_in_ms);
            }
            waits.len() >= 3
        },
    );
    let attempts = Status::query(&mut r).job("emp").retry_attempts;
    wait_until(Duration::from_secs(30), "more failed attempts", || {
        Status::query(&mut r).job("emp").retry_attempts > attempts
    });
    assert!(
        second.connection("pg").last_error.is_some(),
        "{}",
        second.raw
    );
    // RDI.METRICS counts the failures as transient errors of the connection.
    let metrics: String = redis::cmd("RDI.METRICS").query(&mut r).unwrap();
    let transient = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("rdi_target_errors_total{connection=\"pg\",kind=\"transient\"} ")
        })
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert!(transient.is_some_and(|n| n >= 1.0), "{metrics}");
    // A write made while the target is down is only queued; RDI.WAIT says so instead of blocking forever.
    let timeout = rdi_wait(&mut r, 200).expect_err("RDI.WAIT returned while the target was down");
    assert!(timeout.starts_with("TIMEOUT"), "{timeout}");
    call(&mut r, &["HSET", "emp:8", "name", "late"]);

    pg.start();
    drain_within(&mut r, 60_000);
    assert_eq!(
        p.rows(ALL),
        vec![
            row(&["1", "n1", "20"]),
            row(&["2", "renamed", "20"]),
            row(&["4", "n4", "20"]),
            row(&["5", "n5", "20"]),
            row(&["6", "n6", "31"]),
            row(&["8", "late", "30"]),
            row(&["9", "n9", "30"]),
            row(&["10", "n10", "30"]),
        ]
    );
    wait_until(
        Duration::from_secs(10),
        "the connection is healthy again",
        || Status::query(&mut r).connection("pg").health == "ok",
    );
    let status = Status::query(&mut r);
    assert_eq!(
        (status.job("emp").pending, status.job("emp").lag_ms),
        (0, 0),
        "{}",
        status.raw
    );
    assert_eq!(status.job("emp").rejected, 0, "{}", status.raw);
}
