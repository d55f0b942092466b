//! Issue 6: `MODULE UNLOAD rdi` with queued changes.
//!
//! What the module does (src/lib.rs `deinit`): while a pipeline's writer threads run, the unload is
//! refused with an error, nothing changes and the server keeps capturing and writing; the queue stays
//! whole (RDI.STOP only pauses the writers, so it does not make unloading possible). Once
//! `RDI.UNDEPLOY` has stopped the writers (refused while changes are pending, so they are drained
//! first), the unload succeeds, and `MODULE LOAD` brings the module back with nothing deployed.

use module_tests::env::module_path;
use module_tests::replica::xlen;
use module_tests::replies::{call_err, field_text, fields, items, try_call};
use module_tests::yaml::pg_job;
use module_tests::{call, drain_within, row, PgPipeline, PgServer, RedisOpts, Status};

const DDL: &str = "CREATE TABLE emp (id integer PRIMARY KEY, name text)";
const ALL: &str = "SELECT id::text, name FROM emp ORDER BY emp.id";
const QUEUE: &str = "__rdi__:queue:emp";

fn module_listed(r: &mut redis::Connection) -> bool {
    items(&call(r, &["MODULE", "LIST"]))
        .iter()
        .any(|module| field_text(&fields(module), "name") == "rdi")
}

#[test]
fn unload_is_refused_while_writers_run_and_keeps_the_queue_then_works_after_undeploy() {
    let pg = PgServer::new();
    let job = pg_job("emp:*", "emp", &["id"], &["name"]);
    let opts = RedisOpts::redis74()
        .arg("--enable-module-command")
        .arg("yes");
    let p = PgPipeline::start(&pg, opts, "unload", DDL, &[("emp", &job)]);
    let mut r = p.redis();
    call(&mut r, &["HSET", "emp:1", "id", "1", "name", "a"]);
    p.drain();

    // Changes queued (the target is down), then an unload.
    pg.stop();
    for id in 2..=20 {
        let id = id.to_string();
        call(
            &mut r,
            &["HSET", &format!("emp:{id}"), "id", &id, "name", "q"],
        );
    }
    let queued = xlen(&mut r, QUEUE);
    assert_eq!(queued, 19);
    let refused = call_err(&mut r, &["MODULE", "UNLOAD", "rdi"]);
    assert!(refused.starts_with("ERR"), "{refused}");
    assert!(
        p.redis
            .log()
            .contains("cannot unload while a pipeline's writers run"),
        "{}",
        p.redis.log()
    );
    // Paused writers still run as threads: still refused.
    call(&mut r, &["RDI.STOP"]);
    call_err(&mut r, &["MODULE", "UNLOAD", "rdi"]);
    call(&mut r, &["RDI.START"]);

    // Nothing changed: the module is loaded, the queue is whole, capture goes on.
    assert!(module_listed(&mut r));
    assert_eq!(xlen(&mut r, QUEUE), queued);
    call(
        &mut r,
        &["HSET", "emp:21", "id", "21", "name", "after-refusal"],
    );
    assert_eq!(xlen(&mut r, QUEUE), queued + 1);
    assert_eq!(Status::query(&mut r).engine, "RUNNING");

    // RDI.UNDEPLOY refuses while changes are pending; they arrive once the target is back.
    let pending = call_err(&mut r, &["RDI.UNDEPLOY"]);
    assert!(pending.contains("pending"), "{pending}");
    pg.start();
    drain_within(&mut r, 60_000);
    let rows = p.rows(ALL);
    assert_eq!(rows.len(), 21);
    assert_eq!(rows[0], row(&["1", "a"]));
    assert_eq!(rows[20], row(&["21", "after-refusal"]));

    call(&mut r, &["RDI.UNDEPLOY"]);
    call(&mut r, &["MODULE", "UNLOAD", "rdi"]);
    assert!(!module_listed(&mut r), "the module is gone");
    // The server works without it; writes are no longer captured.
    call(&mut r, &["HSET", "emp:22", "id", "22", "name", "unloaded"]);
    assert_eq!(xlen(&mut r, QUEUE), 0);

    let path = module_path().display().to_string();
    call(&mut r, &["MODULE", "LOAD", &path]);
    let status = Status::query(&mut r);
    assert_eq!(status.engine, "NOT DEPLOYED", "{}", status.raw);
    assert!(try_call(&mut r, &["PING"]).is_ok());
    assert_eq!(p.rows(ALL).len(), 21);
}
