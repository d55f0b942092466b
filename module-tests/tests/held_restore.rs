//! A restart whose kept deployment has a reference that no longer resolves (a secret removed, a file
//! gone) still captures every change; the writers wait until the reference resolves again.

use module_tests::replies::call_err;
use module_tests::yaml::pg_job;
use module_tests::{call, deploy, drain, query_text, PgServer, RedisOpts, RedisServer, Status};

const DDL: &str = "CREATE TABLE emp (id integer PRIMARY KEY, name text);";

fn config(db: &str, port: u16) -> String {
    format!(
        "connections:\n  pg:\n    type: postgresql\n    host: 127.0.0.1\n    port: {port}\n    \
         database: {db}\n    user: postgres\n    password: ${{secrets:pgpw}}\n\
         applier:\n  on_failed_retry_interval: 1\n"
    )
}

fn ids(pg: &PgServer, db: &str) -> Vec<String> {
    query_text(&mut pg.client(db), "SELECT id::text FROM emp ORDER BY id")
        .into_iter()
        .map(|row| row[0].clone().unwrap_or_default())
        .collect()
}

#[test]
fn a_secret_missing_after_a_restart_holds_the_writers_but_not_capture() {
    let pg = PgServer::shared();
    let db = pg.create_database("held_restore");
    pg.client(&db).batch_execute(DDL).unwrap();
    let mut redis = RedisServer::start(RedisOpts::redis74().appendonly()).expect("start redis");
    let mut r = redis.client();
    call(&mut r, &["RDI.SET-SECRET", "pgpw", "pw-1"]);
    let job = pg_job("emp:*", "emp", &["id"], &["name"]);
    deploy(&mut r, &config(&db, pg.port()), &[("emp", &job)]).expect("deploy");
    call(&mut r, &["HSET", "emp:1", "id", "1", "name", "a"]);
    drain(&mut r);
    assert_eq!(ids(pg, &db), ["1"]);

    // The secret is removed; the running writers keep the password they resolved at deploy.
    call(&mut r, &["RDI.SET-SECRET", "pgpw", ""]);
    drop(r);
    redis.restart();
    let mut r = redis.client();
    let status = Status::query(&mut r);
    assert_eq!(status.engine, "STOPPED", "{}", status.raw);
    assert!(
        status
            .warnings
            .iter()
            .any(|w| w.contains("${secrets:pgpw}") && w.contains("captured")),
        "a warning names the reference: {}",
        status.raw
    );
    assert!(
        redis.log().contains("${secrets:pgpw}"),
        "the log names the reference"
    );

    // Changes made meanwhile are queued, not lost.
    call(&mut r, &["HSET", "emp:2", "id", "2", "name", "b"]);
    call(&mut r, &["HSET", "emp:3", "id", "3", "name", "c"]);
    call(&mut r, &["DEL", "emp:1"]);
    let status = Status::query(&mut r);
    assert_eq!(status.jobs["emp"].pending, 3, "{}", status.raw);
    let held = call_err(&mut r, &["RDI.START"]);
    assert!(
        held.contains("held") && held.contains("${secrets:pgpw}"),
        "{held}"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(ids(pg, &db), ["1"], "nothing is written while held");

    // Storing the secret starts the writers; the queued changes arrive in order.
    call(&mut r, &["RDI.SET-SECRET", "pgpw", "pw-2"]);
    let status = Status::query(&mut r);
    assert_eq!(status.engine, "RUNNING", "{}", status.raw);
    assert!(
        !status
            .warnings
            .iter()
            .any(|w| w.contains("${secrets:pgpw}")),
        "the warning ends with the condition: {}",
        status.raw
    );
    drain(&mut r);
    assert_eq!(ids(pg, &db), ["2", "3"]);
}

#[test]
fn a_percent_sign_in_a_logged_reference_is_logged_as_written() {
    // The reference's file name holds printf conversions; the server logs the held pipeline's
    // warning with it after the restart. Logged as a format, `%s` and `%n` crashed the server.
    let mut redis = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    let target = redis.dir().join("target.db");
    let file = redis.dir().join("path-100%-%s%s%s%s%n");
    std::fs::write(&file, target.display().to_string()).unwrap();
    let config = format!(
        "connections:\n  lite:\n    type: sqlite\n    path: \"${{file:{}}}\"\n",
        file.display()
    );
    module_tests::sqlite_target::create(
        &target,
        "CREATE TABLE emp (id INTEGER PRIMARY KEY, name TEXT)",
    );
    let job = module_tests::yaml::sqlite_job("emp:*", "emp", &["id"], &["name"]);
    let mut r = redis.client();
    deploy(&mut r, &config, &[("emp", &job)]).expect("deploy");
    call(&mut r, &["SAVE"]);
    drop(r);
    std::fs::remove_file(&file).unwrap();
    redis.restart();
    let mut r = redis.client();
    let pong: String = redis::cmd("PING").query(&mut r).expect("the server is up");
    assert_eq!(pong, "PONG");
    assert!(
        redis.log().contains("path-100%-%s%s%s%s%n}"),
        "the log shows the name as written:\n{}",
        redis.log()
    );
    assert_eq!(Status::query(&mut r).engine, "STOPPED");
}
