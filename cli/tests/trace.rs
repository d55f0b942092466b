//! `redis-di trace` follows records through the pipeline (RDI.TRACE, landing from main).

mod common;

use std::time::Duration;

use common::{call, command, deployed_with_age, server, wait_until, Run, SpawnWithOutput};

#[test]
fn trace_shows_a_record_with_its_statement_and_outcome() {
    let redis = server();
    let port = redis.port();
    let work = tempfile::tempdir().unwrap();
    deployed_with_age(&redis, work.path());
    let tracer = command(
        port,
        &["--json", "trace", "--count", "1", "--timeout", "20"],
    )
    .spawn_with_output();
    let mut r = redis.client();
    let mut i = 0;
    // Keep writing until the tracer has seen one: it may start listening after the first write.
    wait_until(Duration::from_secs(25), "the tracer returns", || {
        i += 1;
        call(
            &mut r,
            &[
                "HSET",
                &format!("emp:{i}"),
                "first_name",
                "T",
                "last_name",
                &i.to_string(),
            ],
        );
        tracer.is_finished()
    });
    let run: Run = tracer.join().unwrap();
    assert!(
        !run.stderr.contains("unknown command"),
        "RDI.TRACE is not in this build:\n{run:?}"
    );
    assert!(run.ok, "{run:?}");
    let records: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let first = &records[0];
    assert_eq!(first["job"], "emp", "{records:#}");
    assert!(
        first["key"].as_str().is_some_and(|k| k.starts_with("emp:")),
        "{records:#}"
    );
    assert!(
        first["statement"]
            .as_str()
            .is_some_and(|s| s.contains("emp")),
        "{records:#}"
    );
    assert!(
        first.get("outcome").is_some() && first.get("took_us").is_some(),
        "{records:#}"
    );
}

#[test]
fn trace_rejected_only_shows_only_rejected_records() {
    let redis = server();
    let port = redis.port();
    let work = tempfile::tempdir().unwrap();
    deployed_with_age(&redis, work.path());
    let tracer = command(
        port,
        &[
            "--json",
            "trace",
            "--count",
            "2",
            "--timeout",
            "20",
            "--rejected-only",
        ],
    )
    .spawn_with_output();
    let mut r = redis.client();
    let mut i = 0;
    // Nine records written for each one rejected (a string under the job's pattern).
    wait_until(Duration::from_secs(25), "the tracer returns", || {
        i += 1;
        if i % 10 == 0 {
            call(&mut r, &["SET", &format!("emp:bad{i}"), "not a hash"]);
        } else {
            call(
                &mut r,
                &[
                    "HSET",
                    &format!("emp:{i}"),
                    "first_name",
                    "T",
                    "last_name",
                    "L",
                ],
            );
        }
        tracer.is_finished()
    });
    let run: Run = tracer.join().unwrap();
    assert!(run.ok, "{run:?}");
    let records: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let records = records.as_array().expect("an array of records");
    assert_eq!(records.len(), 2, "{records:#?}");
    for record in records {
        assert!(
            record["key"]
                .as_str()
                .is_some_and(|k| k.starts_with("emp:bad")),
            "{record:#}"
        );
        assert!(
            record["outcome"]
                .as_str()
                .is_some_and(|o| o.starts_with("rejected: ") && o.contains("unsupported type")),
            "{record:#}"
        );
    }
}
