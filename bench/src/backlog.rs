//! Figures 4, 5 and 7: memory per queued change while the writers are stopped, the rate at which
//! that backlog drains, and PING latency while it does.

use std::time::{Duration, Instant};

use module_tests::PgServer;

use crate::load::{quantile, PingSampler};
use crate::{
    cmd, kops, load, ms, pg_pipeline, plain_server, raw, used_memory, wait_drained, Bench,
};

pub fn memory_drain(b: &mut Bench, pg: &PgServer) {
    let n = b.n;
    let plain = plain_server();
    let mut pc = plain.client();
    let m0 = used_memory(&mut pc);
    load::load_hashes(plain.port(), "emp:", 0..n, 1000);
    let data = (used_memory(&mut pc) - m0) as f64 / n as f64;
    drop(plain);

    let redis = pg_pipeline(
        pg,
        "drain",
        &raw::emp_ddl("emp", true),
        "emp:*",
        "emp",
        &["name", "email", "city", "age"],
    );
    let mut conn = redis.client();
    cmd(&mut conn, &["RDI.STOP"]);
    let m0 = used_memory(&mut conn);
    load::load_hashes(redis.port(), "emp:", 0..n, 1000);
    let with = (used_memory(&mut conn) - m0) as f64 / n as f64;
    let extra = with - data;
    b.fig(
        &format!("4. memory per queued change ({n} queued, writers stopped)"),
        format!("{extra:.0} B beyond the data"),
        format!("{data:.0} B/change of data (same hashes, no module)"),
        with / data,
        "≤ 100 B",
        Some(extra <= 100.0),
    );

    let idle = PingSampler::start(redis.port());
    std::thread::sleep(Duration::from_secs(3));
    let mut idle = idle.finish();
    let mut observer = pg.client("drain");
    let ticks = raw::writer_ticks(&mut observer, "drain");
    let ping = PingSampler::start(redis.port());
    let t0 = Instant::now();
    cmd(&mut conn, &["RDI.START"]);
    wait_drained(&mut conn, "drain");
    let took = t0.elapsed();
    let module_cpu = raw::cpu_per_row(ticks, raw::writer_ticks(&mut observer, "drain"), n);
    let mut busy = ping.finish();
    let rows: i64 = pg
        .client("drain")
        .query_one("SELECT count(*) FROM emp", &[])
        .map(|r| r.get(0))
        .unwrap_or(-1);
    assert_eq!(rows, n as i64, "the backlog reached PostgreSQL");
    let rate = n as f64 / took.as_secs_f64();
    // Its own database: `rawdb` exists only when the end-to-end section ran (BENCH_ONLY).
    let raw_db = pg.create_database("rawdrain");
    let (sequential, raw_cpu) =
        raw::pg_unnest_cpu(&mut pg.client(&raw_db), "raw_emp", n.min(300_000), 500);
    match (module_cpu, raw_cpu) {
        (Some(m), Some(r)) => println!(
            "  PostgreSQL backend CPU per row: {m:.2} µs for the module's drain, {r:.2} µs for the raw \
             sequential client (ratio {:.2}; steadier than the rates on a shared machine)",
            m / r
        ),
        _ => println!("  PostgreSQL backend CPU per row: not readable from /proc here"),
    }
    let pipelined = raw::pg_unnest_pipelined(
        &pg.connection_string(&raw_db),
        "raw_emp",
        n.min(300_000),
        500,
    );
    let best = sequential.max(pipelined);
    b.fig(
        &format!("5. drain of a {n}-change backlog → PostgreSQL"),
        kops(rate),
        format!(
            "{} (raw client unnest ×500, best of sequential {} and pipelined {})",
            kops(best),
            kops(sequential),
            kops(pipelined)
        ),
        rate / best,
        "≥ 0.80 (as end-to-end)",
        Some(rate / best >= 0.80),
    );
    let (p99, p999, max) = (
        quantile(&mut busy, 0.99),
        quantile(&mut busy, 0.999),
        quantile(&mut busy, 1.0),
    );
    let p99_idle = quantile(&mut idle, 0.99);
    println!(
        "  PING while draining: {} samples, p99.9 {}, max {}",
        busy.len(),
        ms(p999),
        ms(max)
    );
    b.fig(
        "7. PING p99 while writers drain at full speed",
        ms(p99),
        format!("{} (same server, idle)", ms(p99_idle)),
        p99 as f64 / p99_idle.max(1) as f64,
        "≤ 2 ms",
        Some(p99 <= 2_000),
    );
}
