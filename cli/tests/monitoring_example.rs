//! `examples/monitoring/`: every metric the Grafana dashboard queries is served by `redis-di monitor`
//! for a real server with a deployed job, and the Prometheus scrape config points at the exporter.

// Test helpers fail by panicking, as tests do.
#![allow(clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use common::{call, command, get, ok, server, sqlite_pipeline, wait_until, Exporter};

fn example(file: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/monitoring")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `rdi_*` name in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("rdi_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

/// Every PromQL expression of the dashboard's panels.
fn dashboard_queries() -> Vec<String> {
    let dashboard: serde_json::Value =
        serde_json::from_str(&example("grafana-dashboard.json")).expect("the dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 8, "a dashboard of {} panels", panels.len());
    panels
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| {
            t["expr"]
                .as_str()
                .expect("a target with an expr")
                .to_string()
        })
        .collect()
}

#[test]
fn every_metric_the_dashboard_queries_is_served_by_the_exporter() {
    let queries = dashboard_queries();
    let wanted: BTreeSet<String> = queries.iter().flat_map(|q| metric_names(q)).collect();
    assert!(wanted.len() >= 10, "{wanted:?}");

    let redis = server();
    let work = tempfile::tempdir().unwrap();
    sqlite_pipeline(&redis, work.path());
    ok(
        redis.port(),
        &["deploy", "--dir", &work.path().to_string_lossy()],
    );
    let mut r = redis.client();
    call(
        &mut r,
        &[
            "HSET",
            "emp:1",
            "first_name",
            "Ada",
            "last_name",
            "Lovelace",
        ],
    );
    ok(redis.port(), &["wait", "--timeout-ms", "30000"]);

    let http = module_tests::ports::free_port();
    let child = command(redis.port(), &["monitor", "--port", &http.to_string()])
        .spawn()
        .expect("start the exporter");
    let _exporter = Exporter(child);
    wait_until(Duration::from_secs(20), "the exporter listens", || {
        TcpStream::connect(("127.0.0.1", http)).is_ok()
    });
    let page = get(http, "/metrics").expect("GET /metrics");
    let served: BTreeSet<String> = page
        .lines()
        .filter(|l| l.starts_with("rdi_"))
        .map(|l| l.split(['{', ' ']).next().unwrap_or_default().to_string())
        .collect();
    let missing: Vec<&String> = wanted.iter().filter(|m| !served.contains(*m)).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics the exporter does not serve: {missing:?}\nserved: {served:?}"
    );

    let scrape = example("prometheus.yml");
    assert!(scrape.contains("metrics_path: /metrics"), "{scrape}");
    assert!(
        scrape.contains(":9121"),
        "the exporter's default port: {scrape}"
    );
}

#[test]
fn metric_names_are_read_from_promql() {
    assert_eq!(
        metric_names("histogram_quantile(0.99, sum by (le) (rate(rdi_write_duration_ms_bucket[5m]))) / rdi_stream_size"),
        ["rdi_write_duration_ms_bucket", "rdi_stream_size"]
    );
}
