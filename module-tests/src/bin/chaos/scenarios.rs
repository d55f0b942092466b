//! The fault scenarios. Each starts its own Redis (and replica) on free ports with a fresh database on
//! the chaos run's private PostgreSQL, puts the load on, injects its fault, lets the load go on, drains
//! and compares.

use crate::compare::{compare, read_cluster, read_pg, read_redis, Comparison};
use crate::load::{History, Load};
use module_tests::cluster::{slot_of, Cluster};
use module_tests::replica::{promote, start_replica_of};
use module_tests::yaml::{pg_config, pg_job};
use module_tests::{deploy_ok, rdi_wait, wait_until, PgServer, RedisOpts, RedisServer, Status};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

const DDL: &str = "CREATE TABLE kv (id integer PRIMARY KEY, v text NOT NULL, n integer)";
/// Upper bound of a load: the scenarios stop it long before.
const LOAD_LIMIT: Duration = Duration::from_secs(60);
/// How long the drain after the fault may take.
const DRAIN_TIMEOUT_MS: u64 = 120_000;
/// Applier settings of every run: retry a failing target at least once a second.
const APPLIER: &[&str] = &["on_failed_retry_interval: 1"];

/// Where a run keeps what the next person needs when it fails.
pub struct Run<'a> {
    /// The chaos run's PostgreSQL.
    pub pg: &'a PgServer,
    /// `<scenario>_<n>`: names the database, the values and the artifacts folder.
    pub name: String,
    /// The folder for this run's artifacts (created only when something is written).
    pub artifacts: PathBuf,
}

/// What a run measured.
#[derive(Default, Debug)]
pub struct Report {
    /// Operations acknowledged (and replicated, where the scenario asks) that must survive.
    pub acked: u64,
    /// The comparison at the end.
    pub comparison: Comparison,
    /// Changes pending in the queue when the fault struck.
    pub pending_at_fault: i64,
}

impl Run<'_> {
    /// Redis started with `opts`, database `chaos_<name>` with table `kv`, the job `kv` deployed.
    fn setup(&self, opts: RedisOpts) -> (RedisServer, String) {
        let db = self.pg.create_database(&format!("chaos_{}", self.name));
        self.pg.client(&db).batch_execute(DDL).expect("create kv");
        let redis = RedisServer::start(opts).expect("start redis with the module");
        deploy_ok(
            &mut redis.client(),
            &self.config(&db, &[]),
            &[("kv", &job(false))],
        );
        (redis, db)
    }

    fn config(&self, db: &str, extra: &[&str]) -> String {
        let applier: Vec<&str> = APPLIER.iter().chain(extra).copied().collect();
        pg_config(self.pg, db, &applier)
    }

    /// Drains, reads both sides and compares; keeps the differences and the logs when any.
    fn finish(&self, redis: &RedisServer, db: &str, history: &History, acked: u64) -> Report {
        let mut r = redis.client();
        wait_until(Duration::from_secs(30), "the job runs", || {
            let status = Status::query(&mut r);
            status.engine == "RUNNING" && status.jobs.contains_key("kv")
        });
        let drained = rdi_wait(&mut r, DRAIN_TIMEOUT_MS);
        let values = read_redis(&mut r).expect("read the keys");
        let rows = read_pg(&mut self.pg.client(db)).expect("read the rows");
        let comparison = compare(history, &values, rows);
        if let Err(e) = &drained {
            self.keep("drain.txt", &format!("{e}\n{}", Status::query(&mut r).raw));
        }
        if comparison.lost + comparison.diverged > 0 {
            self.keep("diff.txt", &comparison.lines.join("\n"));
            self.keep("redis.log", &redis.log());
            self.keep("pg.log", &self.pg.log());
            self.keep("status.txt", &Status::query(&mut r).raw);
        }
        Report {
            acked,
            comparison,
            pending_at_fault: 0,
        }
    }

    /// Writes an artifact of this run.
    pub fn keep(&self, file: &str, text: &str) {
        std::fs::create_dir_all(&self.artifacts).expect("artifacts folder");
        std::fs::write(self.artifacts.join(file), text).expect("write an artifact");
    }
}

/// The job: `kv:*` into table `kv` by `id`; `with_n` maps one more column.
fn job(with_n: bool) -> String {
    let mapping: &[&str] = if with_n { &["v", "n"] } else { &["v"] };
    pg_job("kv:*", "kv", &["id"], mapping)
}

fn pending(redis: &RedisServer) -> i64 {
    Status::query(&mut redis.client())
        .jobs
        .get("kv")
        .map_or(0, |j| j.pending)
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// Holds `LOCK TABLE kv IN EXCLUSIVE MODE` (the module's writes wait, reads go on) until dropped:
/// a slow target, so that changes are queued when the fault strikes.
fn stall(pg: &PgServer, db: &str) -> postgres::Client {
    let mut client = pg.client(db);
    client
        .batch_execute("BEGIN; LOCK TABLE kv IN EXCLUSIVE MODE")
        .expect("lock kv");
    client
}

/// (a) `kill -9` of Redis under write load with `appendfsync always`; restart; the load goes on.
pub fn kill9(run: &Run) -> Report {
    let opts = RedisOpts::redis74().appendonly().appendfsync("always");
    let (mut redis, db) = run.setup(opts);
    let load = Load::start(redis.port(), false, LOAD_LIMIT, &run.name);
    sleep_ms(2000);
    let mut locker = stall(run.pg, &db);
    sleep_ms(1000);
    let pending_at_fault = pending(&redis);
    redis.kill9();
    locker.batch_execute("COMMIT").expect("unlock kv");
    sleep_ms(300);
    redis.restart();
    sleep_ms(2500);
    let acked = load.acked();
    let history = load.finish();
    let mut report = run.finish(&redis, &db, &history, acked);
    report.pending_at_fault = pending_at_fault;
    report
}

/// (b) PostgreSQL stopped for 2.5 s under load, then started again.
pub fn outage(run: &Run) -> Report {
    let (redis, db) = run.setup(RedisOpts::redis74());
    let load = Load::start(redis.port(), false, LOAD_LIMIT, &run.name);
    sleep_ms(2000);
    run.pg.stop();
    sleep_ms(2500);
    let pending_at_fault = pending(&redis);
    run.pg.start();
    sleep_ms(2500);
    let acked = load.acked();
    let history = load.finish();
    let mut report = run.finish(&redis, &db, &history, acked);
    report.pending_at_fault = pending_at_fault;
    report
}

/// (c) A primary with a replica; writes count once `WAIT 1` confirms them; `kill -9` of the primary
/// with changes queued, `REPLICAOF NO ONE` on the replica, the load goes on against it.
pub fn failover(run: &Run) -> Report {
    let (mut primary, db) = run.setup(RedisOpts::redis74());
    let replica = start_replica_of(&primary, RedisOpts::redis74(), "kv");
    let load = Load::start(primary.port(), true, LOAD_LIMIT, &run.name);
    sleep_ms(2500);
    let mut locker = stall(run.pg, &db);
    sleep_ms(1000);
    let pending_at_fault = pending(&primary);
    primary.kill9();
    locker.batch_execute("COMMIT").expect("unlock kv");
    promote(&mut replica.client());
    load.target().require_replica.store(false, Ordering::SeqCst);
    load.target().port.store(replica.port(), Ordering::SeqCst);
    sleep_ms(2500);
    let acked = load.acked();
    let history = load.finish();
    let mut report = run.finish(&replica, &db, &history, acked);
    report.pending_at_fault = pending_at_fault;
    if report.comparison.lost + report.comparison.diverged > 0 {
        run.keep("old-primary.log", &primary.log());
    }
    report
}

/// (d) The job redeployed four times under load: a column more or less, other batch sizes.
pub fn redeploy(run: &Run) -> Report {
    let (redis, db) = run.setup(RedisOpts::redis74());
    let load = Load::start(redis.port(), false, LOAD_LIMIT, &run.name);
    let mut r = redis.client();
    let mut pending_at_fault = 0;
    for round in 0..4 {
        sleep_ms(1500);
        pending_at_fault = pending_at_fault.max(pending(&redis));
        let batch = if round % 2 == 0 {
            "write_batch_size: 50"
        } else {
            "write_batch_size: 200"
        };
        let config = run.config(&db, &[batch]);
        deploy_ok(&mut r, &config, &[("kv", &job(round % 2 == 0))]);
    }
    sleep_ms(1500);
    let acked = load.acked();
    let history = load.finish();
    let mut report = run.finish(&redis, &db, &history, acked);
    report.pending_at_fault = pending_at_fault;
    report
}

/// (e) Three primaries, each deployed with the job, under load through a slot-aware client; the slots
/// of 61 tracked keys migrate to another node (MIGRATE, as `redis-cli --cluster reshard`) while the
/// load goes on.
pub fn cluster(run: &Run) -> Report {
    let db = run.pg.create_database(&format!("chaos_{}", run.name));
    run.pg.client(&db).batch_execute(DDL).expect("create kv");
    let cluster = Cluster::start(3, RedisOpts::redis74());
    for node in &cluster.nodes {
        deploy_ok(
            &mut node.client(),
            &run.config(&db, &[]),
            &[("kv", &job(false))],
        );
    }
    let load = Load::start_cluster(cluster.ports(), LOAD_LIMIT, &run.name);
    sleep_ms(1500);
    let mut pending_at_fault = 0;
    // The slots of 61 tracked ids spread over the id range, each moved to the next node while the
    // load writes them (their clients follow ASK, then MOVED).
    let mut moved = 0;
    for id in (0u32..2000).step_by(33) {
        let slot = slot_of(&format!("kv:{id}"));
        let from = cluster.owner(slot);
        if id % 660 == 0 {
            pending_at_fault += cluster
                .nodes
                .iter()
                .map(|n| {
                    Status::query(&mut n.client())
                        .jobs
                        .get("kv")
                        .map_or(0, |j| j.pending)
                })
                .sum::<i64>();
        }
        moved += cluster.migrate_slot(slot, from, (from + 1) % cluster.nodes.len());
        sleep_ms(40);
    }
    eprintln!("  {moved} key(s) migrated to another node under load");
    sleep_ms(1500);
    let acked = load.acked();
    let history = load.finish();
    let mut drained = Ok(());
    for node in &cluster.nodes {
        if let Err(e) = rdi_wait(&mut node.client(), DRAIN_TIMEOUT_MS) {
            drained = Err(e);
        }
    }
    let mut router = cluster.router();
    let values = read_cluster(&mut router).expect("read the keys");
    let rows = read_pg(&mut run.pg.client(&db)).expect("read the rows");
    let comparison = compare(&history, &values, rows);
    if let Err(e) = &drained {
        run.keep("drain.txt", &e.to_string());
    }
    if comparison.lost + comparison.diverged > 0 {
        run.keep("diff.txt", &comparison.lines.join("\n"));
        for (i, node) in cluster.nodes.iter().enumerate() {
            run.keep(&format!("redis-{i}.log"), &node.log());
            run.keep(
                &format!("status-{i}.txt"),
                &Status::query(&mut node.client()).raw,
            );
        }
        run.keep("pg.log", &run.pg.log());
    }
    Report {
        acked,
        comparison,
        pending_at_fault,
    }
}

/// (f) A graceful `FAILOVER` to the replica under load, with a backlog being written: the primary
/// pauses writes until the replica has caught up (the writers may not trim meanwhile: Redis aborts if
/// anything is replicated during the pause), then the two swap roles and the load moves to the new
/// primary. AOF is on, so every write of the old primary is propagated. Both servers must stay up.
pub fn graceful(run: &Run) -> Report {
    let (mut primary, db) = run.setup(RedisOpts::redis74().appendonly());
    let replica = start_replica_of(&primary, RedisOpts::redis74(), "kv");
    let load = Load::start(primary.port(), true, LOAD_LIMIT, &run.name);
    sleep_ms(2500);
    let mut locker = stall(run.pg, &db);
    sleep_ms(1000);
    let pending_at_fault = pending(&primary);
    redis::cmd("FAILOVER")
        .arg("TIMEOUT")
        .arg(10_000)
        .query::<()>(&mut primary.client())
        .expect("FAILOVER");
    // The writers finish their batch while the primary pauses writes.
    locker.batch_execute("COMMIT").expect("unlock kv");
    let mut next = replica.client();
    wait_until(
        Duration::from_secs(30),
        "the replica becomes primary",
        || Status::query(&mut next).role == "primary",
    );
    load.target().port.store(replica.port(), Ordering::SeqCst);
    sleep_ms(2500);
    let acked = load.acked();
    let history = load.finish();
    if primary.wait_exit(Duration::from_millis(10)).is_some() {
        run.keep("old-primary.log", &primary.log());
        panic!("the old primary died during the failover");
    }
    let mut report = run.finish(&replica, &db, &history, acked);
    report.pending_at_fault = pending_at_fault;
    report
}
