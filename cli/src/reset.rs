//! `redis-di reset [--job J]`: starts the backfill (RDI.RESET), then follows its progress in
//! RDI.STATUS with a progress bar until the scan has ended.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value as Json};

use crate::client::Rdi;
use crate::error::CliError;
use crate::reply::{field, number, text};
use crate::status::fetch;
use crate::table::{duration_ms, progress_bar};

/// Time between two looks at RDI.STATUS.
const POLL: Duration = Duration::from_millis(250);
/// How long to wait for a backfill to show up in RDI.STATUS before taking it as already over.
const APPEAR_GRACE: Duration = Duration::from_secs(2);
/// Cells of the progress bar.
const BAR_WIDTH: usize = 30;

/// Where one backfill stands, as RDI.STATUS reports it.
#[derive(Debug, PartialEq, Eq)]
pub enum Phase {
    /// Still scanning.
    Running,
    /// Ended normally.
    Done,
    /// Ended with this failure.
    Failed(String),
}

/// Reads a backfill's `state` (case-insensitive): scanning words mean running, failure words failed.
pub fn phase(reset: &Json) -> Phase {
    let state = field(reset, "state").to_ascii_lowercase();
    if ["fail", "error", "abort", "cancel"]
        .iter()
        .any(|w| state.contains(w))
    {
        return Phase::Failed(field(reset, "state"));
    }
    let running = [
        "running",
        "scanning",
        "started",
        "starting",
        "pending",
        "in_progress",
        "active",
    ];
    if running.contains(&state.as_str()) {
        Phase::Running
    } else {
        Phase::Done
    }
}

/// The `reset` objects of the jobs concerned (all jobs, or only `job`).
fn resets(status: &Json, job: Option<&str>) -> Map<String, Json> {
    status
        .get("jobs")
        .and_then(Json::as_object)
        .map(|jobs| {
            jobs.iter()
                .filter(|(name, _)| job.is_none_or(|j| j == name.as_str()))
                .filter_map(|(name, j)| {
                    j.get("reset")
                        .filter(|r| r.is_object())
                        .map(|r| (name.clone(), r.clone()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// One line of progress: bar against the keys to scan (each job scans the whole keyspace), then the
/// counts.
pub fn progress_line(resets: &Map<String, Json>, total: u64) -> String {
    let scanned: u64 = resets.values().map(|r| number(r, "scanned")).sum();
    let queued: u64 = resets.values().map(|r| number(r, "queued")).sum();
    format!(
        "backfill {} scanned {scanned} of ~{total} keys, queued {queued}",
        progress_bar(scanned, total, BAR_WIDTH)
    )
}

/// Runs `reset` on one server, or on every primary of a cluster (each scans its own keys); the
/// progress and the counts are their sums.
pub fn run(nodes: &mut [(String, Rdi)], job: Option<&str>, json: bool) -> Result<(), CliError> {
    let mut args = vec!["RDI.RESET"];
    if let Some(j) = job {
        args.extend(["JOB", j]);
    }
    let mut keys = Vec::with_capacity(nodes.len());
    for (_, rdi) in nodes.iter_mut() {
        rdi.call(&args)?;
        keys.push(text(&rdi.call(&["DBSIZE"])?).parse::<u64>().unwrap_or(0));
    }
    let started = Instant::now();
    let draw = !json && std::io::stderr().is_terminal();
    let mut err = std::io::stderr();
    let several = nodes.len() > 1;
    let mut last = Map::new();
    let mut total = 0;
    loop {
        let mut current = Map::new();
        let mut to_scan = 0;
        for ((label, rdi), keys) in nodes.iter_mut().zip(&keys) {
            let node = resets(&fetch(rdi)?, job);
            to_scan += keys.saturating_mul(node.len() as u64);
            for (name, reset) in node {
                let name = if several {
                    format!("{name}@{label}")
                } else {
                    name
                };
                current.insert(name, reset);
            }
        }
        if current.is_empty() && (!last.is_empty() || started.elapsed() >= APPEAR_GRACE) {
            break;
        }
        if !current.is_empty() {
            if draw {
                write!(err, "\r{}", progress_line(&current, to_scan))?;
                err.flush()?;
            }
            let phases: Vec<Phase> = current.values().map(phase).collect();
            last = current;
            total = to_scan;
            if let Some(Phase::Failed(state)) =
                phases.iter().find(|p| matches!(p, Phase::Failed(_)))
            {
                if draw {
                    writeln!(err)?;
                }
                return Err(CliError::Server(format!(
                    "backfill ended with state {state}"
                )));
            }
            if phases.iter().all(|p| *p == Phase::Done) {
                break;
            }
        }
        std::thread::sleep(POLL);
    }
    if draw {
        writeln!(err, "\r{}", progress_line(&last, total))?;
    }
    let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut out = std::io::stdout();
    let queued: u64 = last.values().map(|r| number(r, "queued")).sum();
    if json {
        writeln!(
            out,
            "{:#}",
            json!({"ok": true, "took_ms": took, "queued": queued, "nodes": nodes.len(), "jobs": last})
        )?;
    } else {
        let on = if several {
            format!(" on {} primaries", nodes.len())
        } else {
            String::new()
        };
        writeln!(
            out,
            "backfill scan ended after {}{on}: {queued} key(s) queued; `redis-di wait` waits until they are written",
            duration_ms(took)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_as_phases() {
        assert_eq!(phase(&json!({"state": "SCANNING"})), Phase::Running);
        assert_eq!(phase(&json!({"state": "running"})), Phase::Running);
        assert_eq!(phase(&json!({"state": "done"})), Phase::Done);
        assert_eq!(
            phase(&json!({"state": "failed: target down"})),
            Phase::Failed("failed: target down".into())
        );
    }

    #[test]
    fn progress_counts_every_job_against_the_keyspace() {
        let status = json!({"jobs": {
            "a": {"reset": {"state": "running", "scanned": 50, "queued": 10}},
            "b": {"pending": 0},
            "c": {"reset": {"state": "done", "scanned": 100, "queued": 30}}}});
        let all = resets(&status, None);
        assert_eq!(all.len(), 2);
        let line = progress_line(&all, 200);
        assert!(
            line.ends_with(" 75% scanned 150 of ~200 keys, queued 40"),
            "{line}"
        );
        assert_eq!(resets(&status, Some("c")).len(), 1);
        assert!(resets(&status, Some("b")).is_empty());
    }
}
