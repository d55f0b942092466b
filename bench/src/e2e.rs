//! Figure 2, end-to-end throughput: 1,000,000 changes to distinct keys until the last row is
//! committed, against the best raw batched upsert of the same rows by a plain client (PostgreSQL,
//! MariaDB, SQLite).

use module_tests::{commands, yaml, PgServer};

use crate::{
    applier, applier_refs, kops, load, maria, module_server, pg_pipeline, raw, wait_drained, Bench,
};

/// `BENCH_E2E` (comma-separated `pg`, `maria`, `sqlite`; all by default) picks the targets.
pub fn e2e(b: &mut Bench, pg: &PgServer) {
    let targets = std::env::var("BENCH_E2E").unwrap_or_default();
    let wants = |t: &str| targets.is_empty() || targets.split(',').any(|o| o.trim() == t);
    if wants("pg") {
        e2e_pg(b, pg);
    }
    if wants("maria") {
        e2e_maria(b);
    }
    if wants("sqlite") {
        e2e_sqlite(b);
    }
    b.notes.push(
        "End-to-end: 4 connections pipeline HSET of distinct 5-field hashes (1000 per round trip) while the \
         writers run; the time runs from the first write until RDI.WAIT says the last change is committed \
         (row count checked)."
            .into(),
    );
}

fn e2e_pg(b: &mut Bench, pg: &PgServer) {
    let n = b.n;
    let db = pg.create_database("rawdb");
    let mut client = pg.client(&db);
    let unnest = raw::pg_unnest(&mut client, "raw_emp", n, 500);
    println!(
        "  raw PostgreSQL unnest, 500 rows/statement: {}",
        kops(unnest)
    );
    let values = raw::pg_values(&mut client, "raw_emp", n, 500);
    println!(
        "  raw PostgreSQL multi-row VALUES, 500 rows/statement: {}",
        kops(values)
    );
    let pipelined = raw::pg_unnest_pipelined(&pg.connection_string(&db), "raw_emp", n, 500);
    println!(
        "  raw PostgreSQL unnest, 500 rows/statement, 2 statements in flight: {}",
        kops(pipelined)
    );

    let redis = pg_pipeline(
        pg,
        "e2e",
        &raw::emp_ddl("emp", true),
        "emp:*",
        "emp",
        &["name", "email", "city", "age"],
    );
    let mut conn = redis.client();
    // The clock starts at the first write, once the load generator has encoded its commands.
    let (t0, loaded) = load::load_hashes_timed(redis.port(), "emp:", 0..n, 1000);
    let during: i64 = pg
        .client("e2e")
        .query_one("SELECT count(*) FROM emp", &[])
        .map(|r| r.get(0))
        .unwrap_or(-1);
    wait_drained(&mut conn, "end-to-end PostgreSQL");
    let total = t0.elapsed();
    let rows: i64 = pg
        .client("e2e")
        .query_one("SELECT count(*) FROM emp", &[])
        .map(|r| r.get(0))
        .unwrap_or(-1);
    assert_eq!(rows, n as i64, "every change reached PostgreSQL");
    let rate = n as f64 / total.as_secs_f64();
    println!(
        "  module: {n} HSET in {:.1} s (Redis took them at {}; {during} rows committed by then), last row committed after {:.1} s",
        loaded.as_secs_f64(),
        kops(n as f64 / loaded.as_secs_f64()),
        total.as_secs_f64()
    );
    drop(redis);
    let again = raw::pg_unnest(&mut client, "raw_emp", n, 500);
    println!("  raw PostgreSQL unnest again: {}", kops(again));
    let best = unnest.max(values).max(again).max(pipelined);
    b.fig(
        &format!("2. end-to-end {n} changes → PostgreSQL"),
        kops(rate),
        format!(
            "{} (raw client, best of unnest/VALUES ×500, pipelined unnest ×500)",
            kops(best)
        ),
        rate / best,
        "≥ 0.80",
        Some(rate / best >= 0.80),
    );
}

fn e2e_maria(b: &mut Bench) {
    let n = b.n;
    println!("  starting MariaDB...");
    let maria = maria::MariaServer::start();
    let mut raw_conn = maria.database("rawdb");
    let r500 = raw::maria_values(&mut raw_conn, "raw_emp", n, 500);
    println!(
        "  raw MariaDB multi-row VALUES, 500 rows/statement: {}",
        kops(r500)
    );
    let mut target = maria.database("e2e");
    mysql::prelude::Queryable::query_drop(
        &mut target,
        raw::emp_ddl("emp", false).replace("INTEGER", "bigint"),
    )
    .expect("target table");
    let redis = module_server();
    let job = yaml::relational_job(
        "emp:*",
        "maria",
        None,
        "emp",
        &["id"],
        &["name", "email", "city", "age"],
    );
    let mut conn = redis.client();
    commands::deploy_ok(
        &mut conn,
        &maria.config("e2e", &applier_refs(&applier())),
        &[("emp", &job)],
    );
    // The clock starts at the first write, once the load generator has encoded its commands.
    let (t0, loaded) = load::load_hashes_timed(redis.port(), "emp:", 0..n, 1000);
    wait_drained(&mut conn, "end-to-end MariaDB");
    let total = t0.elapsed();
    let rows = maria::count(&mut target, "emp");
    assert_eq!(rows, n as i64, "every change reached MariaDB");
    let rate = n as f64 / total.as_secs_f64();
    println!(
        "  module: {n} HSET in {:.1} s, last row committed after {:.1} s",
        loaded.as_secs_f64(),
        total.as_secs_f64()
    );
    drop(redis);
    let again = raw::maria_values(&mut raw_conn, "raw_emp", n, 500);
    println!("  raw MariaDB multi-row VALUES again: {}", kops(again));
    let best = r500.max(again);
    b.fig(
        &format!("2. end-to-end {n} changes → MariaDB"),
        kops(rate),
        format!(
            "{} (raw client, best of two multi-row VALUES ×500 runs)",
            kops(best)
        ),
        rate / best,
        "≥ 0.80",
        Some(rate / best >= 0.80),
    );
}

fn e2e_sqlite(b: &mut Bench) {
    let n = b.n;
    let redis = module_server();
    let path = redis.dir().join("e2e.db");
    let raw_path = redis.dir().join("raw.db");
    let r500 = raw::sqlite(&raw_path, n, 500);
    let r2000 = raw::sqlite(&raw_path, n, 2000);
    println!(
        "  raw SQLite, 500 rows/transaction: {}, 2000: {}",
        kops(r500),
        kops(r2000)
    );
    rusqlite::Connection::open(&path)
        .and_then(|c| c.execute_batch(&raw::emp_ddl("emp", false)))
        .expect("sqlite table");
    let job = yaml::sqlite_job("emp:*", "emp", &["id"], &["name", "email", "city", "age"]);
    let mut conn = redis.client();
    commands::deploy_ok(
        &mut conn,
        &yaml::sqlite_config(&path, &applier_refs(&applier())),
        &[("emp", &job)],
    );
    // The clock starts at the first write, once the load generator has encoded its commands.
    let (t0, loaded) = load::load_hashes_timed(redis.port(), "emp:", 0..n, 1000);
    wait_drained(&mut conn, "end-to-end SQLite");
    let total = t0.elapsed();
    let rows: i64 = rusqlite::Connection::open(&path)
        .and_then(|c| c.query_row("SELECT count(*) FROM emp", [], |r| r.get(0)))
        .unwrap_or(-1);
    assert_eq!(rows, n as i64, "every change reached SQLite");
    let rate = n as f64 / total.as_secs_f64();
    println!(
        "  module: {n} HSET in {:.1} s, last row committed after {:.1} s",
        loaded.as_secs_f64(),
        total.as_secs_f64()
    );
    let best = r500.max(r2000);
    b.fig(
        &format!("2. end-to-end {n} changes → SQLite"),
        kops(rate),
        format!(
            "{} (raw client, prepared upsert, best of 500/2000 rows per transaction)",
            kops(best)
        ),
        rate / best,
        "≥ 0.80",
        Some(rate / best >= 0.80),
    );
}
