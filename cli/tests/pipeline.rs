//! `redis-di` end to end against Redis 7.4 with the module: scaffold, deploy, status, wait, and a
//! refused deploy.

mod common;

use common::{call, json, ok, redis_di, server, sqlite_pipeline, sqlite_target};
use module_tests::row;

#[test]
fn scaffold_deploy_write_wait_status_reaches_sqlite() {
    let redis = server();
    let port = redis.port();
    let work = tempfile::tempdir().unwrap();
    sqlite_pipeline(&redis, work.path());
    let dir = work.path().to_string_lossy().into_owned();

    let deployed = ok(port, &["deploy", "--dir", &dir]);
    assert!(
        deployed.stdout.starts_with("deployed 1 job(s) from "),
        "{deployed:?}"
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
            "address",
            "London",
            "gender",
            "F",
        ],
    );
    let waited = ok(port, &["wait", "--timeout-ms", "30000"]);
    // The counts cover what was applied while waiting: the writer may have been quicker.
    assert!(waited.stdout.starts_with("up to date: "), "{waited:?}");

    let rows = sqlite_target::rows(&redis.dir().join("rdi.db"), "SELECT * FROM emp");
    assert_eq!(rows, vec![row(&["Ada", "Lovelace", "London", "F"])]);

    let status = json(port, &["status"]);
    assert_eq!(status["engine"], "RUNNING", "{status:#}");
    assert_eq!(
        status["connections"]["target"]["type"], "sqlite",
        "{status:#}"
    );
    assert_eq!(status["jobs"]["emp"]["inserted"], 1, "{status:#}");
    assert_eq!(status["jobs"]["emp"]["pending"], 0, "{status:#}");

    let table = ok(port, &["status"]);
    assert!(table.stdout.starts_with("Engine: RUNNING"), "{table:?}");
    let job_row: Vec<&str> = table
        .stdout
        .lines()
        .find(|l| l.starts_with("emp "))
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    // JOB PATTERN PENDING INSERTED ...
    assert_eq!(&job_row[..4], ["emp", "emp:*", "0", "1"], "{table:?}");
}

#[test]
fn a_broken_job_prints_each_problem_and_fails() {
    let redis = server();
    let port = redis.port();
    let work = tempfile::tempdir().unwrap();
    sqlite_pipeline(&redis, work.path());
    let job = work.path().join("jobs/emp.yaml");
    let text = std::fs::read_to_string(&job).unwrap();
    let broken = text
        .replace("trigger: write-behind", "trigger: write-ahead")
        .replace("connection: target", "connection: nowhere");
    std::fs::write(&job, broken).unwrap();
    let dir = work.path().to_string_lossy().into_owned();

    let run = redis_di(port, &["deploy", "--dir", &dir]);
    assert!(!run.ok, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines.len() >= 2, "one line per problem:\n{run:?}");
    for line in &lines {
        assert!(
            line.starts_with("jobs/emp.yaml:"),
            "file:line:col first: {line}\n{run:?}"
        );
    }
    assert!(run.stdout.contains("trigger"), "{run:?}");
    assert!(run.stdout.contains("nowhere"), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "one-line reason:\n{run:?}");
    assert!(
        run.stderr
            .starts_with("redis-di: deploy refused: invalid deployment ("),
        "{run:?}"
    );

    let as_json = redis_di(port, &["--json", "deploy", "--dir", &dir]);
    assert!(!as_json.ok);
    let v: serde_json::Value = serde_json::from_str(&as_json.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["problems"].as_array().map(Vec::len), Some(lines.len()));
}

#[test]
fn dry_run_deploys_nothing() {
    let redis = server();
    let port = redis.port();
    let work = tempfile::tempdir().unwrap();
    sqlite_pipeline(&redis, work.path());
    let dir = work.path().to_string_lossy().into_owned();
    let run = ok(port, &["deploy", "--dir", &dir, "--dry-run"]);
    assert!(run.stdout.starts_with("checked 1 job(s)"), "{run:?}");
    assert!(
        run.stdout.contains("note: dry run: nothing was deployed"),
        "{run:?}"
    );
    assert_eq!(json(port, &["status"])["engine"], "NOT DEPLOYED");
}

#[test]
fn failures_exit_non_zero_with_one_line() {
    let redis = server();
    // Nothing listens on port 1.
    let run = redis_di(1, &["status"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert!(
        run.stderr
            .starts_with("redis-di: cannot connect to 127.0.0.1:1")
            && run.stderr.contains("is Redis running there?"),
        "{run:?}"
    );

    // A missing folder names the file.
    let run = redis_di(redis.port(), &["deploy", "--dir", "/nonexistent/pipeline"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr
            .contains("cannot read /nonexistent/pipeline/config.yaml"),
        "{run:?}"
    );

    // RDI.WAIT with nothing deployed answers at once.
    let waited = json(redis.port(), &["wait", "--timeout-ms", "1000"]);
    assert_eq!(waited["written"], 0, "{waited}");
}

#[test]
fn the_scaffolded_applier_defaults_deploy_when_uncommented() {
    let redis = server();
    let work = tempfile::tempdir().unwrap();
    sqlite_pipeline(&redis, work.path());
    let config = work.path().join("config.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    let (head, applier) = text.split_at(text.find("#applier:").unwrap());
    let uncommented: String = applier
        .lines()
        .map(|l| format!("{}\n", l.strip_prefix('#').unwrap_or(l)))
        .collect();
    for key in ["exactly_once: false", "checkpoint_table: rdi_checkpoints"] {
        assert!(uncommented.contains(&format!("\n  {key}")), "{uncommented}");
    }
    std::fs::write(&config, format!("{head}{uncommented}")).unwrap();
    let dir = work.path().to_string_lossy().into_owned();
    let run = ok(redis.port(), &["deploy", "--dir", &dir, "--dry-run"]);
    // Every key is known and valid: the only note is the dry run's own.
    let notes: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("note:"))
        .collect();
    assert_eq!(notes, ["note: dry run: nothing was deployed"], "{run:?}");
}

#[test]
fn a_wrong_command_line_exits_2_before_connecting() {
    // Nothing listens on port 1: each of these is refused before any connection is tried.
    for args in [
        &["no-such-command"][..],
        &["status", "--live", "--interval", "0"],
        &["--tls-ca", "/ca.pem", "status"],
        &["scaffold", "--db-type", "sqlite", "--preview", "other.yaml"],
        &["set-secret", "api-token", ""],
    ] {
        let run = redis_di(1, args);
        assert_eq!(run.code, Some(2), "{args:?}: {run:?}");
        assert!(!run.stderr.contains("cannot connect"), "{args:?}: {run:?}");
    }
    // Well-formed, but the server is not there: a failure, not a usage error.
    let run = redis_di(1, &["status", "--live", "--interval", "0.5"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.starts_with("redis-di: cannot connect"),
        "{run:?}"
    );
}

#[test]
fn passwords_log_in_and_are_never_printed() {
    let redis = server();
    let mut r = redis.client();
    call(&mut r, &["CONFIG", "SET", "requirepass", "right-pass"]);
    let with = |password: &str, args: &[&str]| -> common::Run {
        common::command(redis.port(), args)
            .env("RDI_PASSWORD", password)
            .output()
            .map(common::Run::from)
            .unwrap()
    };
    let run = with("s3cr3t-value", &["status"]);
    assert!(!run.ok, "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert!(
        !run.stderr.contains("s3cr3t-value") && !run.stdout.contains("s3cr3t-value"),
        "{run:?}"
    );
    let run = with("ignored", &["--rdi-password", "s3cr3t-value", "status"]);
    assert!(!run.ok && !run.stderr.contains("s3cr3t-value"), "{run:?}");
    let run = with("right-pass", &["status"]);
    assert!(run.ok, "{run:?}");
    let help = with("right-pass", &["--help"]);
    assert!(!help.stdout.contains("right-pass"), "{help:?}");
    call(&mut r, &["CONFIG", "SET", "requirepass", ""]);
}
