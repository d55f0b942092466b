//! Issue 6: FLUSHALL emits no key events, so the target keeps its rows; RDI.STATUS warns about it. The
//! flush also empties the queues and the kept deployment (`__rdi__:deploy`), while the pipeline in
//! memory runs on until the next restart: new writes still arrive.

use module_tests::yaml::pg_job;
use module_tests::{call, row, PgPipeline, PgServer, RedisOpts, Status};

const DDL: &str = "CREATE TABLE emp (id integer PRIMARY KEY, name text)";
const ALL: &str = "SELECT id::text, name FROM emp ORDER BY emp.id";

#[test]
fn flushall_leaves_the_target_rows_and_rdi_status_warns() {
    let job = pg_job("emp:*", "emp", &["id"], &["name"]);
    let p = PgPipeline::start(
        PgServer::shared(),
        RedisOpts::redis74(),
        "flushall",
        DDL,
        &[("emp", &job)],
    );
    let mut r = p.redis();
    for id in 1..=3 {
        let id = id.to_string();
        call(
            &mut r,
            &["HSET", &format!("emp:{id}"), "id", &id, "name", "kept"],
        );
    }
    p.drain();
    let before = Status::query(&mut r);
    // The test config writes its password out, which the deploy notes; nothing else is said yet.
    assert!(
        before
            .warnings
            .iter()
            .all(|w| w.contains("password: written out")),
        "{}",
        before.raw
    );

    call(&mut r, &["FLUSHALL"]);
    let dbsize: i64 = redis::cmd("DBSIZE").query(&mut r).unwrap();
    assert_eq!(dbsize, 0, "the queue and the deployment went with the data");
    let status = Status::query(&mut r);
    assert!(
        status.warnings.iter().any(|w| w.contains("FLUSHALL")),
        "{}",
        status.raw
    );
    assert_eq!(status.engine, "RUNNING", "{}", status.raw);
    assert_eq!(
        p.rows(ALL),
        vec![
            row(&["1", "kept"]),
            row(&["2", "kept"]),
            row(&["3", "kept"])
        ],
        "the target keeps its rows"
    );

    // The pipeline in memory still runs.
    call(&mut r, &["HSET", "emp:4", "id", "4", "name", "after"]);
    p.drain();
    assert_eq!(p.rows(ALL).len(), 4);
    assert_eq!(
        p.rows("SELECT name FROM emp WHERE id = 4"),
        vec![row(&["after"])]
    );
}
