//! A target whose server accepts connections and never answers (stopped, hung, or behind a network
//! that drops packets) holds only its own jobs: another job served by the same writer thread keeps
//! writing, and RDI.STATUS says why the first one waits.

use module_tests::yaml::relational_job;
use module_tests::{call, deploy_ok, sqlite_target, wait_for, RedisOpts, RedisServer, Status};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A TCP port that first closes every connection at once (so that the deploy's target check fails
/// fast), then, once `silent` is set, accepts nothing more: the kernel still completes handshakes
/// into the backlog, and nothing answers.
fn flaky_port(silent: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local address").port();
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    std::thread::spawn(move || {
        let _keep = &listener;
        loop {
            if !silent.load(Ordering::SeqCst) {
                while let Ok((stream, _)) = listener.accept() {
                    drop(stream);
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    port
}

#[test]
fn a_target_that_never_answers_holds_only_its_own_jobs() {
    let silent = Arc::new(AtomicBool::new(false));
    let port = flaky_port(silent.clone());
    let redis = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    let db = redis.dir().join("target.db");
    sqlite_target::create(&db, "CREATE TABLE emp (id INTEGER PRIMARY KEY, name TEXT)");
    let config = format!(
        "connections:\n  lite:\n    type: sqlite\n    path: {}\n  hung:\n    type: postgresql\n    \
         host: 127.0.0.1\n    port: {port}\n    database: d\n    user: u\n    password: pw\n    \
         connect_args:\n      connect_timeout: 60\napplier:\n  writer_threads: 1\n",
        db.display()
    );
    let mut r = redis.client();
    let notes = deploy_ok(
        &mut r,
        &config,
        &[
            (
                "hung",
                &relational_job("hung:*", "hung", Some("public"), "t", &["id"], &["name"]),
            ),
            (
                "emp",
                &relational_job("emp:*", "lite", None, "emp", &["id"], &["name"]),
            ),
        ],
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("`hung`") && n.contains("unreachable")),
        "{notes:?}"
    );
    silent.store(true, Ordering::SeqCst);

    // The hung target's job starts a connect that will wait up to its connect timeout (60 s).
    call(&mut r, &["HSET", "hung:1", "id", "1", "name", "h"]);
    let status = wait_for(Duration::from_secs(20), "the hung job to wait", || {
        let status = Status::query(&mut r);
        let waiting = status
            .job("hung")
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("connecting: no answer after 1 s yet"));
        waiting.then_some(status)
    });
    assert_eq!(status.job("hung").pending, 1, "{}", status.raw);

    // The other job of the same (only) writer thread is written meanwhile, in seconds.
    let started = Instant::now();
    call(&mut r, &["HSET", "emp:1", "id", "1", "name", "Alice"]);
    wait_for(Duration::from_secs(5), "emp:1 to reach SQLite", || {
        let rows = sqlite_target::rows(&db, "SELECT id, name FROM emp");
        (!rows.is_empty()).then_some(())
    });
    eprintln!("emp:1 was written {:?} after the HSET", started.elapsed());
    assert_eq!(
        sqlite_target::rows(&db, "SELECT id, name FROM emp"),
        vec![vec![Some("1".to_string()), Some("Alice".to_string())]]
    );
    let status = Status::query(&mut r);
    assert_eq!(status.job("hung").pending, 1, "{}", status.raw);
    assert_eq!(status.job("emp").pending, 0, "{}", status.raw);
}
