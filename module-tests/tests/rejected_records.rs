//! Records that violate a constraint of the target table are rejected one by one into the dead-letter
//! queue, with a reason that names the constraint but shows no values; the rest is written, and
//! RDI.GET-REJECTED lists them with JOB, COUNT and OLDEST.

use module_tests::replies::{field_int, field_text, fields, items};
use module_tests::yaml::pg_job;
use module_tests::{call, wait_from_stopped, PgPipeline, PgServer, RedisOpts};
use redis::Value;
use std::collections::{BTreeSet, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

const RECORDS: usize = 2_000;
const DDL: &str = "CREATE TABLE emp (id integer PRIMARY KEY, name text NOT NULL,
                     qty integer CHECK (qty >= 0), note text);
                   CREATE TABLE dept (id integer PRIMARY KEY, title text);";

/// Every 100th record violates a constraint: odd hundreds a negative qty (CHECK), even hundreds no
/// name (NOT NULL). Values carry markers (`-770...`, `leak-`) that a reason must never show.
fn is_bad(i: usize) -> bool {
    i.is_multiple_of(100)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn id_of(entry: &HashMap<String, Value>) -> (u64, u64) {
    let id = field_text(entry, "id");
    let (ms, seq) = id.split_once('-').unwrap();
    (ms.parse().unwrap(), seq.parse().unwrap())
}

fn rejected(r: &mut redis::Connection, words: &[&str]) -> Vec<HashMap<String, Value>> {
    let mut all = vec!["RDI.GET-REJECTED"];
    all.extend_from_slice(words);
    items(&call(r, &all)).iter().map(fields).collect()
}

#[test]
fn constraint_violations_are_rejected_with_their_reason_and_the_rest_is_written() {
    let emp = pg_job("emp:*", "emp", &["id"], &["name", "qty", "note"]);
    let dept = pg_job("dept:*", "dept", &["id"], &["title"]);
    let p = PgPipeline::start(
        PgServer::shared(),
        RedisOpts::redis74(),
        "rejected_records",
        DDL,
        &[("emp", &emp), ("dept", &dept)],
    );
    let mut r = p.redis();
    // Stopped while the records are queued, so that RDI.WAIT counts every one of them.
    call(&mut r, &["RDI.STOP"]);
    let started = now_ms();
    let mut pipe = redis::pipe();
    let mut bad_keys = BTreeSet::new();
    for i in 1..=RECORDS {
        let key = format!("emp:{i}");
        let cmd = pipe.cmd("HSET").arg(&key).arg("id").arg(i);
        cmd.arg("note").arg(format!("leak-{i}"));
        match (is_bad(i), (i / 100) % 2) {
            (false, _) => cmd.arg("name").arg(format!("n{i}")).arg("qty").arg(i),
            (true, 1) => cmd
                .arg("name")
                .arg(format!("n{i}"))
                .arg("qty")
                .arg(-7_700_000 - i as i64),
            (true, _) => cmd.arg("qty").arg(i),
        };
        pipe.ignore();
        if is_bad(i) {
            bad_keys.insert(key);
        }
    }
    pipe.cmd("HSET")
        .arg("dept:1")
        .arg("id")
        .arg(1)
        .arg("title")
        .arg("ops")
        .ignore();
    pipe.query::<()>(&mut r).unwrap();
    let waited = wait_from_stopped(&mut r, p.redis());
    let bad = bad_keys.len() as i64;
    assert_eq!(bad, 20);
    assert_eq!(waited.rejected, bad, "{waited:?}");

    let good: Vec<Vec<Option<String>>> = p.rows("SELECT count(*)::text FROM emp");
    assert_eq!(good[0][0].as_deref(), Some("1980"));
    let status = p.status();
    let job = status.job("emp");
    assert_eq!(
        (job.pending, job.inserted, job.rejected),
        (0, 1980, bad),
        "{}",
        status.raw
    );
    let described = fields(&call(&mut r, &["RDI.DESCRIBE-JOB", "emp"]));
    assert_eq!(field_int(&described, "dlq_size"), bad, "{described:?}");

    // Every rejected record, newest first.
    let all = rejected(&mut r, &["COUNT", "1000"]);
    assert_eq!(all.len(), 20, "{all:?}");
    let keys: BTreeSet<String> = all.iter().map(|e| field_text(e, "key")).collect();
    assert_eq!(keys, bad_keys);
    for e in &all {
        let (key, reason) = (field_text(e, "key"), field_text(e, "reason"));
        assert_eq!(field_text(e, "job"), "emp", "{e:?}");
        assert_eq!(field_text(e, "opcode"), "c", "{e:?}");
        assert!(field_text(e, "output").contains("emp"), "{e:?}");
        let t = field_int(e, "time_ms");
        assert!(t >= started - 1000 && t <= now_ms() + 1000, "{e:?}");
        let i: usize = key.strip_prefix("emp:").unwrap().parse().unwrap();
        let lower = reason.to_lowercase();
        if (i / 100) % 2 == 1 {
            assert!(
                lower.contains("check") && lower.contains("emp_qty_check"),
                "{reason}"
            );
        } else {
            assert!(lower.contains("null") && lower.contains("name"), "{reason}");
        }
        for value in ["-770", "leak-", &format!("n{i}")] {
            assert!(
                !reason.contains(value),
                "reason shows a value {value:?}: {reason}"
            );
        }
    }
    let ids: Vec<(u64, u64)> = all.iter().map(id_of).collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "not newest first: {ids:?}"
    );

    // COUNT defaults to 10 and takes the newest; OLDEST reverses; JOB filters.
    let newest: Vec<(u64, u64)> = rejected(&mut r, &[]).iter().map(id_of).collect();
    assert_eq!(newest, ids[..10]);
    let five: Vec<(u64, u64)> = rejected(&mut r, &["COUNT", "5"])
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(five, ids[..5]);
    let oldest: Vec<(u64, u64)> = rejected(&mut r, &["OLDEST", "COUNT", "3", "JOB", "emp"])
        .iter()
        .map(id_of)
        .collect();
    let mut reversed = ids.clone();
    reversed.reverse();
    assert_eq!(oldest, reversed[..3]);
    assert_eq!(rejected(&mut r, &["JOB", "dept"]).len(), 0);
    assert_eq!(rejected(&mut r, &["job", "emp", "count", "2"]).len(), 2);
}

#[test]
fn undeploy_keeps_the_dead_letter_stream() {
    let emp = pg_job("emp:*", "emp", &["id"], &["name", "qty"]);
    let p = PgPipeline::start(
        PgServer::shared(),
        RedisOpts::redis74(),
        "rejected_undeploy",
        DDL,
        &[("emp", &emp)],
    );
    let mut r = p.redis();
    call(&mut r, &["RDI.STOP"]);
    call(
        &mut r,
        &["HSET", "emp:1", "id", "1", "name", "a", "qty", "-1"],
    );
    call(
        &mut r,
        &["HSET", "emp:2", "id", "2", "name", "b", "qty", "2"],
    );
    assert_eq!(wait_from_stopped(&mut r, p.redis()).rejected, 1);
    call(&mut r, &["RDI.UNDEPLOY"]);
    let len: i64 = redis::cmd("XLEN")
        .arg("__rdi__:dlq:emp")
        .query(&mut r)
        .unwrap();
    assert_eq!(len, 1, "the dead-letter stream is kept after RDI.UNDEPLOY");
    let queue: i64 = redis::cmd("EXISTS")
        .arg("__rdi__:queue:emp")
        .query(&mut r)
        .unwrap();
    assert_eq!(queue, 0);
}
