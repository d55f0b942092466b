//! Random writes to tracked keys, of every kind that changes them (field updates, removal of fields
//! and of the last field, DEL, UNLINK, RENAME onto new and existing keys, SET over a hash, MOVE,
//! expiry, HINCRBY, scripts, MULTI/EXEC, RedisJSON documents), and the check that once the queue is
//! drained every row of the target equals what Redis holds. Shared by the randomized module tests.
//!
//! Each key gets an id of its own when it is created (RENAME carries it along), so that no two
//! keys share a row and Redis's final state says what the target must hold.

use crate::rng::Rng;
use crate::targets::{Target, TargetKind};
use crate::{deploy_ok, drain, RedisOpts, RedisServer};
use std::collections::BTreeMap;

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
            return format!("MULTI DEL/HSET/HSET/RENAME {hash} {other} ids {id1} {id2}");
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

/// The two jobs of a randomized test on `target`, as (name, YAML): `h:*` hashes → table `hashes`,
/// `j:*` documents → table `docs`, both propagating expiries.
pub fn jobs(target: &Target) -> [(&'static str, String); 2] {
    let expiring = |job: String| {
        job.replace(
            "trigger: write-behind\n",
            "trigger: write-behind\n    propagate_expired: true\n",
        )
    };
    let columns = ["a", "b", "c"];
    [("hashes", "h:*"), ("docs", "j:*")].map(|(table, pattern)| {
        (
            table,
            expiring(target.job(pattern, table, &["id"], &columns)),
        )
    })
}

/// A server started with `opts`, with [`jobs`] writing to a fresh database `db` of `kind`.
pub fn deployed(opts: RedisOpts, kind: TargetKind, db: &str) -> (RedisServer, Target) {
    let redis = RedisServer::start(opts).expect("start redis");
    let ddl = ["hashes", "docs"]
        .map(|t| format!("CREATE TABLE {t} (id INTEGER PRIMARY KEY, a TEXT, b TEXT, c TEXT)"))
        .join("; ");
    let target = Target::create(kind, db, &ddl, &[]);
    let jobs = jobs(&target);
    let jobs: Vec<(&str, &str)> = jobs.iter().map(|(n, y)| (*n, y.as_str())).collect();
    deploy_ok(&mut redis.client(), target.config(), &jobs);
    (redis, target)
}

/// The operations sent and the actions taken (`** ...`), for a failure message.
#[derive(Default)]
pub struct Recent(Vec<String>);

impl Recent {
    /// Remembers `what`.
    pub fn push(&mut self, what: String) {
        self.0.push(what);
    }

    /// The actions (`** ...`) remembered, each with how many operations ago it came.
    pub fn actions(&self) -> String {
        let n = self.0.len();
        self.0
            .iter()
            .enumerate()
            .filter(|(_, line)| line.starts_with("**"))
            .map(|(i, line)| format!("{} ago: {line}", n - i))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The last `n` remembered, oldest first, one per line.
    pub fn last(&self, n: usize) -> String {
        self.0[self.0.len().saturating_sub(n)..].join("\n")
    }

    /// What happened to the key that was given `id`: the operation that created it, then every
    /// later one naming that key (or the key a RENAME took it to), and every action (`** ...`).
    pub fn story(&self, id: &str) -> String {
        let words =
            |line: &str| -> Vec<String> { line.split(' ').map(str::to_string).collect::<Vec<_>>() };
        let Some(start) = self.0.iter().position(|l| words(l).iter().any(|w| w == id)) else {
            return format!("(no operation created id {id})");
        };
        let is_key = |w: &str| w.starts_with("h:") || w.starts_with("j:");
        let mut keys: Vec<String> = words(&self.0[start])
            .into_iter()
            .filter(|w| is_key(w))
            .collect();
        let mut story = Vec::new();
        for line in &self.0[start..] {
            let w = words(line);
            if line.starts_with("**") {
                story.push(line.clone());
            } else if w.iter().any(|w| keys.contains(w)) {
                if w[0] == "RENAME" && keys.contains(&w[1]) {
                    keys.push(w[2].clone());
                }
                story.push(line.clone());
            }
        }
        story.join("\n")
    }
}

/// Sends `count` random operations drawn from `rng`; `next_id` numbers the keys they create.
pub fn run(
    r: &mut redis::Connection,
    rng: &mut Rng,
    count: usize,
    next_id: &mut u64,
    recent: &mut Recent,
) {
    for _ in 0..count {
        recent.push(operate(r, rng, next_id));
    }
}

/// Waits out the short expiries the operations set, and touches the keys so that the expired ones
/// are deleted (and their deletes queued) before a check.
pub fn settle(r: &mut redis::Connection) {
    std::thread::sleep(std::time::Duration::from_millis(20));
    for key in 0..KEYS {
        let _: i64 = redis::cmd("EXISTS")
            .arg(format!("h:{key}"))
            .query(r)
            .unwrap();
    }
}

/// Drains, then compares both tables with what Redis holds; `what` names the run.
/// `recent` is printed with a failure.
pub fn check(r: &mut redis::Connection, target: &mut Target, what: &str, recent: &Recent) {
    drain(r);
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
            "{what}: {job} rejected {unexpected:#?}\nthe last 300 operations:\n{}\nactions:\n{}\n{:#?}",
            recent.last(300),
            recent.actions(),
            crate::Status::query(r)
        );
    }
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
            "{what}, {table}: {} rows differ:\n{}\nlast operations:\n{}\nstory of the first:\n{}",
            wrong.len(),
            wrong.join("\n"),
            recent.last(20),
            recent.story(wrong[0].split([' ', ':']).nth(1).unwrap_or_default())
        );
        eprintln!("{what}, {table}: {} rows equal to Redis", want.len());
    }
}
