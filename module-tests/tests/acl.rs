//! ACL categories of the commands: read-only users may watch the pipeline but not change it.

use module_tests::replies::{items, string, try_call};
use module_tests::{call, sqlite_target, RedisOpts, RedisServer, Status};
use std::time::Duration;

const ADMIN: [&str; 6] = [
    "rdi.deploy",
    "rdi.reset",
    "rdi.stop",
    "rdi.start",
    "rdi.undeploy",
    "rdi.set-secret",
];
const READ: [&str; 6] = [
    "rdi.status",
    "rdi.list-jobs",
    "rdi.describe-job",
    "rdi.get-rejected",
    "rdi.metrics",
    "rdi.wait",
];

fn deployed() -> RedisServer {
    let redis = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    sqlite_target::deploy_emp(&redis);
    redis
}

/// Creates user `name` with password `pw` and `rules`, and connects as it.
fn user(redis: &RedisServer, name: &str, rules: &[&str]) -> redis::Connection {
    let mut words = vec!["ACL", "SETUSER", name, "reset", "on", ">pw", "~*"];
    words.extend_from_slice(rules);
    call(&mut redis.client(), &words);
    let url = format!("redis://{name}:pw@127.0.0.1:{}/", redis.port());
    redis::Client::open(url)
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect as {name}: {e}"))
}

/// The change-making commands, each with valid arguments.
fn admin_commands() -> Vec<Vec<String>> {
    let w = |words: &[&str]| words.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        w(&["RDI.DEPLOY", "CONFIG", "connections: {}"]),
        w(&["RDI.STOP"]),
        w(&["RDI.START"]),
        w(&["RDI.SET-SECRET", "pgpw", "value"]),
        w(&["RDI.RESET"]),
        w(&["RDI.UNDEPLOY", "FORCE"]),
    ]
}

fn assert_may_read(r: &mut redis::Connection, who: &str) {
    for words in [
        &["RDI.STATUS"][..],
        &["RDI.METRICS"],
        &["RDI.LIST-JOBS"],
        &["RDI.DESCRIBE-JOB", "emp"],
        &["RDI.GET-REJECTED"],
        &["RDI.WAIT", "1000"],
    ] {
        if let Err(e) = try_call(r, words) {
            panic!("{who} may not run {}: {e}", words.join(" "));
        }
    }
}

fn assert_may_not_change(redis: &RedisServer, r: &mut redis::Connection, who: &str) {
    for words in admin_commands() {
        let refs: Vec<&str> = words.iter().map(String::as_str).collect();
        match try_call(r, &refs) {
            Ok(reply) => panic!("{who} ran {}: {reply:?}", words.join(" ")),
            Err(e) => assert!(
                e.starts_with("NOPERM") && e.to_lowercase().contains(&words[0].to_lowercase()),
                "{who}, {}: {e}",
                words[0]
            ),
        }
    }
    let status = Status::query(&mut redis.client());
    assert_eq!(status.engine, "RUNNING", "{}", status.raw);
    assert!(status.jobs.contains_key("emp"), "{}", status.raw);
    assert!(
        !redis.dir().join("rdi-secrets.json").exists(),
        "a denied SET-SECRET stored a secret"
    );
}

#[test]
fn a_read_only_user_may_watch_but_not_deploy_stop_or_set_secrets() {
    let redis = deployed();
    let mut reader = user(&redis, "reader", &["+@read", "+@connection", "-@dangerous"]);
    assert_may_read(&mut reader, "reader");
    assert_may_not_change(&redis, &mut reader, "reader");
}

#[test]
fn a_user_with_everything_but_dangerous_commands_may_not_change_the_pipeline() {
    let redis = deployed();
    let mut operator = user(&redis, "operator", &["+@all", "-@dangerous"]);
    assert_may_read(&mut operator, "operator");
    assert_may_not_change(&redis, &mut operator, "operator");
    // Ordinary writes are still allowed, and still captured.
    call(&mut operator, &["HSET", "emp:1", "id", "1"]);
    let job = Status::query(&mut operator).job("emp").clone();
    assert_eq!(job.written() + job.pending, 1, "{job:?}");
}

#[test]
fn an_admin_user_may_stop_and_start_the_writers() {
    let redis = deployed();
    let mut admin = user(&redis, "admin", &["+@read", "+@connection", "+@admin"]);
    assert_eq!(string(&call(&mut admin, &["RDI.STOP"])), "OK");
    assert_eq!(Status::query(&mut admin).engine, "STOPPED");
    assert_eq!(string(&call(&mut admin, &["RDI.START"])), "OK");
    assert_eq!(Status::query(&mut admin).engine, "RUNNING");
}

/// The ACL categories of `command` from COMMAND INFO (`ACL CAT <category>` leaves module commands
/// out, by Redis's design, so it cannot be used here).
fn categories(r: &mut redis::Connection, command: &str) -> Vec<String> {
    let info = items(&call(r, &["COMMAND", "INFO", command]));
    let entry = items(&info[0]);
    assert_eq!(string(&entry[0]), command);
    items(&entry[6]).iter().map(string).collect()
}

#[test]
fn command_info_shows_each_command_in_its_acl_categories() {
    let redis = deployed();
    let mut r = redis.client();
    for command in ADMIN {
        let cats = categories(&mut r, command);
        assert!(
            cats.contains(&"@admin".into()) && cats.contains(&"@dangerous".into()),
            "{command}: {cats:?}"
        );
        assert!(!cats.contains(&"@read".into()), "{command}: {cats:?}");
    }
    for command in READ {
        let cats = categories(&mut r, command);
        assert!(cats.contains(&"@read".into()), "{command}: {cats:?}");
        assert!(
            !cats.contains(&"@admin".into()) && !cats.contains(&"@dangerous".into()),
            "{command}: {cats:?}"
        );
    }
    assert!(categories(&mut r, "rdi.wait").contains(&"@blocking".into()));
}
