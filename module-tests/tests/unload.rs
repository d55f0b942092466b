//! Issue 6: `MODULE UNLOAD rdi` while a pipeline runs with queued changes.
//!
//! What the module does (src/lib.rs `deinit`): the unload succeeds within a bounded time; the writers
//! are stopped and joined (one in the middle of a target transaction finishes it first; one hanging
//! in a target call makes the unload fail, which is not tested here), and everything they did not
//! acknowledge stays queued in the keyspace. Writes made while the module is unloaded are not
//! captured. `MODULE LOAD` rebuilds the pipeline from the keyspace and drains the kept queue. After
//! `RDI.UNDEPLOY` an unload and a new load leave nothing deployed.

use module_tests::env::module_path;
use module_tests::replica::xlen;
use module_tests::replies::{field_text, fields, items};
use module_tests::yaml::pg_job;
use module_tests::{call, drain_within, wait_until, PgPipeline, PgServer, RedisOpts, Status};
use std::time::{Duration, Instant};

const DDL: &str = "CREATE TABLE emp (id integer PRIMARY KEY, name text)";
const QUEUE: &str = "__rdi__:queue:emp";
/// Keys written before the unload under load.
const KEYS: u32 = 20_000;
/// An unload must not hang the server longer than this.
const UNLOAD_BOUND: Duration = Duration::from_secs(15);

fn module_listed(r: &mut redis::Connection) -> bool {
    items(&call(r, &["MODULE", "LIST"]))
        .iter()
        .any(|module| field_text(&fields(module), "name") == "rdi")
}

fn hset(r: &mut redis::Connection, id: u32, name: &str) {
    let id = id.to_string();
    call(r, &["HSET", &format!("emp:{id}"), "id", &id, "name", name]);
}

/// Unloads the module, checking that it took a bounded time and is gone.
fn unload(r: &mut redis::Connection) {
    let start = Instant::now();
    call(r, &["MODULE", "UNLOAD", "rdi"]);
    assert!(start.elapsed() < UNLOAD_BOUND, "{:?}", start.elapsed());
    assert!(!module_listed(r), "the module is gone");
}

/// Loads the module again and waits until the pipeline kept in the keyspace runs.
fn load_and_wait(r: &mut redis::Connection) {
    call(r, &["MODULE", "LOAD", &module_path().display().to_string()]);
    wait_until(Duration::from_secs(20), "the pipeline is back", || {
        let status = Status::query(r);
        status.engine == "RUNNING" && status.jobs.contains_key("emp")
    });
}

fn names(p: &PgPipeline) -> Vec<(String, String)> {
    p.rows("SELECT id::text, name FROM emp ORDER BY emp.id")
        .into_iter()
        .map(|row| (row[0].clone().unwrap(), row[1].clone().unwrap()))
        .collect()
}

#[test]
fn unload_with_queued_changes_keeps_the_queue_and_a_new_load_drains_it() {
    let pg = PgServer::new();
    let job = pg_job("emp:*", "emp", &["id"], &["name"]);
    let opts = RedisOpts::redis74()
        .arg("--enable-module-command")
        .arg("yes");
    let p = PgPipeline::start(&pg, opts, "unload", DDL, &[("emp", &job)]);
    let mut r = p.redis();
    hset(&mut r, 1, "a");
    p.drain();

    // Changes queued (the target is down, the writers retry), then the unload.
    pg.stop();
    for id in 2..=20 {
        hset(&mut r, id, "queued");
    }
    assert_eq!(xlen(&mut r, QUEUE), 19);
    unload(&mut r);
    assert!(
        p.redis.log().contains("the queues stay in the keyspace"),
        "{}",
        p.redis.log()
    );
    assert_eq!(xlen(&mut r, QUEUE), 19, "the queue stays whole");
    // The server works without the module; this write is not captured.
    hset(&mut r, 21, "while-unloaded");
    assert_eq!(xlen(&mut r, QUEUE), 19);

    load_and_wait(&mut r);
    assert_eq!(Status::query(&mut r).job("emp").pending, 19);
    pg.start();
    drain_within(&mut r, 60_000);
    let mut expected = vec![("1".to_string(), "a".to_string())];
    expected.extend((2..=20).map(|id| (id.to_string(), "queued".to_string())));
    assert_eq!(names(&p), expected, "emp:21 was written while unloaded");
    assert_eq!(xlen(&mut r, QUEUE), 0);
}

#[test]
fn unload_while_writers_are_busy_leaves_nothing_half_written() {
    let job = pg_job("emp:*", "emp", &["id"], &["name"]);
    let opts = RedisOpts::redis74()
        .arg("--enable-module-command")
        .arg("yes");
    let p = PgPipeline::start(
        PgServer::shared(),
        opts,
        "unload_busy",
        DDL,
        &[("emp", &job)],
    );
    let mut r = p.redis();
    let mut pipe = redis::pipe();
    for id in 1..=KEYS {
        pipe.cmd("HSET")
            .arg(format!("emp:{id}"))
            .arg("id")
            .arg(id)
            .arg("name")
            .arg(format!("n{id}"))
            .ignore();
    }
    let () = pipe.query(&mut r).unwrap();
    // Unload as soon as the writers have written something: they are in the middle of the queue.
    wait_until(Duration::from_secs(30), "the first rows arrive", || {
        let count: i64 = p
            .pg_client()
            .query_one("SELECT count(*) FROM emp", &[])
            .unwrap()
            .get(0);
        count > 0
    });
    unload(&mut r);
    let kept = xlen(&mut r, QUEUE);
    eprintln!(
        "at the unload: {kept} change(s) still queued, {} row(s) written",
        names(&p).len()
    );

    load_and_wait(&mut r);
    drain_within(&mut r, 60_000);
    let expected: Vec<(String, String)> = (1..=KEYS)
        .map(|id| (id.to_string(), format!("n{id}")))
        .collect();
    let mut rows = names(&p);
    rows.sort_by_key(|(id, _)| id.parse::<u32>().unwrap());
    assert_eq!(rows, expected);

    // Undeployed, unloaded and loaded again: nothing is deployed.
    call(&mut r, &["RDI.UNDEPLOY"]);
    unload(&mut r);
    call(
        &mut r,
        &["MODULE", "LOAD", &module_path().display().to_string()],
    );
    let status = Status::query(&mut r);
    assert_eq!(status.engine, "NOT DEPLOYED", "{}", status.raw);
}

/// On a server demoted while its writer waited for the target (the SQLite file locked), that writer
/// still runs, given up but not yet out of SQLite's busy handler. `MODULE UNLOAD` there waits for it,
/// as for the writers of a primary, so that no thread of the module outlives the unload (before, the
/// replica's pipeline had no engine and the unload returned at once; glibc happened to keep the
/// library mapped while that thread lived). The server stays up and the new primary writes the change.
#[test]
fn unload_on_a_demoted_server_waits_for_the_writer_of_its_last_term() {
    let opts = RedisOpts::redis74()
        .arg("--enable-module-command")
        .arg("yes");
    let (mut first, db) = module_tests::sqlite_emp(opts.clone());
    let second = module_tests::replica::start_replica_of(&first, opts, "emp");
    let lock = module_tests::sqlite_target::lock(&db, Duration::from_millis(1_500));
    let mut r = first.client();
    hset(&mut r, 1, "waits");
    // The writer reads the change and waits for the lock.
    std::thread::sleep(Duration::from_millis(200));
    call(&mut r, &["FAILOVER", "TIMEOUT", "5000"]);
    wait_until(Duration::from_secs(10), "the replica is promoted", || {
        Status::query(&mut second.client()).role == "primary"
    });
    let started = Instant::now();
    unload(&mut first.client());
    let (unloaded, took) = (Instant::now(), started.elapsed());
    let released = lock.wait();
    assert!(
        unloaded >= released,
        "the unload returned {:?} before the lock the writer waited for was released",
        released - unloaded
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        first.wait_exit(Duration::from_millis(500)).is_none(),
        "the server died after the unload ({took:?}):\n{}",
        first.log()
    );
    assert_eq!(
        redis::cmd("PING")
            .query::<String>(&mut first.client())
            .unwrap(),
        "PONG"
    );
    drain_within(&mut second.client(), 30_000);
    let name = module_tests::sqlite_target::rows(&db, "SELECT name FROM emp WHERE id = 1");
    assert_eq!(name, vec![vec![Some("waits".to_string())]]);
}
