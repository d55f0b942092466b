//! Issue 2, must-show 3: with `appendonly yes` and `appendfsync always`, `kill -9` of Redis in the
//! middle of 10,000 HSETs loses nothing that Redis acknowledged, and leaves no row without its key.

use module_tests::yaml::pg_job;
use module_tests::{drain_within, wait_until, PgPipeline, PgServer, RedisOpts, Status};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const KEYS: usize = 10_000;
/// From this many acknowledged HSETs on, the target table is locked against writes (a slow target), so
/// that changes are still queued when Redis is killed.
const STALL_AFTER: usize = 3_000;
/// Redis is killed once this many HSETs were acknowledged: well inside the run.
const KILL_AFTER: usize = 5_000;
const DRAIN_AFTER_RESTART_MS: u64 = 120_000;

#[test]
fn every_acknowledged_hset_reaches_postgresql_after_kill_9_and_restart() {
    let ddl = "CREATE TABLE emp (id integer PRIMARY KEY, v text NOT NULL)";
    let job = pg_job("emp:*", "emp", &["id"], &["v"]);
    let opts = RedisOpts::redis74().appendonly().appendfsync("always");
    let mut p = PgPipeline::start(
        PgServer::shared(),
        opts,
        "durability",
        ddl,
        &[("emp", &job)],
    );

    // The writer remembers every HSET that Redis acknowledged, with the value it wrote.
    let run = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let acked: Arc<Mutex<BTreeMap<usize, String>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (acked, count, mut conn) = (acked.clone(), count.clone(), p.redis());
        std::thread::spawn(move || -> Option<usize> {
            for i in 0..KEYS {
                let value = format!("{run}-{i}-{}", i * 7919 % 1000);
                let reply: redis::RedisResult<i64> = redis::cmd("HSET")
                    .arg(format!("emp:{i}"))
                    .arg("id")
                    .arg(i)
                    .arg("v")
                    .arg(&value)
                    .query(&mut conn);
                match reply {
                    Ok(_) => {
                        acked.lock().unwrap().insert(i, value);
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => return Some(i),
                }
            }
            None
        })
    };
    let acknowledged = |n: usize| {
        let count = count.clone();
        move || count.load(Ordering::SeqCst) >= n
    };
    wait_until(
        Duration::from_secs(120),
        "HSETs are acknowledged",
        acknowledged(STALL_AFTER),
    );
    // EXCLUSIVE blocks the module's writes but not our SELECTs; released after the kill.
    let mut locker = p.pg_client();
    let mut stall = locker.transaction().unwrap();
    stall
        .batch_execute("LOCK TABLE emp IN EXCLUSIVE MODE")
        .unwrap();
    wait_until(
        Duration::from_secs(120),
        "HSETs are acknowledged",
        acknowledged(KILL_AFTER),
    );
    p.redis.kill9();
    let unacknowledged = writer.join().expect("writer thread");
    let acked = acked.lock().unwrap().clone();
    assert!(
        unacknowledged.is_some() && acked.len() < KEYS,
        "Redis was killed after the writer finished"
    );

    let rows_at_kill: i64 = p
        .pg_client()
        .query_one("SELECT count(*) FROM emp", &[])
        .unwrap()
        .get(0);
    assert!(
        (rows_at_kill as usize) < acked.len(),
        "nothing was left in the queue at the kill"
    );
    stall.commit().unwrap();
    p.redis.restart();
    wait_until(
        Duration::from_secs(30),
        "the job runs again after the restart",
        || {
            let status = p.status();
            status.engine == "RUNNING" && status.jobs.contains_key("emp")
        },
    );
    let mut r = p.redis();
    drain_within(&mut r, DRAIN_AFTER_RESTART_MS);
    let status = Status::query(&mut r);
    assert_eq!(status.job("emp").pending, 0, "{}", status.raw);
    assert_eq!(status.job("emp").rejected, 0, "{}", status.raw);

    // What Redis holds after the restart, and what PostgreSQL holds.
    let mut hgets = redis::pipe();
    for i in 0..KEYS {
        hgets.cmd("HGET").arg(format!("emp:{i}")).arg("v");
    }
    let values: Vec<Option<String>> = hgets.query(&mut r).expect("HGET all keys");
    let in_redis: BTreeMap<usize, String> = values
        .into_iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i, v)))
        .collect();
    let in_pg: BTreeMap<usize, String> = p
        .pg_client()
        .query("SELECT id, v FROM emp", &[])
        .unwrap()
        .iter()
        .map(|row| (row.get::<_, i32>(0) as usize, row.get::<_, String>(1)))
        .collect();

    for (i, value) in &acked {
        assert_eq!(
            in_redis.get(i),
            Some(value),
            "acknowledged emp:{i} is not in Redis with its value"
        );
        assert_eq!(
            in_pg.get(i),
            Some(value),
            "acknowledged emp:{i} is not in PostgreSQL with its value"
        );
    }
    for (i, value) in &in_pg {
        assert_eq!(
            in_redis.get(i),
            Some(value),
            "row {i} has no key emp:{i} with that value in Redis"
        );
    }
    assert_eq!(
        in_pg.len(),
        in_redis.len(),
        "a key in Redis has no row (its change was lost)"
    );
    eprintln!(
        "acknowledged {} of {KEYS}; in flight at the kill: {unacknowledged:?}; rows at the kill \
         {rows_at_kill}, after the restart {}",
        acked.len(),
        in_pg.len()
    );
}
