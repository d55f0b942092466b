//! Every module command sent thousands of random argument lists (words the commands take, numbers at
//! and past their limits, empty and binary strings, YAML fragments): each answers a reply or an error
//! with a code, the server never crashes or stalls, and its log shows no panic.

use module_tests::rng::Rng;
use module_tests::{sqlite_target, RedisOpts, RedisServer};
use std::time::Duration;

/// Argument lists per command.
const CALLS: usize = 200;

const COMMANDS: &[&str] = &[
    "RDI.DEPLOY",
    "RDI.STATUS",
    "RDI.WAIT",
    "RDI.METRICS",
    "RDI.RESET",
    "RDI.HDEL",
    "RDI.BUSY",
    "RDI.TRACE",
    "RDI.LIST-JOBS",
    "RDI.DESCRIBE-JOB",
    "RDI.GET-REJECTED",
    "RDI.STOP",
    "RDI.START",
    "RDI.UNDEPLOY",
    "RDI.SET-SECRET",
];

/// Words the commands take, and values at and past their edges.
const WORDS: &[&[u8]] = &[
    b"JOB",
    b"emp",
    b"nope",
    b"COUNT",
    b"TIMEOUT",
    b"CONFIG",
    b"DRYRUN",
    b"FORCE",
    b"ALL",
    b"LIMIT",
    b"FORMAT",
    b"json",
    b"0",
    b"1",
    b"-1",
    b"2.5",
    b"99999999999999999999",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"",
    b" ",
    b"\xff\xfe\x00",
    b"emp:1",
    b"id",
    b"a b",
    b"${env:HOME}",
    b"connections:\n  x: {type: sqlite, path: /nonexistent/dir/x.db}\n",
    b"source: [",
    b"::",
    b"\"",
    b"*",
    b"__rdi__:queue:emp",
    b"0.001",
    b"1e10",
];

#[test]
fn random_arguments_get_a_reply_or_a_coded_error_and_never_crash_the_server() {
    let redis = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    sqlite_target::deploy_emp(&redis);
    let mut r = redis.client();
    r.set_read_timeout(Some(Duration::from_secs(1)))
        .expect("read timeout");
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    let long = vec![b'x'; 100_000];
    let (mut replies, mut errors, mut blocked) = (0usize, 0usize, 0usize);
    let mut uncoded = Vec::new();
    for command in COMMANDS {
        for _ in 0..CALLS {
            let mut cmd = redis::cmd(command);
            for _ in 0..rng.below(6) {
                match rng.below(40) {
                    0 => cmd.arg(&long[..]),
                    _ => cmd.arg(WORDS[rng.below(WORDS.len())]),
                };
            }
            match cmd.query::<redis::Value>(&mut r) {
                Ok(_) => replies += 1,
                Err(e) if e.is_timeout() => {
                    // A blocking command (WAIT, TRACE) took a long timeout: a new connection.
                    blocked += 1;
                    r = redis.client();
                    r.set_read_timeout(Some(Duration::from_secs(1)))
                        .expect("read timeout");
                }
                Err(e) if e.is_io_error() || e.is_connection_dropped() => panic!(
                    "{command}: the connection failed ({e}); log:\n{}",
                    redis.log()
                ),
                Err(e) => {
                    errors += 1;
                    let code = e.code().unwrap_or("");
                    if code.is_empty() || !code.chars().all(|c| c.is_ascii_uppercase()) {
                        uncoded.push(format!("{command}: {e}"));
                    }
                }
            }
        }
        let pong: String = redis::cmd("PING")
            .query(&mut r)
            .unwrap_or_else(|e| panic!("PING after {command}: {e}; log:\n{}", redis.log()));
        assert_eq!(pong, "PONG");
    }
    eprintln!("{replies} replies, {errors} errors, {blocked} blocked until the client gave up");
    assert!(uncoded.is_empty(), "errors without a code: {uncoded:#?}");
    assert!(
        errors > replies / 4,
        "{errors} errors for {replies} replies"
    );
    let log = redis.log();
    assert!(
        !log.contains("panicked") && !log.to_lowercase().contains("panic"),
        "the log shows a panic:\n{log}"
    );
}
