//! `redis-di status [--live]`: RDI.STATUS as tables for people, redrawn in place with `--live`.

use std::io::Write;
use std::time::Duration;

use serde_json::Value as Json;

use crate::client::Rdi;
use crate::error::CliError;
use crate::reply::{self, field, number};
use crate::table::{duration_ms, timestamp_ms, Table};

/// ANSI: cursor home, then clear the screen.
const CLEAR: &str = "\x1b[H\x1b[2J";

/// Fetches RDI.STATUS as JSON (maps as objects, whatever protocol the server answered in).
pub fn fetch(rdi: &mut Rdi) -> Result<Json, CliError> {
    Ok(reply::to_json(&rdi.call(&["RDI.STATUS"])?, reply::STATUS))
}

/// `status`: prints once (JSON or tables).
pub fn run(rdi: &mut Rdi, json: bool) -> Result<(), CliError> {
    let status = fetch(rdi)?;
    let text = if json {
        format!("{status:#}\n")
    } else {
        render(&status)
    };
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(())
}

/// `status --live`: redraws every `interval` until interrupted (Ctrl-C ends the process).
pub fn live(rdi: &mut Rdi, interval: Duration) -> Result<(), CliError> {
    live_with(|| Ok(render(&fetch(rdi)?)), interval)
}

/// Redraws what `frame` renders every `interval` until interrupted.
pub fn live_with(
    mut frame: impl FnMut() -> Result<String, CliError>,
    interval: Duration,
) -> Result<(), CliError> {
    let mut out = std::io::stdout();
    loop {
        let frame = format!(
            "{CLEAR}{}\nrefreshed every {:.1} s - Ctrl-C to quit\n",
            frame()?,
            interval.as_secs_f64()
        );
        out.write_all(frame.as_bytes())?;
        out.flush()?;
        std::thread::sleep(interval);
    }
}

/// The status as text: engine line, connections table, jobs table, outputs, warnings.
pub fn render(status: &Json) -> String {
    let mut out = format!(
        "Engine: {}    Role: {}\n",
        field(status, "engine"),
        field(status, "role")
    );
    let empty = serde_json::Map::new();
    let conns = status
        .get("connections")
        .and_then(Json::as_object)
        .unwrap_or(&empty);
    out.push_str("\nConnections\n");
    if conns.is_empty() {
        out.push_str("  (none)\n");
    } else {
        let mut t = Table::new(&[
            "NAME",
            "TYPE",
            "LOCATION",
            "DATABASE",
            "HEALTH",
            "LAST ERROR",
        ]);
        for (name, c) in conns {
            t.row(vec![
                name.clone(),
                field(c, "type"),
                field(c, "location"),
                field(c, "database"),
                field(c, "health"),
                match (field(c, "last_error"), number(c, "last_error_time_ms")) {
                    (e, at) if e != "-" && at > 0 => format!("{e} (at {})", timestamp_ms(at)),
                    (e, _) => e,
                },
            ]);
        }
        out.push_str(&t.render());
    }
    let jobs = status
        .get("jobs")
        .and_then(Json::as_object)
        .unwrap_or(&empty);
    out.push_str("\nJobs\n");
    if jobs.is_empty() {
        out.push_str("  (none)\n");
    } else {
        out.push_str(&jobs_table(jobs).render());
        out.push_str(&details(jobs));
    }
    let warnings = status
        .get("warnings")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    if !warnings.is_empty() {
        out.push_str("\nWarnings\n");
        for w in warnings {
            out.push_str(&format!(
                "  - {}\n",
                w.as_str().map_or(w.to_string(), str::to_string)
            ));
        }
    }
    out
}

fn jobs_table(jobs: &serde_json::Map<String, Json>) -> Table {
    let mut t = Table::new(&[
        "JOB", "PATTERN", "PENDING", "INSERTED", "UPDATED", "DELETED", "FILTERED", "REJECTED",
        "DLQ", "BATCHES", "LAG", "RETRIES",
    ]);
    for (name, j) in jobs {
        let n = |k: &str| number(j, k).to_string();
        t.row(vec![
            name.clone(),
            field(j, "key_pattern"),
            n("pending"),
            n("inserted"),
            n("updated"),
            n("deleted"),
            n("filtered"),
            n("rejected"),
            n("dlq_size"),
            n("batches"),
            duration_ms(number(j, "lag_ms")),
            n("retry_attempts"),
        ]);
    }
    t
}

/// Per job: outputs, last error, backfill progress (only what is there).
fn details(jobs: &serde_json::Map<String, Json>) -> String {
    let mut out = String::new();
    for (name, j) in jobs {
        for o in j
            .get("outputs")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            out.push_str(&format!(
                "  {name} -> {}\n",
                o.as_str().map_or(o.to_string(), str::to_string)
            ));
        }
        if field(j, "last_error") != "-" {
            out.push_str(&format!(
                "  {name}: last error at {}: {}\n",
                timestamp_ms(number(j, "last_error_time_ms")),
                field(j, "last_error")
            ));
        }
        if let Some(r) = j.get("reset").filter(|r| r.is_object()) {
            out.push_str(&format!(
                "  {name}: backfill {}: scanned {}, queued {}\n",
                field(r, "state"),
                number(r, "scanned"),
                number(r, "queued")
            ));
        }
    }
    if out.is_empty() {
        out
    } else {
        format!("\n{out}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Json {
        json!({
            "engine": "RUNNING", "role": "primary",
            "connections": {"target": {"type": "sqlite", "location": "/tmp/q.db", "database": null,
                                       "health": "ok", "last_error": null}},
            "jobs": {"emp": {"key_pattern": "emp:*", "outputs": ["relational.write -> emp (target)"],
                             "pending": 2, "inserted": 5, "updated": 1, "deleted": 0, "filtered": 0,
                             "rejected": 1, "coalesced": 0, "batches": 3, "lag_ms": 1500, "dlq_size": 1,
                             "last_error": "no such column: x", "last_error_time_ms": 1_000,
                             "retry_attempts": 0,
                             "reset": {"state": "running", "scanned": 10, "queued": 9}}},
            "warnings": ["FLUSHALL left the targets as they are"]
        })
    }

    #[test]
    fn a_connection_error_shows_when_it_happened() {
        let mut status = sample();
        status["connections"]["target"]["last_error"] = json!("cannot connect");
        status["connections"]["target"]["last_error_time_ms"] = json!(1_000);
        let text = render(&status);
        assert!(
            text.contains(&format!("cannot connect (at {})", timestamp_ms(1_000))),
            "{text}"
        );
    }

    #[test]
    fn status_shows_engine_connections_counters_and_lag() {
        let text = render(&sample());
        assert!(
            text.starts_with("Engine: RUNNING    Role: primary\n"),
            "{text}"
        );
        assert!(
            text.contains("target  sqlite  /tmp/q.db  -         ok"),
            "{text}"
        );
        let row = text
            .lines()
            .find(|l| l.starts_with("emp "))
            .unwrap_or_default();
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cells,
            ["emp", "emp:*", "2", "5", "1", "0", "0", "1", "1", "3", "1.5", "s", "0"]
        );
        assert!(
            text.contains("emp -> relational.write -> emp (target)"),
            "{text}"
        );
        assert!(
            text.contains("last error at 1970-01-01 00:00:01: no such column: x"),
            "{text}"
        );
        assert!(
            text.contains("backfill running: scanned 10, queued 9"),
            "{text}"
        );
        assert!(
            text.contains("  - FLUSHALL left the targets as they are"),
            "{text}"
        );
    }

    #[test]
    fn nothing_deployed_reads_as_none() {
        let text = render(&json!({"engine": "NOT DEPLOYED", "role": "primary",
                                  "connections": {}, "jobs": {}, "warnings": []}));
        assert_eq!(
            text,
            "Engine: NOT DEPLOYED    Role: primary\n\nConnections\n  (none)\n\nJobs\n  (none)\n"
        );
    }
}
