//! A target's error that quotes a resolved secret is shown with its reference, never the value: here
//! the login of a `${secrets:...}` user is refused after the role was dropped (credentials rotated
//! away), and PostgreSQL names the role in its message.

use module_tests::replies::try_call;
use module_tests::status::render;
use module_tests::yaml::pg_job;
use module_tests::{call, deploy, drain, wait_until, PgServer, RedisOpts, RedisServer};
use std::time::Duration;

const USER: &str = "rdi_rotated_user_7f3a";

#[test]
fn a_target_error_quoting_a_secret_shows_its_reference() {
    let pg = PgServer::shared();
    let db = pg.create_database("secret_errors");
    let mut admin = pg.client(&db);
    admin
        .batch_execute(&format!(
            "CREATE TABLE emp (id integer PRIMARY KEY, name text);
             DROP ROLE IF EXISTS {USER}; CREATE ROLE {USER} LOGIN; GRANT ALL ON emp TO {USER};"
        ))
        .unwrap();
    let redis = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    let mut r = redis.client();
    call(&mut r, &["RDI.SET-SECRET", "pguser", USER]);
    let config = format!(
        "connections:\n  pg:\n    type: postgresql\n    host: 127.0.0.1\n    port: {}\n    \
         database: {db}\n    user: ${{secrets:pguser}}\n    password: unused\n\
         applier:\n  on_failed_retry_interval: 1\n",
        pg.port()
    );
    let job = pg_job("emp:*", "emp", &["id"], &["name"]);
    deploy(&mut r, &config, &[("emp", &job)]).expect("deploy");
    call(&mut r, &["HSET", "emp:1", "id", "1", "name", "a"]);
    drain(&mut r);

    // The role goes, and the writer's session with it: its next login names the role.
    admin
        .batch_execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{USER}';
             REVOKE ALL ON emp FROM {USER}; DROP ROLE {USER};"
        ))
        .unwrap();
    call(&mut r, &["HSET", "emp:2", "id", "2", "name", "b"]);
    let mut shown = String::new();
    wait_until(
        Duration::from_secs(30),
        "the job and its connection report the refused login",
        || {
            shown = try_call(&mut r, &["RDI.STATUS"])
                .map(|v| render(&v))
                .unwrap_or_default();
            shown.matches("does not exist").count() >= 2
        },
    );
    assert!(
        !shown.contains(USER),
        "RDI.STATUS shows the secret:\n{shown}"
    );
    assert!(shown.contains("${secrets:pguser}"), "{shown}");
    let described = try_call(&mut r, &["RDI.DESCRIBE-JOB", "emp"])
        .map(|v| render(&v))
        .unwrap_or_default();
    assert!(
        !described.contains(USER),
        "RDI.DESCRIBE-JOB shows the secret:\n{described}"
    );
}
