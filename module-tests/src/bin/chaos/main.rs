//! `make chaos`: fault scenarios under write load, each run several times, every run ending with a
//! comparison of every tracked key in Redis against its row in PostgreSQL.
//!
//! Usage: `chaos [--runs N] [--only kill9|outage|failover|graceful|redeploy|cluster]`. Prints one line per run and a
//! final table; exits 1 when any run lost or diverged anything (or failed), leaving the differing keys
//! and the server logs under `target/chaos/<time>/<scenario>_<n>/`.

mod compare;
mod load;
mod scenarios;

use module_tests::env::repo_root;
use module_tests::PgServer;
use scenarios::{Report, Run};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The whole suite must end within this (issue 6: under 20 minutes on the 2-core machine); runs not
/// started by then are counted as failures.
const BUDGET_SECS: u64 = 19 * 60;

type Scenario = fn(&Run) -> Report;

const SCENARIOS: &[(&str, &str, Scenario)] = &[
    ("kill9", "kill -9 Redis, AOF always", scenarios::kill9),
    ("outage", "PostgreSQL outage", scenarios::outage),
    ("failover", "failover to replica", scenarios::failover),
    ("graceful", "graceful FAILOVER, AOF on", scenarios::graceful),
    ("redeploy", "redeploy x4", scenarios::redeploy),
    (
        "cluster",
        "cluster: 3 primaries, 61 slot migrations",
        scenarios::cluster,
    ),
];

struct Row {
    scenario: &'static str,
    run: usize,
    outcome: Result<Report, String>,
    secs: f64,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 5usize;
    let mut only: Option<String> = None;
    let mut i = 0;
    while i < args.len() {
        match (args[i].as_str(), args.get(i + 1)) {
            ("--runs", Some(n)) => runs = n.parse().expect("--runs N"),
            ("--only", Some(s)) => only = Some(s.clone()),
            _ => {
                eprintln!(
                    "usage: chaos [--runs N] [--only kill9|outage|failover|graceful|redeploy|cluster]"
                );
                std::process::exit(2);
            }
        }
        i += 2;
    }
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let out = repo_root().join(format!("target/chaos/{stamp}"));
    let started = Instant::now();
    eprintln!(
        "chaos: starting a private PostgreSQL; artifacts of failing runs go to {}",
        out.display()
    );
    let pg = PgServer::new();
    let mut rows: Vec<Row> = Vec::new();
    for (name, title, scenario) in SCENARIOS {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        for n in 1..=runs {
            let run = Run {
                pg: &pg,
                name: format!("{name}_{n}"),
                artifacts: out.join(format!("{name}_{n}")),
            };
            let t0 = Instant::now();
            let outcome = if started.elapsed().as_secs() > BUDGET_SECS {
                Err("not started: the time budget was spent".to_string())
            } else {
                catch_unwind(AssertUnwindSafe(|| scenario(&run))).map_err(|e| panic_text(&*e))
            };
            if let Err(e) = &outcome {
                run.keep("failure.txt", e);
            }
            let row = Row {
                scenario: title,
                run: n,
                outcome,
                secs: t0.elapsed().as_secs_f64(),
            };
            println!("{}", line(&row, runs));
            rows.push(row);
        }
    }
    let table = table(&rows, started.elapsed().as_secs_f64());
    println!("\n{table}");
    std::fs::create_dir_all(&out).expect("artifacts folder");
    std::fs::write(out.join("table.txt"), &table).expect("write the table");
    let failed = rows.iter().any(|r| match &r.outcome {
        Ok(report) => report.comparison.lost + report.comparison.diverged > 0,
        Err(_) => true,
    });
    if failed {
        eprintln!("chaos: FAILED; see {}", out.display());
        std::process::exit(1);
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

fn line(row: &Row, runs: usize) -> String {
    match &row.outcome {
        Ok(r) => format!(
            "[{} {}/{runs}] acknowledged {} rows checked {} lost {} diverged {} \
             (pending at fault {}, {:.1} s)",
            row.scenario,
            row.run,
            r.acked,
            r.comparison.checked,
            r.comparison.lost,
            r.comparison.diverged,
            r.pending_at_fault,
            row.secs
        ),
        Err(e) => format!("[{} {}/{runs}] FAILED: {e}", row.scenario, row.run),
    }
}

fn table(rows: &[Row], total_secs: f64) -> String {
    let mut text = String::from(
        "| scenario | run | acknowledged | rows checked | lost | diverged | pending at fault | time |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    let (mut acked, mut checked, mut lost, mut diverged) = (0, 0, 0, 0);
    for row in rows {
        match &row.outcome {
            Ok(r) => {
                let c = &r.comparison;
                acked += r.acked;
                checked += c.checked;
                lost += c.lost;
                diverged += c.diverged;
                text.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {} | {} | {:.1} s |\n",
                    row.scenario,
                    row.run,
                    r.acked,
                    c.checked,
                    c.lost,
                    c.diverged,
                    r.pending_at_fault,
                    row.secs
                ));
            }
            Err(e) => {
                let first = e.lines().next().unwrap_or_default();
                text.push_str(&format!(
                    "| {} | {} | FAILED: {first} | | | | | {:.1} s |\n",
                    row.scenario, row.run, row.secs
                ));
            }
        }
    }
    text.push_str(&format!(
        "| **total** | {} | {acked} | {checked} | {lost} | {diverged} | | {:.0} s |\n",
        rows.len(),
        total_secs
    ));
    text
}
