//! A hash of hundreds of thousands of fields is read by the writer in steps, each in its own short
//! section of the server lock: clients are served meanwhile, and the row arrives whole. Its delete
//! reads only the key field on the main thread. A job that maps a few fields of a wide hash has only
//! those read.

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
    // A computed column may read any field, so the writer reads the whole hash (in sections); a job
    // that maps a few fields reads only those (`a_wide_hash_is_read_by_the_fields_the_job_maps`).
    let job = sqlite_job("big:*", "big", &["id"], &["{name: to_string(name)}"]);
    deploy_ok(&mut r, &sqlite_config(&db, &[]), &[("big", &job)]);

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

#[test]
fn a_wide_hash_is_read_by_the_fields_the_job_maps() {
    let redis = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    let db = redis.dir().join("target.db");
    sqlite_target::create(&db, "CREATE TABLE wide (id INTEGER PRIMARY KEY, name TEXT)");
    let mut r = redis.client();
    deploy_ok(
        &mut r,
        &sqlite_config(&db, &[]),
        &[("wide", &sqlite_job("wide:*", "wide", &["id"], &["name"]))],
    );
    let rows = || sqlite_target::rows(&db, "SELECT id, name FROM wide ORDER BY id");
    // RDI.TRACE shows the value as the writer read it.
    let mut tracer = redis.client();
    let trace = std::thread::spawn(move || {
        let reply: redis::Value = redis::cmd("RDI.TRACE")
            .arg("COUNT")
            .arg(1)
            .arg("TIMEOUT")
            .arg(20)
            .query(&mut tracer)
            .expect("RDI.TRACE");
        format!("{reply:?}")
    });
    std::thread::sleep(Duration::from_millis(300));
    // Fields the job does not read, one of them not UTF-8 (which a read would reject).
    let mut hset = redis::cmd("HSET");
    hset.arg("wide:1").arg("id").arg("1").arg("name").arg("Ann");
    for i in 0..50 {
        hset.arg(format!("extra{i}")).arg(format!("value{i}"));
    }
    hset.arg("binary").arg(&b"\xff\xfe"[..]);
    hset.query::<()>(&mut r).expect("HSET");
    let traced = trace.join().expect("tracer");
    assert!(
        traced.contains("Ann") && !traced.contains("extra"),
        "only the mapped fields are read: {traced}"
    );
    // A wide hash without its key field is rejected, as a whole one would be.
    let mut no_key = redis::cmd("HSET");
    no_key.arg("wide:2").arg("name").arg("Bob");
    for i in 0..50 {
        no_key.arg(format!("extra{i}")).arg(format!("value{i}"));
    }
    no_key.query::<()>(&mut r).expect("HSET");
    call(&mut r, &["HSET", "wide:3", "id", "3", "name", "Eve"]);
    wait_for(Duration::from_secs(30), "two rows", || {
        (rows().len() == 2).then_some(())
    });
    assert_eq!(
        rows(),
        vec![
            vec![Some("1".to_string()), Some("Ann".to_string())],
            vec![Some("3".to_string()), Some("Eve".to_string())],
        ]
    );
    let dead: Vec<redis::Value> = redis::cmd("XRANGE")
        .arg("__rdi__:dlq:wide")
        .arg("-")
        .arg("+")
        .query(&mut r)
        .expect("XRANGE");
    assert_eq!(dead.len(), 1, "the hash without its key: {dead:?}");
    let text = format!("{dead:?}");
    assert!(text.contains("wide:2") && text.contains("id"), "{text}");
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
