//! A hash of hundreds of thousands of fields is read by the writer in steps, each in its own short
//! section of the server lock: clients are served meanwhile, and the row arrives whole. Its delete
//! reads only the key field on the main thread.

use module_tests::yaml::{sqlite_config, sqlite_job};
use module_tests::{call, deploy_ok, sqlite_target, wait_for, RedisOpts, RedisServer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const FIELDS: usize = 400_000;

#[test]
fn a_large_hash_is_read_without_holding_the_server_for_the_whole_read() {
    let redis = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    let db = redis.dir().join("target.db");
    sqlite_target::create(&db, "CREATE TABLE big (id INTEGER PRIMARY KEY, name TEXT)");
    let mut r = redis.client();
    deploy_ok(
        &mut r,
        &sqlite_config(&db, &[]),
        &[("big", &sqlite_job("big:*", "big", &["id"], &["name"]))],
    );

    // Built under a name no job captures, then renamed into the job's pattern: one change.
    let mut pipe = redis::pipe();
    for start in (0..FIELDS).step_by(1000) {
        let cmd = pipe.cmd("HSET").arg("staging").arg("id").arg("1");
        cmd.arg("name").arg("Alice");
        for i in start..start + 1000 {
            cmd.arg(format!("field{i}")).arg(format!("value{i}"));
        }
        cmd.ignore();
    }
    pipe.query::<()>(&mut r).expect("load the hash");

    let started = Instant::now();
    let slowest = slowest_ping(&redis, || {
        call(&mut r, &["RENAME", "staging", "big:1"]);
        wait_for(Duration::from_secs(60), "the row to arrive", || {
            let rows = sqlite_target::rows(&db, "SELECT id, name FROM big");
            (!rows.is_empty()).then_some(())
        });
    });
    let took = started.elapsed();
    assert_eq!(
        sqlite_target::rows(&db, "SELECT id, name FROM big"),
        vec![vec![Some("1".to_string()), Some("Alice".to_string())]]
    );
    // Read at once, the hash held the server for most of the time the row took (~1 s here); read in
    // sections, no answer waits for more than a small part of it.
    eprintln!("row after {took:?}, slowest PING {slowest:?}");
    assert!(
        slowest < took / 4,
        "slowest PING {slowest:?}, row after {took:?}"
    );

    // Its delete reads the key field only (all of them would take about as long as the read above,
    // on the main thread): UNLINK frees the hash in the background, and the row goes.
    let slowest = slowest_ping(&redis, || {
        call(&mut r, &["UNLINK", "big:1"]);
        wait_for(Duration::from_secs(60), "the row to go", || {
            let rows = sqlite_target::rows(&db, "SELECT id, name FROM big");
            rows.is_empty().then_some(())
        });
    });
    eprintln!("delete: slowest PING {slowest:?}");
    assert!(
        slowest < took / 4,
        "slowest PING {slowest:?}, read took {took:?}"
    );
}

/// Runs `work` while another client pings the server every millisecond; returns its slowest answer:
/// the longest the server was held meanwhile.
fn slowest_ping(redis: &RedisServer, work: impl FnOnce()) -> Duration {
    let done = Arc::new(AtomicBool::new(false));
    let (stop, mut pinger) = (done.clone(), redis.client());
    let pings = std::thread::spawn(move || {
        let mut slowest = Duration::ZERO;
        while !stop.load(Ordering::SeqCst) {
            let t = Instant::now();
            call(&mut pinger, &["PING"]);
            slowest = slowest.max(t.elapsed());
            std::thread::sleep(Duration::from_millis(1));
        }
        slowest
    });
    std::thread::sleep(Duration::from_millis(50));
    work();
    done.store(true, Ordering::SeqCst);
    pings.join().expect("pinger")
}
