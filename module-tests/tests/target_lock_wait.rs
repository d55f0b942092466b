//! A writer whose statement waits on a lock in the target (a row another client holds in a long
//! transaction) does not hold up the operator: a redeploy, RDI.STOP or MODULE UNLOAD interrupts the
//! statement (PostgreSQL: a cancel request) instead of waiting for the lock or for the read timeout
//! (120 s), and the statement cancelled commits nothing, even once the lock is released.

use module_tests::env::module_path;
use module_tests::replica::start_replica_of;
use module_tests::targets::{Target, TargetKind};
use module_tests::yaml::{pg_job, PG_PASSWORD};
use module_tests::{
    call, deploy_ok, drain, row, wait_until, MariaServer, PgPipeline, PgServer, RedisOpts, Status,
    FAST_RETRY,
};
use std::time::{Duration, Instant};

const DDL: &str = "CREATE TABLE emp (id integer PRIMARY KEY, name text)";
const ALL: &str = "SELECT id::text, name FROM emp ORDER BY id";

/// The writers' statements that wait on a lock in `p`'s database.
fn waiting(p: &PgPipeline) -> Vec<String> {
    let mut c = p.pg_client();
    c.query(
        "SELECT query FROM pg_stat_activity WHERE datname = current_database() \
         AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
        &[],
    )
    .expect("read pg_stat_activity")
    .iter()
    .map(|r| r.get::<_, String>(0))
    .collect()
}

/// `emp:1` written as `Alice`, then the row locked by another client's open transaction and
/// `emp:1` written as `Bob`: the writer's statement waits on the lock. Returns the lock's holder.
fn writer_waiting_on_a_row_lock(p: &PgPipeline) -> postgres::Client {
    let mut r = p.redis();
    call(&mut r, &["HSET", "emp:1", "id", "1", "name", "Alice"]);
    p.drain();
    let mut holder = p.pg_client();
    holder
        .batch_execute("BEGIN; SELECT * FROM emp WHERE id = 1 FOR UPDATE")
        .expect("lock the row");
    call(&mut r, &["HSET", "emp:1", "name", "Bob"]);
    wait_until(
        Duration::from_secs(10),
        "the writer waits on the row lock",
        || !waiting(p).is_empty(),
    );
    holder
}

/// Redis with `opts` and the `emp` job deployed on database `db`.
fn start(db: &str, opts: RedisOpts) -> PgPipeline<'static> {
    let job = pg_job("emp:*", "emp", &["id"], &["name"]);
    PgPipeline::start(PgServer::shared(), opts, db, DDL, &[("emp", &job)])
}

#[test]
fn a_redeploy_interrupts_a_writer_waiting_on_a_row_lock() {
    let p = start("lockwait_redeploy", RedisOpts::redis74());
    let mut holder = writer_waiting_on_a_row_lock(&p);
    let job = pg_job("emp:*", "emp", &["id"], &["name"]);
    let started = Instant::now();
    deploy_ok(&mut p.redis(), &p.config, &[("emp", &job)]);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "the redeploy waited {took:?} for the writer"
    );
    // The old writer's statement was cancelled; the new writer's waits on the lock in its turn.
    assert!(waiting(&p).len() <= 1, "{:?}", waiting(&p));
    holder.batch_execute("COMMIT").expect("release the lock");
    p.drain();
    assert_eq!(p.rows(ALL), vec![row(&["1", "Bob"])]);
    // The statement given up is not reported as an error of the target's.
    let status = p.status();
    assert_eq!(status.job("emp").last_error, None, "{}", status.raw);
    assert_eq!(status.connection("pg").health, "ok", "{}", status.raw);
}

/// A primary demoted by `FAILOVER` while its writer's statement waits on the lock: the statement is
/// cancelled (the server may no longer write: `writer::fence`), and the new primary writes the row.
#[test]
fn a_failover_interrupts_the_demoted_writer_waiting_on_a_row_lock() {
    let p = start("lockwait_failover", RedisOpts::redis74());
    let replica = start_replica_of(&p.redis, RedisOpts::redis74(), "emp");
    let mut holder = writer_waiting_on_a_row_lock(&p);
    call(&mut p.redis(), &["FAILOVER", "TIMEOUT", "5000"]);
    wait_until(
        Duration::from_secs(10),
        "the replica is the primary",
        || Status::query(&mut replica.client()).role == "primary",
    );
    // The new primary's writer may be waiting on the lock in its turn: one statement at most.
    wait_until(
        Duration::from_secs(5),
        "the demoted writer's statement is cancelled",
        || waiting(&p).len() <= 1,
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(waiting(&p).len() <= 1, "{:?}", waiting(&p));
    holder.batch_execute("COMMIT").expect("release the lock");
    drain(&mut replica.client());
    assert_eq!(p.rows(ALL), vec![row(&["1", "Bob"])]);
}

#[test]
fn module_unload_interrupts_a_writer_waiting_on_a_row_lock() {
    let opts = RedisOpts::redis74()
        .arg("--enable-module-command")
        .arg("yes");
    let p = start("lockwait_unload", opts);
    let mut holder = writer_waiting_on_a_row_lock(&p);
    let mut r = p.redis();
    let started = Instant::now();
    call(&mut r, &["MODULE", "UNLOAD", "rdi"]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "the unload took {took:?}");
    assert!(waiting(&p).is_empty(), "{:?}", waiting(&p));
    holder.batch_execute("COMMIT").expect("release the lock");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(p.rows(ALL), vec![row(&["1", "Alice"])]);
    call(
        &mut r,
        &["MODULE", "LOAD", &module_path().display().to_string()],
    );
    wait_until(Duration::from_secs(20), "the kept queue drains", || {
        p.rows(ALL) == vec![row(&["1", "Bob"])]
    });
}

/// A statement given up at the read timeout is cancelled: the server does not keep running it for a
/// connection that is gone (holding a backend and, once the lock is released, committing values
/// the retries have replaced since), so retries do not pile up statements waiting on the lock.
#[test]
fn a_statement_given_up_at_the_read_timeout_is_cancelled_not_left_waiting() {
    let pg = PgServer::shared();
    let p = PgPipeline::start(pg, RedisOpts::redis74(), "lockwait_timeout", DDL, &[]);
    let config = p.config.replacen(
        &format!("    password: {PG_PASSWORD}\n"),
        &format!("    password: {PG_PASSWORD}\n    connect_args:\n      read_timeout: 1\n"),
        1,
    );
    assert_ne!(config, p.config);
    let job = pg_job("emp:*", "emp", &["id"], &["name"]);
    deploy_ok(&mut p.redis(), &config, &[("emp", &job)]);
    let mut holder = writer_waiting_on_a_row_lock(&p);
    // Several read timeouts and retries (FAST_RETRY).
    std::thread::sleep(Duration::from_secs(5));
    let status = p.status();
    let error = status.job("emp").last_error.clone().unwrap_or_default();
    assert!(error.contains("1 s"), "{}", status.raw);
    let left = waiting(&p);
    assert!(left.len() <= 1, "statements left waiting: {left:?}");
    holder.batch_execute("COMMIT").expect("release the lock");
    p.drain();
    assert_eq!(p.rows(ALL), vec![row(&["1", "Bob"])]);
}

/// The writers' statements running in MariaDB (waiting on the row lock). From the process list:
/// `INNODB_TRX` is a cache that is refreshed only once it has not been read for 0.1 s.
fn maria_waiting(maria: &MariaServer, db: &str) -> i64 {
    maria.count(
        db,
        &format!(
            "SELECT count(*) FROM information_schema.processlist \
             WHERE db = '{db}' AND info LIKE 'INSERT INTO `emp`%'"
        ),
    )
}

/// `SELECT <what>` of the holder's session of database `db` in the process list.
fn sleeping(what: &str, db: &str) -> String {
    format!(
        "SELECT {what} FROM information_schema.processlist \
         WHERE db = '{db}' AND info LIKE 'SELECT SLEEP%'"
    )
}

/// Another client of MariaDB holding row `id = 1` of `emp` in an open transaction until released.
struct MariaLock {
    maria: &'static MariaServer,
    db: String,
    client: std::process::Child,
}

impl MariaLock {
    fn take(maria: &'static MariaServer, db: &str) -> MariaLock {
        let client = std::process::Command::new("mariadb")
            .args([
                "--no-defaults",
                "--protocol=tcp",
                "-h127.0.0.1",
                &format!("-P{}", maria.port()),
                "-uroot",
                "-e",
                "BEGIN; SELECT id FROM emp WHERE id = 1 FOR UPDATE; SELECT SLEEP(120)",
                db,
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("run mariadb");
        wait_until(Duration::from_secs(10), "the row is locked", || {
            maria.count(db, &sleeping("count(*)", db)) == 1
        });
        MariaLock {
            maria,
            db: db.to_string(),
            client,
        }
    }

    /// Ends the holder's session, which rolls its transaction back.
    fn release(mut self) {
        let ids = self.maria.query(&self.db, &sleeping("id", &self.db));
        for id in ids {
            self.maria.query(&self.db, &format!("KILL {}", id[0]));
        }
        let _ = self.client.wait();
    }
}

/// As [`writer_waiting_on_a_row_lock`], on MariaDB database `db` through Redis connection `r`.
fn maria_writer_waiting(
    maria: &'static MariaServer,
    db: &str,
    r: &mut redis::Connection,
) -> MariaLock {
    call(r, &["HSET", "emp:1", "id", "1", "name", "Alice"]);
    drain(r);
    let lock = MariaLock::take(maria, db);
    call(r, &["HSET", "emp:1", "name", "Bob"]);
    wait_until(Duration::from_secs(10), "the writer waits", || {
        maria_waiting(maria, db) == 1
    });
    lock
}

/// The MariaDB writer: a redeploy and MODULE UNLOAD while its statement waits on a row lock (up to
/// InnoDB's 50 s) interrupt it with `KILL QUERY`, and the interrupted statement commits nothing.
#[test]
fn mariadb_a_redeploy_and_an_unload_interrupt_a_writer_waiting_on_a_row_lock() {
    let maria = MariaServer::shared();
    let target = Target::create(TargetKind::MariaDb, "lockwait", DDL, &[FAST_RETRY]);
    let db = "lockwait";
    let opts = RedisOpts::redis74()
        .arg("--enable-module-command")
        .arg("yes");
    let redis = module_tests::RedisServer::start(opts).expect("start redis");
    let mut r = redis.client();
    let job = target.job("emp:*", "emp", &["id"], &["name"]);
    deploy_ok(&mut r, target.config(), &[("emp", &job)]);
    let rows = || maria.query(db, "SELECT id, name FROM emp ORDER BY id");
    let one = |name: &str| vec![vec!["1".to_string(), name.to_string()]];
    let lock = maria_writer_waiting(maria, db, &mut r);
    let started = Instant::now();
    deploy_ok(&mut r, target.config(), &[("emp", &job)]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "the redeploy took {took:?}");
    // The new writer waits in its turn; the unload interrupts it too.
    wait_until(Duration::from_secs(10), "the new writer waits", || {
        maria_waiting(maria, db) == 1
    });
    let started = Instant::now();
    call(&mut r, &["MODULE", "UNLOAD", "rdi"]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "the unload took {took:?}");
    wait_until(Duration::from_secs(3), "no statement waits", || {
        maria_waiting(maria, db) == 0
    });
    lock.release();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rows(), one("Alice"), "an interrupted statement committed");
    call(
        &mut r,
        &["MODULE", "LOAD", &module_path().display().to_string()],
    );
    wait_until(Duration::from_secs(20), "the kept queue drains", || {
        rows() == one("Bob")
    });
}

/// MariaDB: a statement given up at the read timeout is killed, as for PostgreSQL, rather than left
/// waiting on the lock in the server (until InnoDB's lock wait timeout, or committing once the lock
/// is released) while each retry adds another.
#[test]
fn mariadb_a_statement_given_up_at_the_read_timeout_is_killed_not_left_waiting() {
    let maria = MariaServer::shared();
    let target = Target::create(TargetKind::MariaDb, "lockwait_timeout", DDL, &[FAST_RETRY]);
    let db = "lockwait_timeout";
    let config = target.config().replacen(
        "    user: root\n",
        "    user: root\n    connect_args:\n      read_timeout: 1\n",
        1,
    );
    assert_ne!(config, target.config());
    let redis = module_tests::RedisServer::start(RedisOpts::redis74()).expect("start redis");
    let mut r = redis.client();
    let job = target.job("emp:*", "emp", &["id"], &["name"]);
    deploy_ok(&mut r, &config, &[("emp", &job)]);
    let lock = maria_writer_waiting(maria, db, &mut r);
    // Several read timeouts and retries (FAST_RETRY).
    std::thread::sleep(Duration::from_secs(5));
    let left = maria_waiting(maria, db);
    assert!(left <= 1, "statements left waiting: {left}");
    lock.release();
    drain(&mut r);
    let rows = maria.query(db, "SELECT id, name FROM emp ORDER BY id");
    assert_eq!(rows, vec![vec!["1".to_string(), "Bob".to_string()]]);
}

/// MariaDB: a primary demoted by `FAILOVER` while its writer's statement waits on the lock has that
/// statement killed; the new primary writes the row once the lock is released.
#[test]
fn mariadb_a_failover_interrupts_the_demoted_writer_waiting_on_a_row_lock() {
    let maria = MariaServer::shared();
    let db = "lockwait_failover";
    let target = Target::create(TargetKind::MariaDb, db, DDL, &[FAST_RETRY]);
    let primary = module_tests::RedisServer::start(RedisOpts::redis74()).expect("start redis");
    let mut r = primary.client();
    let job = target.job("emp:*", "emp", &["id"], &["name"]);
    deploy_ok(&mut r, target.config(), &[("emp", &job)]);
    let replica = start_replica_of(&primary, RedisOpts::redis74(), "emp");
    let lock = maria_writer_waiting(maria, db, &mut r);
    call(&mut r, &["FAILOVER", "TIMEOUT", "5000"]);
    wait_until(
        Duration::from_secs(10),
        "the replica is the primary",
        || Status::query(&mut replica.client()).role == "primary",
    );
    // The new primary's writer may be waiting on the lock in its turn: one statement at most.
    std::thread::sleep(Duration::from_millis(500));
    let left = maria_waiting(maria, db);
    assert!(left <= 1, "statements waiting: {left}");
    lock.release();
    drain(&mut replica.client());
    let rows = maria.query(db, "SELECT id, name FROM emp ORDER BY id");
    assert_eq!(rows, vec![vec!["1".to_string(), "Bob".to_string()]]);
}
