//! `make bench`: every performance figure of issue 8, each next to a baseline measured in the same run
//! on the same machine (which is noisy and shared), with the ratio and the goal.
//!
//! Environment: `BENCH_N` (changes for the 1,000,000-change figures), `BENCH_ROUNDS` (alternating
//! redis-benchmark rounds per load, median taken), `BENCH_ONLY` (comma-separated sections:
//! capture,e2e,latency,memory,hot), `BENCH_E2E` (end-to-end targets: pg,maria,sqlite). Servers come from
//! `.deps/env.sh` like the module tests'; MariaDB as the writer tests start it.
//!
//! Each section of figures has its file (`capture`, `e2e`, `latency`, `backlog`, `hot`); the loads are in
//! `load`, the raw-client baselines in `raw` and `maria`. This file runs them and prints the table.

mod backlog;
mod capture;
mod e2e;
mod hot;
mod latency;
mod load;
mod maria;
mod raw;

use std::time::Instant;

use module_tests::{commands, yaml, PgServer, RedisOpts, RedisServer};

use backlog::memory_drain;
use capture::capture;
use e2e::e2e;
use hot::hot_keys;
use latency::latency;

/// Applier settings of every pipeline the bench deploys: a fast retry, plus `BENCH_APPLIER` lines
/// separated by `;` (for example `write_batch_size: 1000`).
fn applier() -> Vec<String> {
    let mut lines = vec!["on_failed_retry_interval: 1".to_string()];
    if let Ok(extra) = std::env::var("BENCH_APPLIER") {
        lines.extend(
            extra
                .split(';')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string),
        );
    }
    lines
}

fn applier_refs(lines: &[String]) -> Vec<&str> {
    lines.iter().map(String::as_str).collect()
}

struct Fig {
    name: String,
    value: String,
    baseline: String,
    ratio: String,
    goal: String,
    met: String,
}

struct Bench {
    n: u64,
    rounds: usize,
    figs: Vec<Fig>,
    notes: Vec<String>,
}

impl Bench {
    #[allow(clippy::too_many_arguments)]
    fn fig(
        &mut self,
        name: &str,
        value: String,
        baseline: String,
        ratio: f64,
        goal: &str,
        met: Option<bool>,
    ) {
        let fig = Fig {
            name: name.into(),
            value,
            baseline,
            ratio: format!("{ratio:.2}"),
            goal: goal.into(),
            met: match met {
                Some(true) => "yes".into(),
                Some(false) => "NO".into(),
                None => "-".into(),
            },
        };
        println!(
            "  => {}: {} (baseline {}, ratio {}, goal {}: {})",
            fig.name, fig.value, fig.baseline, fig.ratio, fig.goal, fig.met
        );
        self.figs.push(fig);
    }
}

fn main() {
    let n: u64 = env_num("BENCH_N", 1_000_000);
    let rounds = env_num("BENCH_ROUNDS", 3) as usize;
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let wants = |s: &str| only.is_empty() || only.split(',').any(|o| o.trim() == s);
    let started = Instant::now();
    print_setup(n, rounds);
    let mut b = Bench {
        n,
        rounds,
        figs: Vec::new(),
        notes: Vec::new(),
    };
    if wants("capture") {
        section("1. capture overhead", || capture(&mut b));
    }
    let pg = (wants("e2e") || wants("latency") || wants("memory") || wants("hot")).then(|| {
        println!("starting PostgreSQL...");
        PgServer::new()
    });
    if let Some(pg) = &pg {
        if wants("e2e") {
            section("2. end-to-end throughput", || e2e(&mut b, pg));
        }
        if wants("latency") {
            section("3. latency write -> commit", || latency(&mut b, pg));
        }
        if wants("memory") {
            section("4/5/7. memory, drain, PING while draining", || {
                memory_drain(&mut b, pg)
            });
        }
        if wants("hot") {
            section("6. hot keys", || hot_keys(&mut b, pg));
        }
    }
    drop(pg);
    println!("\n## Results ({:.0} s)\n", started.elapsed().as_secs_f64());
    println!("| figure | value | baseline (same run) | ratio | goal | met |");
    println!("|---|---|---|---|---|---|");
    for f in &b.figs {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            f.name, f.value, f.baseline, f.ratio, f.goal, f.met
        );
    }
    if !b.notes.is_empty() {
        println!();
        for note in &b.notes {
            println!("- {note}");
        }
    }
}

fn section(title: &str, f: impl FnOnce()) {
    println!("\n### {title}");
    let t = Instant::now();
    f();
    println!("  ({:.1} s)", t.elapsed().as_secs_f64());
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn run_text(cmd: &str, args: &[&str], libs: Option<String>) -> String {
    let mut c = std::process::Command::new(cmd);
    c.args(args);
    if let Some(l) = libs {
        c.env("LD_LIBRARY_PATH", l);
    }
    c.output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|e| format!("({cmd}: {e})"))
}

fn print_setup(n: u64, rounds: usize) {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
        .map_or("?".into(), |kb| format!("{:.1} GiB", kb as f64 / 1048576.0));
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let redis = run_text(
        &module_tests::env::var("RDI_REDIS_SERVER"),
        &["--version"],
        Some(module_tests::env::var("RDI_STACK_LIBS")),
    );
    let pg = run_text(
        &format!("{}/postgres", module_tests::env::var("RDI_PG_BIN")),
        &["--version"],
        None,
    );
    let commit = run_text("git", &["describe", "--always", "--dirty"], None);
    let kernel = run_text("uname", &["-sr"], None);
    let rustc = run_text("rustc", &["--version"], None);
    println!("## Setup");
    println!(
        "machine: {nproc} CPUs ({cpu}), {mem} RAM, {kernel}, load average {}",
        load.trim()
    );
    println!("redis:   {redis}");
    println!(
        "          module {}",
        module_tests::env::module_path().display()
    );
    println!("target:  {pg} (fsync=off, full_page_writes=off: the module tests' server); SQLite (bundled, WAL, synchronous=FULL)");
    println!(
        "         {} (innodb_flush_log_at_trx_commit=2, no binary log, buffer pool {}: the writer tests' server)",
        maria::MariaServer::version(),
        maria::BUFFER_POOL
    );
    println!("build:   {rustc}, commit {commit}");
    println!(
        "sizes:   N = {n} changes, {rounds} alternating rounds per redis-benchmark load (median)"
    );
    println!("applier: {:?} (other settings default)", applier());
}

/// Redis 7.4 (with RedisJSON) and the module, nothing deployed yet.
fn module_server() -> RedisServer {
    RedisServer::start(RedisOpts::redis74()).expect("start redis with the module")
}

/// The same binary and flags without the module.
fn plain_server() -> RedisServer {
    RedisServer::start(RedisOpts::redis74().without_module()).expect("start redis")
}

fn cmd(conn: &mut redis::Connection, words: &[&str]) -> redis::Value {
    commands::call(conn, words)
}

fn text(v: &redis::Value) -> String {
    redis::from_redis_value::<String>(v).unwrap_or_default()
}

fn used_memory(conn: &mut redis::Connection) -> i64 {
    let info = text(&cmd(conn, &["INFO", "memory"]));
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The sum of a metric over its samples (`name{...} value` lines of RDI.METRICS).
fn metric(conn: &mut redis::Connection, name: &str) -> f64 {
    let text = text(&cmd(conn, &["RDI.METRICS"]));
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn kops(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{:.2} M/s", rate / 1e6)
    } else {
        format!("{:.1} k/s", rate / 1e3)
    }
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

fn wait_drained(conn: &mut redis::Connection, what: &str) {
    if let Err(e) = commands::rdi_wait(conn, 900_000) {
        panic!("{what}: RDI.WAIT: {e}");
    }
}

/// A server with the module and one job writing keys matching `pattern` to a fresh `table` of its own
/// PostgreSQL database `db`, created by `ddl`.
fn pg_pipeline(
    pg: &PgServer,
    db: &str,
    ddl: &str,
    pattern: &str,
    table: &str,
    mapping: &[&str],
) -> RedisServer {
    let db = pg.create_database(db);
    pg.client(&db).batch_execute(ddl).expect("target table");
    let redis = module_server();
    let job = yaml::pg_job(pattern, table, &["id"], mapping);
    commands::deploy_ok(
        &mut redis.client(),
        &yaml::pg_config(pg, &db, &applier_refs(&applier())),
        &[(table, &job)],
    );
    redis
}
