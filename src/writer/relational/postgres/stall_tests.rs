//! A PostgreSQL server that stops answering in the middle of a session (its backend stopped with
//! SIGSTOP: the kernel still acknowledges what is sent) is given up after `read_timeout`, and the
//! next write reconnects. Test-only: its `mod` line carries #[cfg(test)].

use super::test_server::{database, sql};
use super::tests::{target, up};
use super::*;
use serde_json::json;
use std::time::Instant;

/// Sends a signal to a process (`kill -SIG pid`).
fn signal(sig: &str, pid: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, pid])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} {pid}");
}

#[test]
fn a_backend_that_stops_answering_is_given_up_after_read_timeout_and_the_next_write_reconnects() {
    let db = database(
        "stalls",
        "CREATE TABLE emp (id int8 PRIMARY KEY, name text NOT NULL)",
    );
    let mut settings = (*db).clone();
    settings
        .connect_args
        .insert("application_name".into(), "rdi-stall-test".into());
    settings
        .connect_args
        .insert("read_timeout".into(), "1".into());
    let mut writer = PostgresWriter::connect(&settings).unwrap();
    let t = target(None, "emp", &["id"], &["name"]);
    writer.check(&t).unwrap();
    writer
        .write(&[up(&t, vec![json!("1"), json!("ann")])])
        .unwrap();

    let pids = sql(
        &db,
        "SELECT pid::text FROM pg_stat_activity WHERE application_name = 'rdi-stall-test'",
    );
    let [row] = &pids[..] else {
        panic!("one backend expected: {pids:?}")
    };
    let pid = row[0].clone().unwrap();
    signal("-STOP", &pid);
    let started = Instant::now();
    let stalled = writer.write(&[up(&t, vec![json!("2"), json!("bob")])]);
    let took = started.elapsed();
    signal("-CONT", &pid);
    assert_eq!(
        stalled.err(),
        Some(WriteError::Transient(
            "postgresql: no answer within 1 s (read_timeout); the connection was dropped".into()
        ))
    );
    assert!(took < Duration::from_secs(10), "{took:?}");

    // The write is retried on a new connection (and the stopped backend's session is gone).
    writer
        .write(&[up(&t, vec![json!("2"), json!("bob")])])
        .unwrap();
    assert_eq!(
        sql(&db, "SELECT id::text, name FROM emp ORDER BY id"),
        vec![
            vec![Some("1".into()), Some("ann".into())],
            vec![Some("2".into()), Some("bob".into())]
        ]
    );
}
