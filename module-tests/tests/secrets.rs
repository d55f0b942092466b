//! `${secrets:...}` (RDI.SET-SECRET) and `${env:...}` references resolve at deploy and after a restart,
//! and the resolved values never appear in a reply, an error, the log, MONITOR, the RDB or the AOF.
//!
//! The test PostgreSQL trusts every local connection, so the passwords are sent but not checked:
//! authentication itself is not exercised here, only that the values stay secret and deploys work.

use module_tests::replies::{call_err, try_call};
use module_tests::yaml::pg_job;
use module_tests::{
    call, deploy, deploy_err, drain, query_text, PgServer, RedisOpts, RedisServer, Status,
};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

const SECRET: &str = "s3cr3t-pgpw-91c4e2";
const ENV_NAME: &str = "RDI_TEST_AUDIT_PW";
const ENV_VALUE: &str = "env-pw-5d1b7a03";
const DDL: &str = "CREATE TABLE emp (id integer PRIMARY KEY, name text);
                   CREATE TABLE audit (id integer PRIMARY KEY, what text);";

/// Two connections to the same database: `pg` with the stored secret, `audit` with the env variable.
fn config(db: &str, port: u16) -> String {
    let conn = |name: &str, password: &str| {
        format!(
            "  {name}:\n    type: postgresql\n    host: 127.0.0.1\n    port: {port}\n    \
             database: {db}\n    user: postgres\n    password: {password}\n"
        )
    };
    format!(
        "connections:\n{}{}applier:\n  on_failed_retry_interval: 1\n",
        conn("pg", "${secrets:pgpw}"),
        conn("audit", &format!("${{env:{ENV_NAME}}}"))
    )
}

fn jobs() -> Vec<(&'static str, String)> {
    let audit = pg_job("audit:*", "audit", &["id"], &["what"])
        .replace("connection: pg", "connection: audit");
    vec![
        ("emp", pg_job("emp:*", "emp", &["id"], &["name"])),
        ("audit", audit),
    ]
}

fn deploy_jobs(r: &mut redis::Connection, config: &str) -> Result<Vec<String>, String> {
    let jobs = jobs();
    let refs: Vec<(&str, &str)> = jobs.iter().map(|(n, y)| (*n, y.as_str())).collect();
    deploy(r, config, &refs)
}

/// Panics naming `where_` when `text` holds the secret or the env value.
fn assert_clean(where_: &str, text: &str) {
    for value in [SECRET, ENV_VALUE] {
        assert!(!text.contains(value), "{where_} shows {value:?}:\n{text}");
    }
}

/// Every file under `dir` (recursively) but the secrets file, as lossy text, by path.
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else if !path.ends_with("rdi-secrets.json") {
            let bytes = std::fs::read(&path).unwrap();
            out.push((
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    out
}

fn assert_files_clean(redis: &RedisServer) {
    for (path, text) in files(redis.dir()) {
        assert_clean(&path, &text);
    }
}

fn write_and_check(redis: &RedisServer, pg: &PgServer, db: &str, id: &str) {
    let mut r = redis.client();
    call(
        &mut r,
        &["HSET", &format!("emp:{id}"), "id", id, "name", "n"],
    );
    call(
        &mut r,
        &["HSET", &format!("audit:{id}"), "id", id, "what", "w"],
    );
    drain(&mut r);
    let mut client = pg.client(db);
    for table in ["emp", "audit"] {
        let rows = query_text(
            &mut client,
            &format!("SELECT id::text FROM {table} WHERE id = {id}"),
        );
        assert_eq!(rows.len(), 1, "row {id} of {table} did not arrive");
    }
}

/// A raw MONITOR connection; returns what it saw after `f` ran.
fn monitored(redis: &RedisServer, f: impl FnOnce()) -> String {
    let mut monitor = TcpStream::connect(("127.0.0.1", redis.port())).unwrap();
    monitor.write_all(b"MONITOR\r\n").unwrap();
    let mut buf = [0u8; 65536];
    let n = monitor.read(&mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"+OK"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    f();
    call(&mut redis.client(), &["PING", "monitor-end"]);
    monitor
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut seen = Vec::new();
    while let Ok(n) = monitor.read(&mut buf) {
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
        if String::from_utf8_lossy(&seen).contains("monitor-end") {
            break;
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[test]
fn secret_and_env_values_resolve_but_never_leak_and_survive_a_restart() {
    let pg = PgServer::shared();
    let db = pg.create_database("secrets_leak");
    pg.client(&db).batch_execute(DDL).unwrap();
    // No RDB compression: LZF would hide strings from a byte search (the AOF base uses it too).
    let opts = RedisOpts::redis74()
        .appendonly()
        .arg("--rdbcompression")
        .arg("no")
        .arg("--loglevel")
        .arg("debug")
        .env(ENV_NAME, ENV_VALUE);
    let mut redis = RedisServer::start(opts).expect("start redis");
    let config = config(&db, pg.port());
    let mut r = redis.client();
    let mut replies: Vec<(String, String)> = Vec::new();

    // Before the secret is stored the deploy fails, naming the reference.
    let missing = deploy_jobs(&mut r, &config).expect_err("deploy without the secret");
    assert!(
        missing.contains("secrets:pgpw") && missing.contains("RDI.SET-SECRET"),
        "{missing}"
    );
    replies.push(("deploy without the secret".into(), missing));

    call(&mut r, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    let seen = monitored(&redis, || {
        call(&mut redis.client(), &["RDI.SET-SECRET", "pgpw", SECRET]);
    });
    assert_clean("MONITOR", &seen);
    let slowlog = call(&mut r, &["SLOWLOG", "GET", "1000"]);
    assert_clean("SLOWLOG", &format!("{slowlog:?}"));
    let secrets_file = redis.dir().join("rdi-secrets.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&secrets_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "rdi-secrets.json mode {mode:o}");
    assert!(std::fs::read_to_string(&secrets_file)
        .unwrap()
        .contains(SECRET));

    let notes = deploy_jobs(&mut r, &config).unwrap_or_else(|e| panic!("deploy: {e}"));
    replies.push(("deploy notes".into(), notes.join("\n")));
    write_and_check(&redis, pg, &db, "1");

    // Every reply that could show a connection.
    for words in [
        &["RDI.STATUS"][..],
        &["RDI.LIST-JOBS"],
        &["RDI.DESCRIBE-JOB", "emp"],
        &["RDI.DESCRIBE-JOB", "audit"],
        &["RDI.METRICS"],
        &["RDI.GET-REJECTED"],
        &["INFO", "everything"],
        &["CONFIG", "GET", "*"],
        &["HGETALL", "__rdi__:deploy"],
    ] {
        let reply = try_call(&mut r, words).unwrap_or_else(|e| panic!("{words:?}: {e}"));
        replies.push((words.join(" "), format!("{reply:?}")));
    }
    let stored = replies.last().unwrap().1.clone();
    assert!(
        stored.contains("${secrets:pgpw}"),
        "the keyspace keeps the reference: {stored}"
    );
    // Error replies: a bad table with the secret in force, an unreachable port, unknown names.
    let bad_job = pg_job("emp:*", "no_such_table", &["id"], &["name"]);
    let bad_table = deploy_err(&mut r, &config, &[("emp", &bad_job)]);
    assert!(bad_table.contains("no_such_table"), "{bad_table}");
    replies.push(("deploy bad table".into(), bad_table));
    let unreachable = config.replace(&format!("port: {}", pg.port()), "port: 1");
    let mut dry = redis::cmd("RDI.DEPLOY");
    dry.arg("CONFIG").arg(&unreachable).arg("DRYRUN");
    let reply: Result<redis::Value, _> = dry.query(&mut r);
    replies.push(("deploy unreachable DRYRUN".into(), format!("{reply:?}")));
    replies.push((
        "describe nosuch".into(),
        call_err(&mut r, &["RDI.DESCRIBE-JOB", "nosuch"]),
    ));
    for (what, text) in &replies {
        assert_clean(what, text);
    }

    call(&mut r, &["SAVE"]);
    let rdb =
        String::from_utf8_lossy(&std::fs::read(redis.dir().join("dump.rdb")).unwrap()).into_owned();
    assert!(
        rdb.contains("${secrets:pgpw}"),
        "the RDB search must see the stored YAML"
    );
    assert!(rdb.contains(&format!("${{env:{ENV_NAME}}}")));
    call(&mut r, &["BGREWRITEAOF"]);
    module_tests::wait_until(Duration::from_secs(30), "the AOF rewrite ends", || {
        let info: String = redis::cmd("INFO").arg("persistence").query(&mut r).unwrap();
        info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0")
    });
    let aof: String = files(&redis.dir().join("appendonlydir"))
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert!(
        aof.contains("${secrets:pgpw}"),
        "the AOF search must see the stored YAML"
    );
    assert_files_clean(&redis);

    // After a restart the secret (from its file) and the env variable resolve again.
    drop(r);
    redis.restart();
    let status = Status::query(&mut redis.client());
    assert_eq!(status.engine, "RUNNING", "{}", status.raw);
    assert_clean("RDI.STATUS after restart", &status.raw);
    write_and_check(&redis, pg, &db, "2");
    assert_files_clean(&redis);
    assert!(
        redis.log().contains("secret(s) loaded"),
        "the restart loaded the secrets file"
    );
}

#[test]
fn set_secret_is_not_replicated_into_the_keyspace() {
    let redis = RedisServer::start(RedisOpts::redis74().appendonly()).expect("start redis");
    let mut r = redis.client();
    call(&mut r, &["RDI.SET-SECRET", "pgpw", SECRET]);
    let dbsize: i64 = redis::cmd("DBSIZE").query(&mut r).unwrap();
    assert_eq!(dbsize, 0, "RDI.SET-SECRET wrote a key");
    // An empty value removes the secret from the file.
    call(&mut r, &["RDI.SET-SECRET", "pgpw", ""]);
    let file = std::fs::read_to_string(redis.dir().join("rdi-secrets.json")).unwrap();
    assert!(!file.contains(SECRET), "{file}");
    assert_files_clean(&redis);
}

/// A table, schema or key pattern may come from a reference too: RDI.STATUS and RDI.LIST-JOBS show
/// the reference (before, they showed the resolved names).
#[test]
fn a_table_and_key_pattern_from_references_are_shown_as_references() {
    const TABLE: &str = "emp_table_from_env_5b1c";
    const PATTERN: &str = "hidden_prefix_9d2e:*";
    let opts = module_tests::RedisOpts::redis74()
        .env("RDI_TEST_TABLE", TABLE)
        .env("RDI_TEST_PATTERN", PATTERN);
    let redis = RedisServer::start(opts).expect("start redis");
    let db = redis.dir().join("target.db");
    module_tests::sqlite_target::create(
        &db,
        &format!("CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, name TEXT)"),
    );
    let job = module_tests::yaml::sqlite_job(
        "${env:RDI_TEST_PATTERN}",
        "${env:RDI_TEST_TABLE}",
        &["id"],
        &["name"],
    );
    let mut r = redis.client();
    module_tests::deploy_ok(
        &mut r,
        &module_tests::yaml::sqlite_config(&db, &[]),
        &[("emp", &job)],
    );
    call(
        &mut r,
        &["HSET", "hidden_prefix_9d2e:1", "id", "1", "name", "a"],
    );
    module_tests::drain(&mut r);
    let rows = module_tests::sqlite_target::rows(&db, &format!("SELECT name FROM {TABLE}"));
    assert_eq!(rows, [[Some("a".to_string())]], "the references resolve");
    for command in ["RDI.STATUS", "RDI.LIST-JOBS"] {
        let shown = try_call(&mut r, &[command])
            .map(|v| module_tests::status::render(&v))
            .unwrap();
        assert!(
            !shown.contains(TABLE),
            "{command} shows the table:\n{shown}"
        );
        assert!(
            !shown.contains("hidden_prefix_9d2e"),
            "{command} shows the pattern:\n{shown}"
        );
        assert!(
            shown.contains("${env:RDI_TEST_TABLE}"),
            "{command}:\n{shown}"
        );
        assert!(
            shown.contains("${env:RDI_TEST_PATTERN}"),
            "{command}:\n{shown}"
        );
    }
}
