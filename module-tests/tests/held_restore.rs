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
