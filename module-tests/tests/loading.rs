//! Which servers load the module: Redis 7.0 refuses it cleanly (at start and with MODULE LOAD);
//! Redis 7.4 and Valkey 9 load it.

use module_tests::status::{pairs, render, text};
use module_tests::{
    call, drain, env, error_text, row, sqlite_target, RedisOpts, RedisServer, Status,
};
use std::os::unix::process::ExitStatusExt;

/// Signs that a server crashed instead of refusing the module.
const CRASH_SIGNS: [&str; 5] = [
    "crashed by signal",
    "Segmentation",
    "STACK TRACE",
    "BUG REPORT",
    "ASSERTION FAILED",
];

fn assert_no_crash(log: &str) {
    for sign in CRASH_SIGNS {
        assert!(
            !log.contains(sign),
            "the server log shows a crash ({sign}):\n{log}"
        );
    }
}

/// The names in a MODULE LIST reply.
fn module_names(connection: &mut redis::Connection) -> Vec<String> {
    let list = call(connection, &["MODULE", "LIST"]);
    let raw = render(&list);
    let redis::Value::Array(entries) = &list else {
        panic!("MODULE LIST: {raw}")
    };
    entries
        .iter()
        .filter_map(|entry| {
            pairs(entry, "module", &raw)
                .into_iter()
                .find(|(k, _)| k == "name")
                .and_then(|(_, v)| text(v))
        })
        .collect()
}

#[test]
fn redis_70_refuses_the_module_at_start_with_a_log_line_and_no_crash() {
    let error = match RedisServer::start(RedisOpts::redis70().with_module()) {
        Ok(redis) => panic!(
            "Redis 7.0 started with the module loaded; log:\n{}",
            redis.log()
        ),
        Err(error) => error,
    };
    let exit = error
        .exit
        .unwrap_or_else(|| panic!("the server neither started nor exited: {error:?}"));
    assert_eq!(
        exit.signal(),
        None,
        "Redis 7.0 was killed by a signal: {error:?}"
    );
    assert!(!exit.success(), "{error:?}");
    let module = env::module_path().display().to_string();
    let refused = error.log.lines().any(|line| {
        let lower = line.to_lowercase();
        (line.contains(&module) || lower.contains("rdi"))
            && ["not loaded", "failed", "can't load", "refus", "requires"]
                .iter()
                .any(|w| lower.contains(w))
    });
    assert!(
        refused,
        "no log line says the module was refused: {error:?}"
    );
    assert_no_crash(&error.log);
}

#[test]
fn redis_70_module_load_returns_an_error_and_the_server_keeps_serving() {
    let redis = RedisServer::start(
        RedisOpts::redis70()
            .arg("--enable-module-command")
            .arg("yes"),
    )
    .expect("start 7.0");
    let mut r = redis.client();
    let module = env::module_path().display().to_string();
    let reply: redis::RedisResult<redis::Value> =
        redis::cmd("MODULE").arg("LOAD").arg(&module).query(&mut r);
    match reply {
        Ok(value) => panic!("MODULE LOAD on Redis 7.0 answered {}", render(&value)),
        Err(e) => assert!(error_text(&e).starts_with("ERR"), "{}", error_text(&e)),
    }
    let pong: String = redis::cmd("PING")
        .query(&mut r)
        .expect("PING after MODULE LOAD");
    assert_eq!(pong, "PONG");
    assert!(!module_names(&mut r).iter().any(|n| n == "rdi"));
    assert_no_crash(&redis.log());
}

#[test]
fn redis_74_loads_the_module_named_rdi_at_start_and_with_module_load() {
    let redis = RedisServer::start(RedisOpts::redis74()).expect("start 7.4 with the module");
    let mut r = redis.client();
    assert!(
        module_names(&mut r).iter().any(|n| n == "rdi"),
        "{:?}",
        module_names(&mut r)
    );
    assert_eq!(Status::query(&mut r).engine, "NOT DEPLOYED");

    let opts = RedisOpts::redis74()
        .without_module()
        .arg("--enable-module-command")
        .arg("yes");
    let plain = RedisServer::start(opts).expect("start 7.4 without the module");
    let mut r = plain.client();
    call(
        &mut r,
        &["MODULE", "LOAD", &env::module_path().display().to_string()],
    );
    assert!(module_names(&mut r).iter().any(|n| n == "rdi"));
    assert_eq!(Status::query(&mut r).engine, "NOT DEPLOYED");
}

#[test]
fn valkey_9_loads_the_module_and_writes_hashes_to_sqlite() {
    valkey_loads_the_module_and_writes_hashes_to_sqlite(RedisOpts::valkey9(), "valkey_version:9.");
}

#[test]
fn valkey_8_loads_the_module_and_writes_hashes_to_sqlite() {
    valkey_loads_the_module_and_writes_hashes_to_sqlite(
        RedisOpts::valkey8(),
        "valkey_version:8.0.",
    );
}

/// Capture of each kind of change, and changes queued while the writers are stopped surviving a
/// restart from the AOF.
fn valkey_loads_the_module_and_writes_hashes_to_sqlite(opts: RedisOpts, version: &str) {
    let kind = opts.kind;
    let mut redis = RedisServer::start(opts.appendonly().appendfsync("always"))
        .unwrap_or_else(|e| panic!("start {kind:?} with the module: {e:?}"));
    let db = sqlite_target::deploy_emp(&redis);
    let mut r = redis.client();
    let info: String = redis::cmd("INFO").arg("server").query(&mut r).unwrap();
    assert!(info.contains(version), "{kind:?} is not {version}:\n{info}");
    call(&mut r, &["HSET", "emp:1", "id", "1", "name", "Valkey"]);
    call(&mut r, &["HSET", "emp:2", "id", "2", "name", "Gone"]);
    call(&mut r, &["UNLINK", "emp:2"]);
    call(&mut r, &["HSET", "emp:3", "id", "3", "name", "Moved"]);
    call(&mut r, &["RENAME", "emp:3", "emp:30"]);
    call(&mut r, &["HSET", "emp:4", "id", "4"]);
    call(&mut r, &["HDEL", "emp:4", "id"]);
    drain(&mut r);
    assert_eq!(
        sqlite_target::rows(&db, "SELECT id, name FROM emp ORDER BY id"),
        vec![row(&["1", "Valkey"]), row(&["3", "Moved"])],
        "{kind:?}"
    );

    call(&mut r, &["RDI.STOP"]);
    call(&mut r, &["HSET", "emp:1", "name", "Restarted"]);
    call(&mut r, &["DEL", "emp:30"]);
    call(&mut r, &["HSET", "emp:5", "id", "5", "name", "New"]);
    redis.restart();
    let mut r = redis.client();
    drain(&mut r);
    assert_eq!(
        sqlite_target::rows(&db, "SELECT id, name FROM emp ORDER BY id"),
        vec![row(&["1", "Restarted"]), row(&["5", "New"])],
        "{kind:?}: after a restart with changes queued"
    );
}
