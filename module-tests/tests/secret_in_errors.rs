//! A target's error that quotes a resolved secret is shown with its reference, never the value: here
//! the login of a `${secrets:...}` user is refused after the role was dropped (credentials rotated
//! away), and PostgreSQL names the role in its message.

use module_tests::replies::try_call;
use module_tests::status::render;
use module_tests::yaml::pg_job;
use module_tests::{call, deploy, drain, wait_until, PgServer, RedisOpts, RedisServer};
use std::time::Duration;

/// Whether `value` stands alone in `text` (not inside a longer word).
fn shown_alone(text: &str, value: &str) -> bool {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    text.match_indices(value).any(|(at, _)| {
        !word(text[..at].chars().next_back()) && !word(text[at + value.len()..].chars().next())
    })
}

#[test]
fn a_target_error_quoting_a_secret_shows_its_reference() {
    refused_login_shows_the_reference("rdi_rotated_user_7f3a", "secret_errors");
}

/// A user of two letters, such as SQL Server's `sa`: shorter values are hidden too, where they stand
/// alone (before, only values of 4 bytes or more were).
#[test]
fn a_target_error_quoting_a_short_secret_shows_its_reference() {
    refused_login_shows_the_reference("zq", "short_secret_errors");
}

/// The login of `${secrets:pguser}`, set to role `user`, is refused once the role is dropped:
/// RDI.STATUS and RDI.DESCRIBE-JOB show the reference, never the role's name.
fn refused_login_shows_the_reference(user: &str, db: &str) {
    let pg = PgServer::shared();
    let db = pg.create_database(db);
    let mut admin = pg.client(&db);
    admin
        .batch_execute(&format!(
            "CREATE TABLE emp (id integer PRIMARY KEY, name text);
             DROP ROLE IF EXISTS {user}; CREATE ROLE {user} LOGIN; GRANT ALL ON emp TO {user};"
        ))
        .unwrap();
    let redis = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    let mut r = redis.client();
    call(&mut r, &["RDI.SET-SECRET", "pguser", user]);
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
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{user}';
             REVOKE ALL ON emp FROM {user}; DROP ROLE {user};"
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
        !shown_alone(&shown, user),
        "RDI.STATUS shows the secret:\n{shown}"
    );
    assert!(shown.contains("${secrets:pguser}"), "{shown}");
    let described = try_call(&mut r, &["RDI.DESCRIBE-JOB", "emp"])
        .map(|v| render(&v))
        .unwrap_or_default();
    assert!(
        !shown_alone(&described, user),
        "RDI.DESCRIBE-JOB shows the secret:\n{described}"
    );
}
