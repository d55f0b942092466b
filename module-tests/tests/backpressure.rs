//! Issue 5, must-show 5: with `applier.max_pending` and the target down, the queue and memory stay
//! bounded and clients get the back-pressure error (`BUSY ...`) for the job's keys only; without a cap,
//! RDI.STATUS warns once the queue passes `rdi.pending-warning`; an eviction policy that could evict
//! the queues is warned about at deploy and in RDI.STATUS.

use module_tests::replies::try_call;
use module_tests::yaml::{pg_config, pg_job, sqlite_config, sqlite_job};
use module_tests::{
    call, deploy_ok, drain_within, sqlite_target, PgServer, RedisOpts, RedisServer, Status,
    FAST_RETRY,
};

const MAX_PENDING: i64 = 1_000;
/// One execution unit may append its changes past the cap (here each command changes one key).
const MARGIN: i64 = 1;
const ATTEMPTS: usize = 20_000;
/// The settled used_memory may move this much between 2,000 and 20,000 attempted writes (allocator
/// noise, client buffers); 18,000 accepted HSETs with their queue entries would take about 2 MB.
const MEMORY_BOUND: i64 = 256 * 1024;
/// Each retry of the writer briefly holds the batch it reads (up to max_pending changes with their
/// values, about 0.9 MB here) until the attempt fails: memory may peak this much above the settled level.
const PEAK_BOUND: i64 = 2 * 1024 * 1024;
/// used_memory is sampled this many times, 50 ms apart, around each measurement.
const SAMPLES: usize = 10;

/// The least and the most used_memory over [`SAMPLES`] samples: the least is the settled level, without
/// the batch that a retrying writer holds for a few ms.
fn settled_memory(r: &mut redis::Connection) -> (i64, i64) {
    let samples: Vec<i64> = (0..SAMPLES)
        .map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            used_memory(r)
        })
        .collect();
    (
        *samples.iter().min().unwrap(),
        *samples.iter().max().unwrap(),
    )
}

fn used_memory(r: &mut redis::Connection) -> i64 {
    let info: String = redis::cmd("INFO").arg("memory").query(r).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn xlen(r: &mut redis::Connection, key: &str) -> i64 {
    redis::cmd("XLEN").arg(key).query(r).unwrap()
}

fn info_rdi(r: &mut redis::Connection) -> String {
    redis::cmd("INFO").arg("rdi").query(r).unwrap()
}

fn hset(r: &mut redis::Connection, i: usize) -> Result<redis::Value, String> {
    let (key, id) = (format!("bp:{i}"), i.to_string());
    try_call(r, &["HSET", &key, "id", &id, "v", &format!("v{i}")])
}

#[test]
fn with_max_pending_and_the_target_down_writes_get_busy_and_memory_stays_bounded() {
    let pg = PgServer::new();
    let db = pg.create_database("backpressure");
    pg.client(&db)
        .batch_execute("CREATE TABLE bp (id integer PRIMARY KEY, v text NOT NULL)")
        .unwrap();
    let redis = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    let mut r = redis.client();
    let max = format!("max_pending: {MAX_PENDING}");
    let config = pg_config(&pg, &db, &[FAST_RETRY, &max]);
    deploy_ok(
        &mut r,
        &config,
        &[("bp", &pg_job("bp:*", "bp", &["id"], &["v"]))],
    );
    hset(&mut r, 0).unwrap();
    drain_within(&mut r, 30_000);
    pg.stop();

    let mut accepted = vec![0];
    let mut first_busy: Option<(usize, String)> = None;
    let mut memory_at_2k = (0, 0);
    let mut queue_max = 0;
    for i in 1..=ATTEMPTS {
        match hset(&mut r, i) {
            Ok(_) => accepted.push(i),
            Err(e) => {
                assert!(e.starts_with("BUSY"), "write {i} failed with {e}");
                first_busy.get_or_insert((i, e));
            }
        }
        if i % 500 == 0 {
            let len = xlen(&mut r, "__rdi__:queue:bp");
            let pending = Status::query(&mut r).job("bp").pending;
            assert!(
                len <= MAX_PENDING + MARGIN && pending <= MAX_PENDING + MARGIN,
                "queue {len} / pending {pending} past max_pending after {i} writes"
            );
            queue_max = queue_max.max(len);
        }
        if i == 2_000 {
            memory_at_2k = settled_memory(&mut r);
        }
    }
    let memory_at_20k = settled_memory(&mut r);
    let (busy_at, error) = first_busy.expect("no write was refused");
    let growth = memory_at_20k.0 - memory_at_2k.0;
    let peak_growth = memory_at_20k.1 - memory_at_2k.0;
    eprintln!(
        "back-pressure: {} of {ATTEMPTS} writes accepted, first BUSY at write {busy_at}, queue at most \
         {queue_max}; used_memory (least, most of {SAMPLES} samples) {memory_at_2k:?} B after 2k \
         attempted writes, {memory_at_20k:?} B after 20k: growth {growth} B, peak {peak_growth} B; \
         error: {error}",
        accepted.len() - 1
    );
    assert!(
        error.contains("`bp`") && error.contains("max_pending 1000"),
        "{error}"
    );
    // The queue held the change of bp:0 and nothing else when the target went down.
    let cap = MAX_PENDING as usize;
    assert!(
        (cap..=cap + MARGIN as usize).contains(&busy_at),
        "first BUSY at write {busy_at}, expected after about {MAX_PENDING} queued changes"
    );
    assert_eq!(
        accepted.len(),
        busy_at,
        "a write was accepted after the first BUSY"
    );
    assert!(
        growth < MEMORY_BOUND,
        "used_memory grew by {growth} B from 2k to 20k attempted writes"
    );
    assert!(
        peak_growth < PEAK_BOUND,
        "used_memory peaked {peak_growth} B above its level at 2k attempted writes"
    );
    assert!(
        info_rdi(&mut r).contains("backpressure:1"),
        "{}",
        info_rdi(&mut r)
    );
    // Nothing was half-applied: a refused HSET left no key.
    let refused = format!("bp:{}", busy_at + 10);
    assert_eq!(call(&mut r, &["EXISTS", &refused]), redis::Value::Int(0));
    // Other writes that would queue a change of the job are refused too: SET over a tracked hash (a
    // delete), a key of another type created under the pattern, MOVE out of the database.
    let tracked = format!("bp:{}", accepted[0]);
    for words in [
        vec!["SET", tracked.as_str(), "x"],
        vec!["SET", refused.as_str(), "x"],
        vec!["MSET", "other:9", "x", refused.as_str(), "y"],
        vec!["MOVE", tracked.as_str(), "2"],
    ] {
        let e = try_call(&mut r, &words).expect_err("refused while the job is full");
        assert!(e.starts_with("BUSY"), "{words:?}: {e}");
    }
    assert_eq!(
        call(&mut r, &["TYPE", &tracked]),
        redis::Value::SimpleString("hash".into())
    );
    // Keys of no job, and other data types, are not held back.
    call(&mut r, &["SET", "other:1", "x"]);
    call(&mut r, &["HSET", "plain:1", "f", "v"]);
    call(&mut r, &["INCR", "counter"]);
    // Inside MULTI/EXEC only the refused command fails; the others run.
    call(&mut r, &["MULTI"]);
    call(&mut r, &["SET", "other:2", "y"]);
    call(&mut r, &["HSET", &refused, "id", "1"]);
    let exec = try_call(&mut r, &["EXEC"]).expect_err("EXEC reports the refused command");
    assert!(exec.starts_with("BUSY"), "{exec}");
    assert_eq!(
        call(&mut r, &["GET", "other:2"]),
        redis::Value::BulkString(b"y".to_vec())
    );
    assert_eq!(call(&mut r, &["EXISTS", &refused]), redis::Value::Int(0));

    pg.start();
    drain_within(&mut r, 60_000);
    let status = Status::query(&mut r);
    assert_eq!(status.job("bp").pending, 0, "{}", status.raw);
    assert_eq!(xlen(&mut r, "__rdi__:queue:bp"), 0);
    assert!(
        info_rdi(&mut r).contains("backpressure:0"),
        "{}",
        info_rdi(&mut r)
    );
    hset(&mut r, ATTEMPTS + 1).expect("writes are accepted again once the queue drained");
    drain_within(&mut r, 30_000);
    let rows: i64 = pg
        .client(&db)
        .query_one("SELECT count(*) FROM bp", &[])
        .unwrap()
        .get(0);
    assert_eq!(
        rows as usize,
        accepted.len() + 1,
        "every accepted write arrived"
    );
}

/// Redis with the SQLite job `w` (`w:*` → table w) deployed with `applier` lines and extra arguments.
fn sqlite_deployed(args: &[&str], applier: &[&str]) -> (RedisServer, Vec<String>) {
    let mut opts = RedisOpts::redis74();
    for a in args {
        opts = opts.arg(a);
    }
    let redis = RedisServer::start(opts).expect("start redis");
    let db = redis.dir().join("target.db");
    sqlite_target::create(&db, "CREATE TABLE w (id INTEGER PRIMARY KEY, v TEXT)");
    let job = sqlite_job("w:*", "w", &["id"], &["v"]);
    let notes = deploy_ok(
        &mut redis.client(),
        &sqlite_config(&db, applier),
        &[("w", &job)],
    );
    (redis, notes)
}

fn pending_warnings(status: &Status) -> Vec<&String> {
    status
        .warnings
        .iter()
        .filter(|w| w.contains("rdi.pending-warning"))
        .collect()
}

#[test]
fn without_max_pending_status_warns_when_the_queue_passes_the_threshold() {
    let (redis, _) = sqlite_deployed(&[], &[]);
    let mut r = redis.client();
    call(&mut r, &["CONFIG", "SET", "rdi.pending-warning", "100"]);
    call(&mut r, &["RDI.STOP"]);
    for i in 0..100 {
        call(&mut r, &["HSET", &format!("w:{i}"), "id", &i.to_string()]);
    }
    let status = Status::query(&mut r);
    assert_eq!(status.job("w").pending, 100, "{}", status.raw);
    assert!(pending_warnings(&status).is_empty(), "{}", status.raw);
    for i in 100..150 {
        call(&mut r, &["HSET", &format!("w:{i}"), "id", &i.to_string()]);
    }
    let status = Status::query(&mut r);
    let warnings = pending_warnings(&status);
    eprintln!("pending warning: {warnings:?}");
    assert_eq!(warnings.len(), 1, "{}", status.raw);
    assert!(
        warnings[0].contains("job `w`")
            && warnings[0].contains("150")
            && warnings[0].contains("max_pending"),
        "{}",
        warnings[0]
    );
    // No cap: writes go on being accepted.
    call(&mut r, &["HSET", "w:1000", "id", "1000"]);

    call(&mut r, &["RDI.START"]);
    drain_within(&mut r, 30_000);
    let status = Status::query(&mut r);
    assert!(pending_warnings(&status).is_empty(), "{}", status.raw);
    // 0 turns the warning off.
    call(&mut r, &["CONFIG", "SET", "rdi.pending-warning", "0"]);
    call(&mut r, &["RDI.STOP"]);
    for i in 0..150 {
        call(&mut r, &["HSET", &format!("w:{i}"), "v", "again"]);
    }
    let status = Status::query(&mut r);
    assert!(pending_warnings(&status).is_empty(), "{}", status.raw);
}

#[test]
fn an_eviction_policy_that_could_evict_the_queues_is_warned_about() {
    let (redis, notes) = sqlite_deployed(&["--maxmemory-policy", "allkeys-lru"], &[]);
    let mut r = redis.client();
    let eviction = |text: &str, policy: &str| {
        text.contains(&format!("maxmemory-policy is {policy}")) && text.contains("__rdi__:queue:")
    };
    assert!(
        notes.iter().any(|n| eviction(n, "allkeys-lru")),
        "deploy notes: {notes:?}"
    );
    let status = Status::query(&mut r);
    assert!(
        status.warnings.iter().any(|w| eviction(w, "allkeys-lru")),
        "{}",
        status.raw
    );
    eprintln!("eviction warning: {:?}", status.warnings);

    // A volatile-* policy cannot evict the queues (they have no TTL): no warning.
    call(
        &mut r,
        &["CONFIG", "SET", "maxmemory-policy", "volatile-lru"],
    );
    let status = Status::query(&mut r);
    assert!(
        !status
            .warnings
            .iter()
            .any(|w| w.contains("maxmemory-policy")),
        "{}",
        status.raw
    );
    call(
        &mut r,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-random"],
    );
    let status = Status::query(&mut r);
    assert!(
        status
            .warnings
            .iter()
            .any(|w| eviction(w, "allkeys-random")),
        "{}",
        status.raw
    );

    // The default noeviction: no note at deploy.
    let (_plain, notes) = sqlite_deployed(&[], &[]);
    assert!(
        !notes.iter().any(|n| n.contains("maxmemory-policy")),
        "{notes:?}"
    );
}

#[test]
fn a_flush_of_the_queues_ends_back_pressure() {
    let (redis, _) = sqlite_deployed(&[], &["max_pending: 10"]);
    let mut r = redis.client();
    call(&mut r, &["RDI.STOP"]);
    for i in 0..10 {
        call(&mut r, &["HSET", &format!("w:{i}"), "id", &i.to_string()]);
    }
    let busy = try_call(&mut r, &["HSET", "w:10", "id", "10"]).unwrap_err();
    assert!(busy.starts_with("BUSY"), "{busy}");
    for flush in ["FLUSHALL", "FLUSHDB"] {
        call(&mut r, &[flush]);
        // The queue went with the data: its old length no longer holds writes back.
        try_call(&mut r, &["HSET", "w:11", "id", "11"])
            .unwrap_or_else(|e| panic!("write refused after {flush}: {e}"));
    }
    let status = Status::query(&mut r);
    assert_eq!(status.job("w").pending, 1, "{}", status.raw);
}
