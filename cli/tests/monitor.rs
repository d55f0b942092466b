//! `redis-di monitor` serves RDI.METRICS at /metrics over HTTP, and 404 elsewhere.

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::{command, get, ok, server, sqlite_pipeline, wait_until, Exporter};
use module_tests::ports::free_port;

#[test]
fn exporter_answers_metrics_over_http() {
    let redis = server();
    let work = tempfile::tempdir().unwrap();
    sqlite_pipeline(&redis, work.path());
    ok(
        redis.port(),
        &["deploy", "--dir", &work.path().to_string_lossy()],
    );
    let http = free_port();
    let child = command(redis.port(), &["monitor", "--port", &http.to_string()])
        .spawn()
        .expect("start the exporter");
    let _exporter = Exporter(child);
    wait_until(Duration::from_secs(20), "the exporter listens", || {
        TcpStream::connect(("127.0.0.1", http)).is_ok()
    });
    let missing = get(http, "/").expect("GET /");
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    let page = get(http, "/metrics").expect("GET /metrics");
    assert!(
        !page.contains("unknown command"),
        "RDI.METRICS is not in this module build (it lands from main):\n{page}"
    );
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    assert!(
        page.contains("Content-Type: text/plain; version=0.0.4"),
        "{page}"
    );
    for name in [
        "rdi_engine_state",
        "rdi_incoming_entries",
        "rdi_stream_event_latency_ms",
        "rdi_stream_size",
    ] {
        assert!(page.contains(name), "{name} missing:\n{page}");
    }
    assert!(page.contains("data_source=\"emp\""), "{page}");
}
