//! Every operator command given bad arguments answers a clear error, and the server keeps serving.

use module_tests::replies::{call_err, try_call};
use module_tests::{call, sqlite_target, RedisOpts, RedisServer, Status};

/// Redis with a SQLite job `emp` on `emp:*` deployed.
fn deployed() -> RedisServer {
    let redis = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    sqlite_target::deploy_emp(&redis);
    redis
}

/// Sends each command, which must fail with an error starting with `ERR` and containing every
/// expected fragment (case-insensitive); then checks the server still answers.
fn assert_errors(redis: &RedisServer, cases: &[(&[&str], &[&str])]) {
    let mut r = redis.client();
    let mut failures = Vec::new();
    for (words, fragments) in cases {
        match try_call(&mut r, words) {
            Ok(reply) => failures.push(format!("{}: succeeded with {reply:?}", words.join(" "))),
            Err(e) => {
                let lower = e.to_lowercase();
                let missing: Vec<&&str> = fragments
                    .iter()
                    .filter(|f| !lower.contains(&f.to_lowercase()))
                    .collect();
                if !e.starts_with("ERR") || !missing.is_empty() {
                    failures.push(format!("{}: {e:?} lacks {missing:?}", words.join(" ")));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "unclear errors:\n{}",
        failures.join("\n")
    );
    let pong: String = redis::cmd("PING").query(&mut r).unwrap();
    assert_eq!(pong, "PONG");
}

const ARITY: &str = "wrong number of arguments";

#[test]
fn wrong_arity_and_syntax_errors_name_the_problem() {
    let redis = deployed();
    assert_errors(
        &redis,
        &[
            (&["RDI.STOP", "now"], &[ARITY, "rdi.stop"]),
            (&["RDI.START", "now"], &[ARITY, "rdi.start"]),
            (&["RDI.LIST-JOBS", "emp"], &[ARITY, "rdi.list-jobs"]),
            (&["RDI.DESCRIBE-JOB"], &[ARITY, "rdi.describe-job"]),
            (&["RDI.DESCRIBE-JOB", "emp", "x"], &[ARITY]),
            (&["RDI.METRICS", "emp"], &[ARITY, "rdi.metrics"]),
            (&["RDI.SET-SECRET"], &[ARITY, "rdi.set-secret"]),
            (&["RDI.SET-SECRET", "pgpw"], &[ARITY]),
            (&["RDI.SET-SECRET", "a", "b", "c"], &[ARITY]),
            (&["RDI.WAIT", "1", "2"], &[ARITY, "rdi.wait"]),
            (&["RDI.UNDEPLOY", "NOW"], &["RDI.UNDEPLOY [FORCE]"]),
            (&["RDI.UNDEPLOY", "FORCE", "x"], &["RDI.UNDEPLOY [FORCE]"]),
            (&["RDI.RESET", "JOB"], &["RDI.RESET [JOB <name>]"]),
            (&["RDI.RESET", "emp"], &["RDI.RESET [JOB <name>]"]),
            (
                &["RDI.RESET", "JOB", "emp", "x"],
                &["RDI.RESET [JOB <name>]"],
            ),
            (&["RDI.GET-REJECTED", "FOO"], &["syntax", "FOO"]),
            (&["RDI.GET-REJECTED", "COUNT"], &["syntax", "COUNT"]),
            (&["RDI.GET-REJECTED", "JOB"], &["syntax", "JOB"]),
            (&["RDI.DEPLOY"], &["missing CONFIG"]),
            (&["RDI.DEPLOY", "CONFIG"], &["syntax", "CONFIG"]),
            (&["RDI.DEPLOY", "BOGUS", "x"], &["syntax", "BOGUS"]),
        ],
    );
}

#[test]
fn bad_values_and_unknown_jobs_are_refused_clearly() {
    let redis = deployed();
    assert_errors(
        &redis,
        &[
            (&["RDI.DESCRIBE-JOB", "nosuch"], &["no job named", "nosuch"]),
            (
                &["RDI.GET-REJECTED", "JOB", "nosuch"],
                &["no job named", "nosuch"],
            ),
            (
                &["RDI.GET-REJECTED", "COUNT", "0"],
                &["COUNT must be a positive integer"],
            ),
            (
                &["RDI.GET-REJECTED", "COUNT", "-3"],
                &["COUNT must be a positive integer"],
            ),
            (
                &["RDI.GET-REJECTED", "COUNT", "ten"],
                &["COUNT must be a positive integer"],
            ),
            (&["RDI.RESET", "JOB", "nosuch"], &["no job named", "nosuch"]),
            (&["RDI.WAIT", "soon"], &["timeout must be a non-negative"]),
            (&["RDI.WAIT", "-5"], &["timeout must be a non-negative"]),
            (&["RDI.SET-SECRET", "bad name!", "v"], &["secret names use"]),
            (&["RDI.SET-SECRET", "", "v"], &["secret names use"]),
        ],
    );
    let status = Status::query(&mut redis.client());
    assert_eq!(status.engine, "RUNNING", "{}", status.raw);
}

#[test]
fn a_refused_secret_name_does_not_echo_the_value() {
    let redis = deployed();
    let e = call_err(
        &mut redis.client(),
        &["RDI.SET-SECRET", "bad name", "hunter2-never-echoed"],
    );
    assert!(!e.contains("hunter2"), "{e}");
    assert!(!redis.log().contains("hunter2"), "the log shows the value");
}

#[test]
fn status_with_arguments_is_refused() {
    // RDI.STATUS takes no arguments; silently ignoring them hides typos such as `RDI.STATUS emp`.
    let redis = deployed();
    assert_errors(&redis, &[(&["RDI.STATUS", "emp"], &[ARITY, "rdi.status"])]);
}

#[test]
fn commands_that_need_a_pipeline_say_nothing_is_deployed() {
    let redis = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    assert_errors(
        &redis,
        &[
            (&["RDI.UNDEPLOY"], &["nothing is deployed"]),
            (&["RDI.UNDEPLOY", "FORCE"], &["nothing is deployed"]),
            (&["RDI.DESCRIBE-JOB", "emp"], &["nothing is deployed"]),
            (&["RDI.RESET"], &["nothing is deployed"]),
            (
                &["RDI.GET-REJECTED", "JOB", "emp"],
                &["no job named", "emp"],
            ),
        ],
    );
    let mut r = redis.client();
    // The read-only commands answer with empty results rather than errors.
    assert_eq!(
        call(&mut r, &["RDI.LIST-JOBS"]),
        redis::Value::Array(vec![])
    );
    assert_eq!(
        call(&mut r, &["RDI.GET-REJECTED"]),
        redis::Value::Array(vec![])
    );
    assert_eq!(Status::query(&mut r).engine, "NOT DEPLOYED");
}

#[test]
fn errors_keep_their_utf8_and_the_connection_its_place() {
    // redis-module writes an error one byte per character; the module hands it the UTF-8 bytes so
    // that a name outside ASCII, or U+FFFD for bytes that were not UTF-8, arrives intact.
    let redis = deployed();
    let mut r = redis.client();
    // Replied from the deploy's thread (a blocked client).
    let e = call_err(
        &mut r,
        &[
            "RDI.DEPLOY",
            "CONFIG",
            "connections: {}\n",
            "JOB",
            "café",
            "x",
        ],
    );
    assert!(e.contains("jobs/café.yaml:1:1: job name `café`"), "{e}");
    // Replied by the command itself.
    let mut get = redis::cmd("RDI.GET-REJECTED");
    get.arg("JOB").arg(&b"\xffn\xc3\xa9"[..]);
    let e = get.query::<redis::Value>(&mut r).unwrap_err().to_string();
    assert!(e.contains("no job named `\u{fffd}né`"), "{e}");
    let e = call_err(&mut r, &["RDI.TRACE", "Ünïcödé ✓"]);
    // Keywords are matched in ASCII upper case; other characters are left as they are.
    assert!(e.contains("syntax error near `ÜNïCöDé ✓`"), "{e}");
    let pong: String = redis::cmd("PING").query(&mut r).unwrap();
    assert_eq!(pong, "PONG");
}

/// YAML and secret values that are not UTF-8 are refused, not deployed or stored with U+FFFD in
/// place of their bytes (a password changed so would fail to log in, with no hint why).
#[test]
fn yaml_and_secrets_that_are_not_utf8_are_refused() {
    let redis = deployed();
    let mut r = redis.client();
    let query = |r: &mut redis::Connection, args: &[&[u8]]| -> String {
        let mut cmd = redis::cmd(std::str::from_utf8(args[0]).unwrap());
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query::<redis::Value>(r).unwrap_err().to_string()
    };
    let latin1 = &b"connections: {}\n# caf\xe9\n"[..];
    let e = query(
        &mut r,
        &[b"RDI.DEPLOY", b"CONFIG", latin1, b"JOB", b"emp", b"x"],
    );
    assert!(
        e.contains("the CONFIG text (config.yaml) is not UTF-8 text; save the YAML file as UTF-8"),
        "{e}"
    );
    let e = query(
        &mut r,
        &[
            b"RDI.DEPLOY",
            b"CONFIG",
            b"connections: {}",
            b"JOB",
            b"emp",
            latin1,
        ],
    );
    assert!(e.contains("the text of JOB emp is not UTF-8 text"), "{e}");
    let e = query(&mut r, &[b"RDI.SET-SECRET", b"pw", b"s3cr\xe9t"]);
    assert!(e.contains("the secret's value is not UTF-8 text"), "{e}");
    // The deployment in force is the one from before.
    assert_eq!(Status::query(&mut r).engine, "RUNNING");
}

#[test]
fn a_deploy_whose_thread_panics_answers_an_error_and_the_server_goes_on() {
    // The hook makes the deploy's thread panic, as a database driver's bug in its checks would.
    let opts = RedisOpts::redis74().env("RDI_TEST_PANIC_IN_DEPLOY", "1");
    let redis = RedisServer::start(opts).expect("start redis");
    let mut r = redis.client();
    let db = redis.dir().join("target.db");
    let e = call_err(
        &mut r,
        &[
            "RDI.DEPLOY",
            "CONFIG",
            &module_tests::yaml::sqlite_config(&db, &[]),
            "JOB",
            "emp",
            &module_tests::yaml::sqlite_job("emp:*", "emp", &["id"], &["name"]),
        ],
    );
    assert!(e.starts_with("ERR RDI.DEPLOY failed unexpectedly"), "{e}");
    let pong: String = redis::cmd("PING").query(&mut r).unwrap();
    assert_eq!(pong, "PONG");
    assert_eq!(Status::query(&mut r).engine, "NOT DEPLOYED");
    // The thread panicked holding the one-deploy-at-a-time lock: the next deploy still goes ahead
    // (before, every later one answered `ERR deploy lock poisoned`).
    module_tests::sqlite_target::create(
        &db,
        "CREATE TABLE emp (id INTEGER PRIMARY KEY, name TEXT)",
    );
    module_tests::deploy_ok(
        &mut r,
        &module_tests::yaml::sqlite_config(&db, &[]),
        &[(
            "emp",
            &module_tests::yaml::sqlite_job("emp:*", "emp", &["id"], &["name"]),
        )],
    );
    assert_eq!(Status::query(&mut r).engine, "RUNNING");
}
