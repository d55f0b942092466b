//! The module's settings (`rdi.pending-warning`, `rdi.reset-scan-count`): given as load arguments
//! (`--loadmodule librdi.so <name> <value>`), read and changed with CONFIG GET/SET, refused out of
//! their bounds, and in effect.

use module_tests::replies::call_err;
use module_tests::{call, sqlite_emp, wait_until, RedisOpts, Status};
use redis::Value;
use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

fn config_get(r: &mut redis::Connection, name: &str) -> String {
    let pair: Vec<String> = redis::cmd("CONFIG").arg("GET").arg(name).query(r).unwrap();
    assert_eq!(pair.len(), 2, "CONFIG GET {name}: {pair:?}");
    pair[1].clone()
}

#[test]
fn load_arguments_set_the_settings_and_config_set_keeps_them_in_bounds() {
    let opts = RedisOpts::redis74()
        .module_arg("pending-warning")
        .module_arg("5")
        .module_arg("reset-scan-count")
        .module_arg("7");
    let (redis, _db) = sqlite_emp(opts);
    let mut r = redis.client();
    assert_eq!(config_get(&mut r, "rdi.pending-warning"), "5");
    assert_eq!(config_get(&mut r, "rdi.reset-scan-count"), "7");

    // The load argument is in effect: six queued changes pass a threshold of five.
    call(&mut r, &["RDI.STOP"]);
    for i in 1..=6 {
        call(&mut r, &["HSET", &format!("emp:{i}"), "id", &i.to_string()]);
    }
    let status = Status::query(&mut r);
    assert!(
        status
            .warnings
            .iter()
            .any(|w| w.contains("has 6 changes queued (over rdi.pending-warning 5)")),
        "{}",
        status.raw
    );

    for (name, bad) in [
        ("rdi.reset-scan-count", "0"),
        ("rdi.reset-scan-count", "100001"),
        ("rdi.pending-warning", "-1"),
    ] {
        let e = call_err(&mut r, &["CONFIG", "SET", name, bad]);
        assert!(
            e.contains(name) || e.contains("argument"),
            "{name} {bad}: {e}"
        );
    }
    assert_eq!(config_get(&mut r, "rdi.reset-scan-count"), "7");
    call(&mut r, &["CONFIG", "SET", "rdi.reset-scan-count", "100000"]);
    assert_eq!(config_get(&mut r, "rdi.reset-scan-count"), "100000");
}

/// A server started with a bad load argument refuses the module, and its log says what to change.
/// Before, a value out of bounds was kept, and a misspelt name ignored.
#[test]
fn a_bad_load_argument_is_refused_naming_it() {
    for (args, expected) in [
        (
            &["reset-scan-count", "0"][..],
            "load argument `reset-scan-count 0`: the value must be an integer from 1 to 100000",
        ),
        (
            &["pending-warnings", "5"][..],
            "unknown setting `pending-warnings` in the load arguments",
        ),
        (
            &["rdi.pending-warning", "5"][..],
            "write `pending-warning` (without `rdi.`)",
        ),
        (
            &["pending-warning"][..],
            "the load argument `pending-warning` has no value",
        ),
    ] {
        let mut opts = RedisOpts::redis74();
        for arg in args {
            opts = opts.module_arg(arg);
        }
        let Err(e) = module_tests::RedisServer::start(opts) else {
            panic!("the server started with {args:?}");
        };
        assert!(e.log.contains(expected), "{args:?}:\n{}", e.log);
    }
}

/// `rdi.reset-scan-count` is the COUNT of each SCAN a backfill runs (seen by MONITOR).
#[test]
fn a_backfill_scans_with_the_count_of_the_setting() {
    let (redis, _db) = sqlite_emp(RedisOpts::redis74());
    let mut r = redis.client();
    for i in 1..=50 {
        call(&mut r, &["HSET", &format!("emp:{i}"), "id", &i.to_string()]);
    }
    call(&mut r, &["CONFIG", "SET", "rdi.reset-scan-count", "13"]);

    let mut monitor = std::net::TcpStream::connect(("127.0.0.1", redis.port())).unwrap();
    monitor.write_all(b"MONITOR\r\n").unwrap();
    monitor
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut lines = BufReader::new(monitor.try_clone().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "+OK");

    assert_eq!(call(&mut r, &["RDI.RESET"]), Value::Okay);
    wait_until(Duration::from_secs(20), "the backfill is done", || {
        Status::query(&mut r).raw.contains("done")
    });
    let scan = lines
        .map_while(Result::ok)
        .find(|line| line.contains("\"SCAN\""))
        .expect("MONITOR shows the backfill's SCAN");
    assert!(scan.contains("\"COUNT\" \"13\""), "{scan}");
}
