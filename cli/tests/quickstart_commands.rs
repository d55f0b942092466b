//! The command lines of RDI's write-behind quickstart work as written: `scaffold --strategy write_behind`,
//! and `configure` / `upgrade`, which check that the module (the engine) is loaded.

mod common;

use common::{json, ok, redis_di, server, RedisOpts, RedisServer};

#[test]
fn the_quickstart_scaffold_line_is_accepted_and_other_strategies_are_refused() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().to_string_lossy().into_owned();
    // No server is needed to scaffold; the port is never dialled.
    let run = ok(
        1,
        &[
            "scaffold",
            "--strategy",
            "write_behind",
            "--dir",
            &dir,
            "--db-type",
            "mysql",
        ],
    );
    assert!(run.stdout.contains("config.yaml"), "{run:?}");
    let config = std::fs::read_to_string(work.path().join("config.yaml")).unwrap();
    assert!(config.contains("type: mysql"), "{config}");
    let ingest = redis_di(
        1,
        &[
            "scaffold",
            "--strategy",
            "ingest",
            "--preview",
            "config.yaml",
            "--db-type",
            "mysql",
        ],
    );
    assert!(
        !ingest.ok && ingest.stderr.contains("write_behind"),
        "{ingest:?}"
    );
}

#[test]
fn configure_and_upgrade_report_the_loaded_module() {
    let redis = server();
    let port = redis.port();
    let configured = ok(port, &["configure"]);
    assert!(
        configured
            .stdout
            .contains("rdi module (version 1) is loaded"),
        "{configured:?}"
    );
    assert_eq!(json(port, &["configure"])["version"], 1);
    let upgrade = ok(port, &["upgrade"]);
    assert!(
        upgrade.stdout.contains("version 1") && upgrade.stdout.contains("replace librdi.so"),
        "{upgrade:?}"
    );

    let plain = RedisServer::start(RedisOpts::redis74().without_module()).expect("start redis");
    let missing = redis_di(plain.port(), &["configure"]);
    assert!(
        !missing.ok
            && missing.stderr.contains("not loaded")
            && missing.stderr.contains("loadmodule"),
        "{missing:?}"
    );
}
