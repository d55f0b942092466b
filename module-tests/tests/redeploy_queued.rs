//! Issue 6: redeploying while changes are queued loses nothing. A job redeployed with a changed mapping
//! keeps its queue and writes it with the new mapping once the target is back. A job removed by a
//! redeploy while its queue is not empty keeps its stream `__rdi__:queue:<job>` untouched (it is
//! neither drained nor deleted, and changes made while the job is absent are not captured); deploying
//! the job again drains what was kept.

use module_tests::replica::xlen;
use module_tests::yaml::{pg_config, pg_job};
use module_tests::{
    call, deploy_ok, drain_within, row, wait_until, PgPipeline, PgServer, RedisOpts, Status,
    FAST_RETRY,
};
use std::time::Duration;

const EMP: &str = "CREATE TABLE emp (id integer PRIMARY KEY, name text, age integer)";
const DEPT: &str = "CREATE TABLE dept (id integer PRIMARY KEY, title text)";

fn emp(r: &mut redis::Connection, id: u32, name: &str, age: u32) {
    let (id, age) = (id.to_string(), age.to_string());
    call(
        r,
        &[
            "HSET",
            &format!("emp:{id}"),
            "id",
            &id,
            "name",
            name,
            "age",
            &age,
        ],
    );
}

fn dept(r: &mut redis::Connection, id: u32, title: &str) {
    let id = id.to_string();
    call(
        r,
        &["HSET", &format!("dept:{id}"), "id", &id, "title", title],
    );
}

fn pending(r: &mut redis::Connection, job: &str) -> i64 {
    Status::query(r).job(job).pending
}

#[test]
fn redeploy_with_a_changed_mapping_while_changes_are_queued_loses_nothing() {
    let pg = PgServer::new();
    let v1 = pg_job("emp:*", "emp", &["id"], &["name"]);
    let p = PgPipeline::start(
        &pg,
        RedisOpts::redis74(),
        "redeploy_map",
        EMP,
        &[("emp", &v1)],
    );
    let mut r = p.redis();
    for id in 1..=5 {
        emp(&mut r, id, &format!("n{id}"), 20 + id);
    }
    p.drain();
    pg.stop();
    for id in 6..=50 {
        emp(&mut r, id, &format!("n{id}"), 20 + id);
    }
    call(&mut r, &["HSET", "emp:1", "name", "changed"]);
    call(&mut r, &["DEL", "emp:2"]);
    wait_until(Duration::from_secs(10), "changes are queued", || {
        pending(&mut r, "emp") > 0
    });
    let queued = xlen(&mut r, "__rdi__:queue:emp");
    assert!(queued >= 47, "queued {queued}");

    // Same job, one more column; the target is down, which the deploy only warns about.
    let v2 = pg_job("emp:*", "emp", &["id"], &["name", "age"]);
    let notes = deploy_ok(&mut r, &p.config, &[("emp", &v2)]);
    eprintln!("redeploy notes: {notes:?}");
    assert_eq!(
        xlen(&mut r, "__rdi__:queue:emp"),
        queued,
        "the queue was kept"
    );
    assert_eq!(pending(&mut r, "emp"), queued);
    call(
        &mut r,
        &["HSET", "emp:51", "id", "51", "name", "n51", "age", "71"],
    );

    pg.start();
    drain_within(&mut r, 60_000);
    let rows = p.rows("SELECT id::text, name, age::text FROM emp ORDER BY emp.id");
    let mut expected = vec![row(&["1", "changed", "21"])];
    // Keys 3 to 5 were written before the redeploy and not changed since: their rows keep the old
    // mapping (no age) until they change or RDI.RESET queues them again.
    for id in 3..=5 {
        expected.push(vec![Some(id.to_string()), Some(format!("n{id}")), None]);
    }
    for id in 6..=51 {
        let (id, name, age) = (id.to_string(), format!("n{id}"), (20 + id).to_string());
        expected.push(vec![Some(id), Some(name), Some(age)]);
    }
    assert_eq!(rows, expected);
    let status = Status::query(&mut r);
    assert_eq!(status.job("emp").rejected, 0, "{}", status.raw);
}

#[test]
fn a_job_removed_with_a_non_empty_queue_keeps_its_stream_and_a_later_deploy_drains_it() {
    let pg = PgServer::new();
    let emp_job = pg_job("emp:*", "emp", &["id"], &["name", "age"]);
    let dept_job = pg_job("dept:*", "dept", &["id"], &["title"]);
    let ddl = format!("{EMP}; {DEPT}");
    let jobs = [("emp", emp_job.as_str()), ("dept", dept_job.as_str())];
    let p = PgPipeline::start(&pg, RedisOpts::redis74(), "redeploy_rm", &ddl, &jobs);
    let mut r = p.redis();
    emp(&mut r, 1, "before", 30);
    p.drain();
    pg.stop();
    for id in 2..=10 {
        emp(&mut r, id, &format!("q{id}"), 30);
        dept(&mut r, id, &format!("d{id}"));
    }
    let queued = xlen(&mut r, "__rdi__:queue:emp");
    assert_eq!(queued, 9);

    // Redeploy without `emp`: the job goes, its stream stays as it was.
    let notes = deploy_ok(&mut r, &p.config, &[("dept", &dept_job)]);
    eprintln!("notes of the deploy that removed emp: {notes:?}");
    let status = Status::query(&mut r);
    assert!(!status.jobs.contains_key("emp"), "{}", status.raw);
    assert_eq!(
        xlen(&mut r, "__rdi__:queue:emp"),
        queued,
        "the stream is kept"
    );
    // Not captured while no job covers it.
    emp(&mut r, 11, "while-removed", 30);
    assert_eq!(xlen(&mut r, "__rdi__:queue:emp"), queued);

    pg.start();
    drain_within(&mut r, 60_000);
    assert_eq!(
        xlen(&mut r, "__rdi__:queue:emp"),
        queued,
        "nothing drains a removed job's stream"
    );
    let emp_rows = "SELECT id::text, name FROM emp ORDER BY emp.id";
    assert_eq!(p.rows(emp_rows), vec![row(&["1", "before"])]);

    // The job comes back: what was kept is written, in order.
    let config = pg_config(&pg, &p.db, &[FAST_RETRY]);
    deploy_ok(&mut r, &config, &jobs);
    drain_within(&mut r, 60_000);
    assert_eq!(xlen(&mut r, "__rdi__:queue:emp"), 0);
    let mut expected = vec![row(&["1", "before"])];
    expected.extend((2..=10).map(|id| vec![Some(id.to_string()), Some(format!("q{id}"))]));
    assert_eq!(p.rows(emp_rows), expected, "emp:11 was never queued");
    let depts = p.rows("SELECT id::text, title FROM dept ORDER BY dept.id");
    assert_eq!(depts.len(), 9);
}
