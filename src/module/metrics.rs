//! `RDI.METRICS`: Prometheus text exposition, with RDI's metric names and our extensions.

use std::fmt::Write;

use redis_module::{Context, RedisError, RedisResult, RedisString, RedisValue};

use super::keys;
use super::queue::{length, oldest_id};
use super::runtime;
use crate::applier::histogram::Histogram;
use crate::applier::{now_ms, JobStats};

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn histogram(f: &mut Families, name: &'static str, job: &str, h: &Histogram) {
    let (buckets, count, sum) = h.snapshot();
    let out = f.samples.entry(name).or_default();
    for (le, c) in buckets {
        let _ = writeln!(
            out,
            "{name}_bucket{{data_source=\"{job}\",le=\"{le}\"}} {c}"
        );
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{data_source=\"{job}\",le=\"+Inf\"}} {count}"
    );
    let _ = writeln!(out, "{name}_sum{{data_source=\"{job}\"}} {sum}");
    let _ = writeln!(out, "{name}_count{{data_source=\"{job}\"}} {count}");
}

/// Samples grouped by metric family, in the order families are first declared, as the text format
/// requires (every sample of a family together, after its HELP and TYPE).
#[derive(Default)]
struct Families {
    order: Vec<(&'static str, &'static str, &'static str)>,
    samples: std::collections::HashMap<&'static str, String>,
}

impl Families {
    fn declare(&mut self, name: &'static str, kind: &'static str, help: &'static str) {
        if !self.order.iter().any(|(n, _, _)| *n == name) {
            self.order.push((name, kind, help));
        }
    }

    fn sample(&mut self, name: &'static str, labels: &str, value: u64) {
        let _ = writeln!(
            self.samples.entry(name).or_default(),
            "{name}{{{labels}}} {value}"
        );
    }

    fn render(&self, out: &mut String) {
        for (name, kind, help) in &self.order {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            if let Some(s) = self.samples.get(name) {
                out.push_str(s);
            }
        }
    }
}

/// Renders every metric.
pub fn render(ctx: &Context) -> String {
    let mut f = Families::default();
    let p = runtime::current();
    // The same test as RDI.STATUS's `engine` (writers that exist and still run).
    let running = p
        .as_ref()
        .is_some_and(|p| p.engine.as_ref().is_some_and(|e| e.is_running()))
        && !super::control::is_paused();
    f.declare(
        "rdi_engine_state",
        "gauge",
        "State of the write-behind engine (1 for the current state).",
    );
    f.sample(
        "rdi_engine_state",
        "status=\"RUNNING\",sync_mode=\"UNKNOWN\"",
        u64::from(running),
    );
    f.sample(
        "rdi_engine_state",
        "status=\"STOPPED\",sync_mode=\"UNKNOWN\"",
        u64::from(!running),
    );
    f.declare(
        "rdi_incoming_entries",
        "gauge",
        "Changes per job stream by outcome.",
    );
    f.declare(
        "rdi_stream_event_latency_ms",
        "gauge",
        "Age of the oldest pending change (0 when none).",
    );
    f.declare("rdi_stream_size", "gauge", "Changes queued.");
    f.declare(
        "rdi_dlq_size",
        "gauge",
        "Records kept in the dead-letter queue.",
    );
    f.declare("rdi_batches_total", "counter", "Batches committed.");
    f.declare(
        "rdi_retries_total",
        "counter",
        "Attempts that failed for a transient reason.",
    );
    f.declare(
        "rdi_coalesced_total",
        "counter",
        "Changes folded into a newer change of the same key.",
    );
    f.declare(
        "rdi_connection_up",
        "gauge",
        "1 when the last operation on the target succeeded.",
    );
    f.declare(
        "rdi_target_errors_total",
        "counter",
        "Target errors by connection and kind: transient (unreachable, timeout, deadlock: retried), \
         batch (rows refused: split), schema (the target does not fit the job: retried), unknown (an \
         error code the writer does not know: retried, then probed row by row).",
    );
    f.declare("rdi_batch_rows", "histogram", "Rows per committed batch.");
    f.declare(
        "rdi_write_duration_ms",
        "histogram",
        "Time to write and acknowledge a batch.",
    );
    f.declare(
        "rdi_end_to_end_latency_ms",
        "histogram",
        "From a change being queued to its commit.",
    );
    if let Some(p) = &p {
        let now = now_ms();
        for c in &p.capture {
            let job = label(&c.name);
            let ds = format!("data_source=\"{job}\"");
            let pending = length(ctx, &c.queue);
            let lag = oldest_id(ctx, &c.queue).map_or(0, |id| now.saturating_sub(id.ms));
            let stats = p
                .engine
                .as_ref()
                .and_then(|e| e.jobs().iter().find(|j| j.job.name == c.name));
            let get = |g: fn(&JobStats) -> &std::sync::atomic::AtomicU64| {
                stats.map_or(0, |j| JobStats::get(g(&j.stats)))
            };
            for (op, v) in [
                ("pending", pending),
                ("inserted", get(|s| &s.inserted)),
                ("updated", get(|s| &s.updated)),
                ("deleted", get(|s| &s.deleted)),
                ("filtered", get(|s| &s.filtered)),
                ("rejected", get(|s| &s.rejected)),
            ] {
                f.sample(
                    "rdi_incoming_entries",
                    &format!("{ds},operation=\"{op}\""),
                    v,
                );
            }
            f.sample("rdi_stream_event_latency_ms", &ds, lag);
            f.sample("rdi_stream_size", &ds, pending);
            f.sample("rdi_dlq_size", &ds, length(ctx, &keys::dlq_key(&c.name)));
            f.sample("rdi_batches_total", &ds, get(|s| &s.batches));
            f.sample("rdi_retries_total", &ds, get(|s| &s.retries_total));
            f.sample("rdi_coalesced_total", &ds, get(|s| &s.coalesced));
            if let Some(j) = stats {
                let st = &j.stats;
                histogram(&mut f, "rdi_batch_rows", &job, &st.batch_rows);
                histogram(&mut f, "rdi_write_duration_ms", &job, &st.write_ms);
                histogram(&mut f, "rdi_end_to_end_latency_ms", &job, &st.latency_ms);
            }
        }
        if let Some(e) = &p.engine {
            for (name, c) in e.connection_stats() {
                let conn = format!("connection=\"{}\"", label(name));
                // No sample before the first attempt (a connection no job has used yet): it is
                // not known to be down.
                let health = c.health();
                if health != crate::applier::Health::Unknown {
                    let up = u64::from(health == crate::applier::Health::Ok);
                    f.sample("rdi_connection_up", &conn, up);
                }
                for (kind, n) in crate::applier::ERROR_KINDS.iter().zip(c.errors()) {
                    let labels = format!("{conn},kind=\"{kind}\"");
                    f.sample("rdi_target_errors_total", &labels, n);
                }
            }
        }
    }
    let mut out = String::new();
    f.render(&mut out);
    out
}

/// `RDI.METRICS`
pub fn command(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    if args.len() != 1 {
        return Err(RedisError::WrongArity);
    }
    if !runtime::is_primary() {
        // As RDI.STATUS: a replica hears of deploys only as key writes (an exporter may scrape it).
        super::restore::refresh(ctx);
    }
    Ok(RedisValue::BulkString(render(ctx)))
}
