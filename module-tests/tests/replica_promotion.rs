//! Issue 6: a replica promoted after its primary was killed with `kill -9` drains the queue it got by
//! replication: every change the old primary acknowledged and replicated (`WAIT 1`) reaches
//! PostgreSQL. While it was a replica it wrote nothing, even with the target up and entries queued.

use module_tests::replica::{promote, start_replica_of, wait_replicas, xlen};
use module_tests::yaml::pg_job;
use module_tests::{call, drain_within, PgPipeline, PgServer, RedisOpts, Status};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const DDL: &str = "CREATE TABLE emp (id integer PRIMARY KEY, name text)";
const ALL: &str = "SELECT id::text, name FROM emp ORDER BY emp.id";
const QUEUE: &str = "__rdi__:queue:emp";
/// How long the replica is watched with the target up and entries queued, to see that it writes nothing
/// (longer than the fixture's 1 s retry cap, so a writer that was wrongly running would have written).
const IDLE_WATCH: Duration = Duration::from_millis(2500);

fn hset(r: &mut redis::Connection, id: u32, name: &str) {
    call(
        r,
        &[
            "HSET",
            &format!("emp:{id}"),
            "id",
            &id.to_string(),
            "name",
            name,
        ],
    );
}

/// The rows the keys `emp:*` of `r` should give: (id, name) ordered by id.
fn expected_rows(r: &mut redis::Connection) -> Vec<Vec<Option<String>>> {
    let keys: Vec<String> = redis::cmd("KEYS").arg("emp:*").query(r).unwrap();
    let mut rows = BTreeMap::new();
    for key in keys {
        let (id, name): (i64, String) = redis::cmd("HMGET")
            .arg(&key)
            .arg("id")
            .arg("name")
            .query(r)
            .unwrap();
        rows.insert(id, name);
    }
    rows.into_iter()
        .map(|(id, name)| vec![Some(id.to_string()), Some(name)])
        .collect()
}

#[test]
fn promoted_replica_drains_the_replicated_queue_and_wrote_nothing_while_replica() {
    let pg = PgServer::new();
    let job = pg_job("emp:*", "emp", &["id"], &["name"]);
    let mut p = PgPipeline::start(
        &pg,
        RedisOpts::redis74(),
        "promotion",
        DDL,
        &[("emp", &job)],
    );
    let replica = start_replica_of(&p.redis, RedisOpts::redis74(), "emp");
    let mut rr = replica.client();

    let mut r = p.redis();
    for id in 1..=20 {
        hset(&mut r, id, &format!("first{id}"));
    }
    assert_eq!(wait_replicas(&mut r, 1, 10_000), 1, "replicated");
    p.drain();
    let before_outage = p.rows(ALL);
    assert_eq!(before_outage.len(), 20);

    // The target goes away: from here on every change stays queued on the primary and, by
    // replication, on the replica.
    pg.stop();
    for id in 21..=200 {
        hset(&mut r, id, &format!("queued{id}"));
    }
    for id in 1..=10 {
        hset(&mut r, id, &format!("updated{id}"));
    }
    call(&mut r, &["DEL", "emp:11"]);
    call(&mut r, &["RENAME", "emp:12", "emp:12000"]);
    call(&mut r, &["HINCRBY", "emp:13", "other", "1"]);
    assert_eq!(
        wait_replicas(&mut r, 1, 10_000),
        1,
        "every write reached the replica"
    );
    let expected = expected_rows(&mut rr);
    assert_eq!(expected, expected_rows(&mut r), "the replica has the data");
    let queued = xlen(&mut rr, QUEUE);
    assert!(queued > 0, "the replica holds the replicated queue");
    assert_eq!(queued, xlen(&mut r, QUEUE), "the same queue as the primary");

    // The primary dies with its queue full; the target comes back while the replica is still one.
    p.redis.kill9();
    pg.start();
    let watch = Instant::now();
    while watch.elapsed() < IDLE_WATCH {
        let status = Status::query(&mut rr);
        let j = status.job("emp");
        assert_eq!(status.role, "replica", "{}", status.raw);
        assert_eq!(
            (j.inserted, j.updated, j.deleted, j.rejected),
            (0, 0, 0, 0),
            "a replica wrote: {}",
            status.raw
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        p.rows(ALL),
        before_outage,
        "the replica wrote to the target"
    );
    assert_eq!(
        xlen(&mut rr, QUEUE),
        queued,
        "the replica trimmed its queue"
    );

    promote(&mut rr);
    drain_within(&mut rr, 60_000);
    let status = Status::query(&mut rr);
    assert_eq!(status.job("emp").pending, 0, "{}", status.raw);
    assert_eq!(status.job("emp").rejected, 0, "{}", status.raw);
    assert_eq!(
        p.rows(ALL),
        expected,
        "every acknowledged and replicated change is in PostgreSQL with its value"
    );
    assert_eq!(
        xlen(&mut rr, QUEUE),
        0,
        "the promoted replica trimmed its queue"
    );

    // The promoted replica is a primary now: new writes go through.
    hset(&mut rr, 201, "after-promotion");
    drain_within(&mut rr, 30_000);
    assert_eq!(
        p.rows("SELECT name FROM emp WHERE id = 201"),
        vec![vec![Some("after-promotion".to_string())]]
    );
}
