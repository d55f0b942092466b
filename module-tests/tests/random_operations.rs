//! Thousands of random writes to tracked keys, of every kind that changes them (field updates,
//! removal of fields and of the last field, DEL, UNLINK, RENAME onto new and existing keys, SET
//! over a hash, MOVE, expiry, HINCRBY, scripts, MULTI/EXEC, RedisJSON documents): once the
//! queue is drained, every row of the target equals what Redis holds, and no row is left for a
//! key that is gone, whether the writers ran along or the whole run waited in the queue.
//!
//! Each key gets an id of its own when it is created (RENAME carries it along), so that no two
//! keys share a row and Redis's final state says what the target must hold.

use module_tests::rng::{count, Rng};
use module_tests::targets::{Target, TargetKind};
use module_tests::{call, deploy_ok, drain, wait_until, RedisOpts, RedisServer, Status};
use std::collections::BTreeMap;

/// Seeds (runs of operations on the same server) by default; `RDI_RANDOM_SEEDS` sets another count.
const SEEDS: u64 = 4;
/// Operations per seed.
const OPERATIONS: usize = 3_000;
/// Key names per kind: few, so that operations meet the same keys often.
const KEYS: usize = 40;
const FIELDS: [&str; 3] = ["a", "b", "c"];

/// One random change; `next_id` numbers the keys it creates. Returns the commands sent, for the
/// failure message.
fn operate(r: &mut redis::Connection, rng: &mut Rng, next_id: &mut u64) -> String {
    let hash = format!("h:{}", rng.below(KEYS));
    let other = format!("h:{}", rng.below(KEYS));
    let doc = format!("j:{}", rng.below(KEYS));
    let field = FIELDS[rng.below(FIELDS.len())];
    let value = format!("v{}", rng.below(1000));
    let exists = |r: &mut redis::Connection, key: &str| -> bool {
        redis::cmd("EXISTS").arg(key).query::<i64>(r).unwrap_or(0) == 1
    };
    let mut fresh = || {
        *next_id += 1;
        next_id.to_string()
    };
    let words: Vec<String> = match rng.below(17) {
        // One script, so that a key that expires between a check and the write is still given an
        // id: every hash of the pattern has one.
        0..=3 => vec![
            "EVAL".into(),
            "if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('HSET', KEYS[1], 'id', ARGV[1]) end \
             return redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])"
                .into(),
            "1".into(),
            hash,
            fresh(),
            field.into(),
            value,
        ],
        4 => vec!["HDEL".into(), hash, field.into()],
        // Every field but the id, then the id: the last HDEL deletes the key.
        5 => vec![
            "HDEL".into(),
            hash,
            "a".into(),
            "b".into(),
            "c".into(),
            "id".into(),
        ],
        6 => vec!["DEL".into(), hash],
        7 => vec!["UNLINK".into(), hash],
        8 => vec!["RENAME".into(), hash, other],
        9 => vec!["SET".into(), hash, "a string now".into()],
        10 => vec!["MOVE".into(), hash, "1".into()],
        11 => vec!["PEXPIRE".into(), hash, (1 + rng.below(5)).to_string()],
        12 => vec![
            "EVAL".into(),
            "if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('HSET', KEYS[1], 'id', ARGV[1]) end \
             return redis.call('HINCRBY', KEYS[1], 'c', 1)"
                .into(),
            "1".into(),
            hash,
            fresh(),
        ],
        13 => {
            let id = fresh();
            let script = "if redis.call('EXISTS', KEYS[1]) == 0 then \
                          redis.call('HSET', KEYS[1], 'id', ARGV[1]) end \
                          redis.call('HSET', KEYS[1], 'b', ARGV[2]) \
                          redis.call('HDEL', KEYS[1], 'a')";
            vec!["EVAL".into(), script.into(), "1".into(), hash, id, value]
        }
        14 => {
            // Both names exist or are created inside one transaction, then one is renamed.
            let (id1, id2) = (fresh(), fresh());
            let _: () = redis::pipe()
                .atomic()
                .cmd("DEL")
                .arg(&hash)
                .arg(&other)
                .cmd("HSET")
                .arg(&hash)
                .arg("id")
                .arg(&id1)
                .arg("a")
                .arg(&value)
                .cmd("HSET")
                .arg(&other)
                .arg("id")
                .arg(&id2)
                .cmd("RENAME")
                .arg(&hash)
                .arg(&other)
                .query(r)
                .unwrap_or_else(|e| panic!("MULTI on {hash} {other}: {e}"));
            return format!("MULTI DEL/HSET/HSET/RENAME {hash} {other}");
        }
        15 if exists(r, &doc) => {
            vec![
                "JSON.SET".into(),
                doc,
                format!("$.{field}"),
                format!("\"{value}\""),
            ]
        }
        15 => {
            let text = format!(r#"{{"id":{},"{field}":"{value}"}}"#, fresh());
            vec!["JSON.SET".into(), doc, "$".into(), text]
        }
        _ => vec![
            "JSON.DEL".into(),
            doc,
            ["$", "$.a", "$.b"][rng.below(3)].into(),
        ],
    };
    let mut cmd = redis::cmd(&words[0]);
    for w in &words[1..] {
        cmd.arg(w);
    }
    // Errors are part of the game (RENAME of a missing key, HINCRBY of a string).
    let _ = cmd.query::<redis::Value>(r);
    words.join(" ")
}

/// What Redis holds for `pattern`: id → the mapped fields (text), for keys that are hashes or
/// documents with an id.
fn redis_rows(r: &mut redis::Connection, pattern: &str) -> BTreeMap<String, Vec<Option<String>>> {
    let keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query(r).unwrap();
    let mut rows = BTreeMap::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE").arg(&key).query(r).unwrap();
        let fields: BTreeMap<String, String> = match kind.as_str() {
            "hash" => redis::cmd("HGETALL").arg(&key).query(r).unwrap(),
            "ReJSON-RL" => {
                let text: String = redis::cmd("JSON.GET").arg(&key).query(r).unwrap();
                let value: serde_json::Value = serde_json::from_str(&text).unwrap();
                value
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.as_str().map_or(v.to_string(), str::to_string)))
                    .collect()
            }
            _ => continue,
        };
        if let Some(id) = fields.get("id") {
            let row = FIELDS.iter().map(|f| fields.get(*f).cloned()).collect();
            rows.insert(id.clone(), row);
        }
    }
    rows
}

/// What the target holds in `table`: id → columns a, b, c.
fn target_rows(target: &mut Target, table: &str) -> BTreeMap<String, Vec<Option<String>>> {
    target
        .rows(&format!("SELECT id, a, b, c FROM {table}"))
        .into_iter()
        .map(|mut row| {
            let id = row.remove(0).unwrap_or_default();
            (id, row)
        })
        .collect()
}

/// A server with the two jobs (`h:*` hashes → table hashes, `j:*` documents → table docs, both
/// propagating expiries) writing to a fresh database `db` of `kind`.
fn deployed(opts: RedisOpts, kind: TargetKind, db: &str) -> (RedisServer, Target) {
    let redis = RedisServer::start(opts).expect("start redis");
    let ddl = ["hashes", "docs"]
        .map(|t| format!("CREATE TABLE {t} (id INTEGER PRIMARY KEY, a TEXT, b TEXT, c TEXT)"))
        .join("; ");
    let target = Target::create(kind, db, &ddl, &[]);
    let expiring = |job: String| {
        job.replace(
            "trigger: write-behind\n",
            "trigger: write-behind\n    propagate_expired: true\n",
        )
    };
    let columns = ["a", "b", "c"];
    deploy_ok(
        &mut redis.client(),
        target.config(),
        &[
            (
                "hashes",
                &expiring(target.job("h:*", "hashes", &["id"], &columns)),
            ),
            (
                "docs",
                &expiring(target.job("j:*", "docs", &["id"], &columns)),
            ),
        ],
    );
    (redis, target)
}

/// Runs `OPERATIONS` random operations of `seed`; returns the last few, for a failure message.
fn run_seed(r: &mut redis::Connection, seed: u64, next_id: &mut u64) -> Vec<String> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed);
    let mut recent = std::collections::VecDeque::new();
    for _ in 0..OPERATIONS {
        recent.push_back(operate(r, &mut rng, next_id));
        if recent.len() > 20 {
            recent.pop_front();
        }
    }
    // Keys given a few milliseconds to live are gone by now; touching them makes it so.
    std::thread::sleep(std::time::Duration::from_millis(20));
    for key in 0..KEYS {
        let _: i64 = redis::cmd("EXISTS")
            .arg(format!("h:{key}"))
            .query(r)
            .unwrap();
    }
    recent.into()
}

/// Drains, then compares both tables with what Redis holds; `what` names the run.
fn check(r: &mut redis::Connection, target: &mut Target, what: &str, recent: &[String]) {
    drain(r);
    for (pattern, table) in [("h:*", "hashes"), ("j:*", "docs")] {
        let want = redis_rows(r, pattern);
        let got = target_rows(target, table);
        let wrong: Vec<String> = want
            .keys()
            .chain(got.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter(|id| want.get(*id) != got.get(*id))
            .map(|id| {
                format!(
                    "id {id}: redis {:?}, target {:?}",
                    want.get(id),
                    got.get(id)
                )
            })
            .collect();
        assert!(
            wrong.is_empty(),
            "{what}, {table}: {} rows differ:\n{}\nlast operations:\n{}",
            wrong.len(),
            wrong.join("\n"),
            recent.join("\n")
        );
        eprintln!("{what}, {table}: {} rows equal to Redis", want.len());
    }
    // A key of the pattern that is not a hash or a document (SET made it a string) is rejected,
    // as documented; nothing else may be.
    for job in ["hashes", "docs"] {
        let dead: Vec<redis::Value> = redis::cmd("XRANGE")
            .arg(format!("__rdi__:dlq:{job}"))
            .arg("-")
            .arg("+")
            .query(r)
            .unwrap();
        let unexpected: Vec<String> = dead
            .iter()
            .map(|entry| format!("{entry:?}"))
            .filter(|text| {
                !text.contains("unsupported type") && !text.contains("the key was not a hash")
            })
            .collect();
        assert!(
            unexpected.is_empty(),
            "{what}: {job} rejected {unexpected:#?}"
        );
    }
}

fn seeds() -> u64 {
    count("RDI_RANDOM_SEEDS", SEEDS)
}

/// Seeds with the writers running (odd) and stopped (even) on one server writing to `kind`.
fn running_and_stopped(kind: TargetKind, db: &str) {
    let (redis, mut target) = deployed(RedisOpts::redis74(), kind, db);
    let mut r = redis.client();
    let mut next_id = 0u64;
    for seed in 1..=seeds() {
        // With the writers stopped, every change waits in the queue and is read after all the
        // others: the most coalescing, and values read long after their entries.
        let stopped = seed % 2 == 0;
        if stopped {
            call(&mut r, &["RDI.STOP"]);
        }
        let recent = run_seed(&mut r, seed, &mut next_id);
        if stopped {
            call(&mut r, &["RDI.START"]);
        }
        let writers = if stopped { "stopped" } else { "running" };
        let what = format!("{kind:?}, seed {seed} (writers {writers})");
        check(&mut r, &mut target, &what, &recent);
    }
}

#[test]
fn after_random_operations_sqlite_equals_redis() {
    running_and_stopped(TargetKind::Sqlite, "random_ops");
}

#[test]
fn after_random_operations_postgresql_equals_redis() {
    running_and_stopped(TargetKind::Postgres, "random_ops");
}

#[test]
fn after_random_operations_mariadb_equals_redis() {
    running_and_stopped(TargetKind::MariaDb, "random_ops");
}

#[test]
fn after_random_operations_and_a_kill_9_the_target_equals_redis() {
    // Every write is in the AOF before its reply; the kill comes while the writers work.
    let opts = RedisOpts::redis74().appendonly().appendfsync("always");
    let (mut redis, mut target) = deployed(opts, TargetKind::Sqlite, "random_ops_killed");
    let mut next_id = 1_000_000u64;
    for seed in 1..=seeds() {
        let mut r = redis.client();
        let recent = run_seed(&mut r, 100 + seed, &mut next_id);
        redis.kill9();
        redis.restart();
        let mut r = redis.client();
        wait_until(
            std::time::Duration::from_secs(30),
            "the jobs run again after the restart",
            || {
                let status = Status::query(&mut r);
                status.engine == "RUNNING" && status.jobs.contains_key("docs")
            },
        );
        let what = format!("seed {seed}, killed and restarted");
        check(&mut r, &mut target, &what, &recent);
    }
}
