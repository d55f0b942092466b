//! Issue 6: FLUSHALL emits no key events, so the target keeps its rows; RDI.STATUS warns about it. The
//! flush empties the queues; the kept deployment (`__rdi__:deploy`) is written back after it, so the
//! pipeline runs on, and comes back after a restart.

use module_tests::yaml::pg_job;
use module_tests::{call, row, PgPipeline, PgServer, RedisOpts, Status};

const DDL: &str = "CREATE TABLE emp (id integer PRIMARY KEY, name text)";
const ALL: &str = "SELECT id::text, name FROM emp ORDER BY emp.id";

#[test]
fn flushall_leaves_the_target_rows_and_rdi_status_warns() {
    let job = pg_job("emp:*", "emp", &["id"], &["name"]);
    let mut p = PgPipeline::start(
        PgServer::shared(),
        // The AOF carries the flush, then the deployment written back after it.
        RedisOpts::redis74().appendonly(),
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
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut r).unwrap();
    assert_eq!(
        keys,
        vec!["__rdi__:deploy".to_string()],
        "the queue went with the data; the deployment was written back"
    );
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

    // A restart finds the deployment (before, it came back NOT DEPLOYED).
    drop(r);
    p.redis.restart();
    let mut r = p.redis();
    assert_eq!(Status::query(&mut r).engine, "RUNNING");
    call(&mut r, &["HSET", "emp:5", "id", "5", "name", "restarted"]);
    p.drain();
    assert_eq!(
        p.rows("SELECT name FROM emp WHERE id = 5"),
        vec![row(&["restarted"])]
    );
}

/// DEBUG RELOAD and DEBUG LOADAOF empty the dataset (a flush event) and load it again, queues and
/// deployment with it: no FLUSHALL warning, nothing written back (before, the deployment was rewritten and RDI.STATUS
/// warned that the queues were flushed), nothing of it in the AOF, and a restart from the AOF after it
/// loses nothing.
#[test]
fn debug_reload_and_loadaof_are_not_flushes_and_a_restart_after_them_loses_nothing() {
    let opts = RedisOpts::redis74()
        .appendonly()
        .appendfsync("always")
        .arg("--enable-debug-command")
        .arg("yes");
    let (mut redis, db) = module_tests::sqlite_emp(opts);
    let mut r = redis.client();
    call(&mut r, &["RDI.STOP"]);
    call(&mut r, &["HSET", "emp:1", "id", "1", "name", "before"]);
    call(&mut r, &["DEBUG", "RELOAD"]);
    call(&mut r, &["HSET", "emp:2", "id", "2", "name", "after"]);
    call(&mut r, &["DEL", "emp:1"]);
    call(&mut r, &["DEBUG", "LOADAOF"]);
    call(&mut r, &["HSET", "emp:3", "id", "3", "name", "after"]);
    let status = Status::query(&mut r);
    assert!(
        !status.warnings.iter().any(|w| w.contains("FLUSH")),
        "{}",
        status.raw
    );
    let aof = std::fs::read_dir(redis.dir().join("appendonlydir"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|f| f.file_name().to_string_lossy().ends_with(".incr.aof"))
        .map(|f| std::fs::read_to_string(f.path()).unwrap())
        .collect::<String>();
    assert!(!aof.contains("DEBUG"), "the reload was propagated:\n{aof}");

    redis.kill9();
    redis.restart();
    assert!(!redis.log().contains("CRITICAL"), "{}", redis.log());
    let mut r = redis.client();
    module_tests::drain(&mut r);
    let rows = module_tests::sqlite_target::rows(&db, "SELECT id, name FROM emp ORDER BY id");
    assert_eq!(rows, [row(&["2", "after"]), row(&["3", "after"])]);
}
