//! `source.redis.propagate_expired: true` (SPEC 3.1, an extension of RDI): an expired key is a delete
//! and a hash field that expired (HPEXPIRE, Redis 7.4) is an update. Without it, as in RDI, expiries
//! leave the target as it was.

use module_tests::yaml::{sqlite_config, sqlite_job};
use module_tests::{call, deploy_ok, drain, sqlite_target, RedisOpts, RedisServer, Status};
use std::path::Path;
use std::time::Duration;

fn rows(db: &Path, table: &str) -> Vec<Vec<Option<String>>> {
    sqlite_target::rows(
        db,
        &format!("SELECT id, name, city FROM {table} ORDER BY id"),
    )
}

fn row(id: &str, name: Option<&str>, city: Option<&str>) -> Vec<Option<String>> {
    vec![
        Some(id.to_string()),
        name.map(str::to_string),
        city.map(str::to_string),
    ]
}

/// Lets `keys` expire (past their TTL), then reads them so that Redis expires them now.
fn let_expire(r: &mut redis::Connection, keys: &[&str]) {
    std::thread::sleep(Duration::from_millis(250));
    for key in keys {
        call(r, &["HGETALL", key]);
    }
}

/// Redis with two SQLite jobs: `emp:*` → table emp with `propagate_expired: true`, `keep:*` → table
/// keep without it.
fn two_jobs() -> (RedisServer, std::path::PathBuf) {
    two_jobs_on(RedisOpts::redis74())
}

/// [`two_jobs`] on a server started with `opts`.
fn two_jobs_on(opts: RedisOpts) -> (RedisServer, std::path::PathBuf) {
    let redis = RedisServer::start(opts).expect("start redis");
    let db = redis.dir().join("target.db");
    let ddl = "CREATE TABLE {t} (id INTEGER PRIMARY KEY, name TEXT, city TEXT)";
    sqlite_target::create(&db, &ddl.replace("{t}", "emp"));
    sqlite_target::create(&db, &ddl.replace("{t}", "keep"));
    let propagating = sqlite_job("emp:*", "emp", &["id"], &["name", "city"]).replace(
        "trigger: write-behind\n",
        "trigger: write-behind\n    propagate_expired: true\n",
    );
    assert!(propagating.contains("propagate_expired"), "{propagating}");
    let plain = sqlite_job("keep:*", "keep", &["id"], &["name", "city"]);
    deploy_ok(
        &mut redis.client(),
        &sqlite_config(&db, &[]),
        &[("emp", &propagating), ("keep", &plain)],
    );
    (redis, db)
}

#[test]
fn expiries_are_changes_only_for_jobs_that_propagate_them() {
    let (redis, db) = two_jobs();
    let mut r = redis.client();

    for prefix in ["emp", "keep"] {
        for id in ["1", "2"] {
            let key = format!("{prefix}:{id}");
            call(&mut r, &["HSET", &key, "id", id, "name", "n", "city", "c"]);
        }
    }
    drain(&mut r);
    assert_eq!(rows(&db, "emp").len(), 2);
    assert_eq!(rows(&db, "keep").len(), 2);

    // Key 1 expires whole; key 2 loses its field `city`.
    for prefix in ["emp", "keep"] {
        call(&mut r, &["PEXPIRE", &format!("{prefix}:1"), "100"]);
        call(
            &mut r,
            &[
                "HPEXPIRE",
                &format!("{prefix}:2"),
                "100",
                "FIELDS",
                "1",
                "city",
            ],
        );
    }
    let_expire(&mut r, &["emp:1", "emp:2", "keep:1", "keep:2"]);
    drain(&mut r);

    assert_eq!(rows(&db, "emp"), [row("2", Some("n"), None)]);
    assert_eq!(
        rows(&db, "keep"),
        [
            row("1", Some("n"), Some("c")),
            row("2", Some("n"), Some("c"))
        ],
        "without propagate_expired the target is left as it was"
    );
}

/// A key whose TTL passes while the server is down is loaded from the AOF with its TTL, and expires
/// after the load like any other: its row is deleted. (Loading an RDB file drops such a key with no
/// event, so its row stays: see the README's Limits.)
#[test]
fn a_key_that_expired_while_the_server_was_down_is_deleted_after_an_aof_restart() {
    let opts = RedisOpts::redis74()
        .appendonly()
        .arg("--enable-debug-command")
        .arg("yes");
    let (mut redis, db) = two_jobs_on(opts);
    let mut r = redis.client();
    for id in ["1", "2"] {
        call(
            &mut r,
            &["HSET", &format!("emp:{id}"), "id", id, "name", "n"],
        );
    }
    drain(&mut r);
    // Without active expiry and with nothing reading the key, it is still there when the server
    // stops, its TTL past.
    call(&mut r, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    call(&mut r, &["PEXPIRE", "emp:1", "20"]);
    std::thread::sleep(Duration::from_millis(100));
    redis.restart();

    let mut r = redis.client();
    let_expire(&mut r, &["emp:1"]);
    drain(&mut r);
    assert_eq!(rows(&db, "emp"), [row("2", Some("n"), None)]);
}

/// Loading an RDB file, a primary drops the keys whose TTL has passed with no event, so the row of
/// such a key stays: RDI.STATUS says how many keys were dropped and which jobs are concerned.
#[test]
fn keys_an_rdb_load_drops_as_expired_are_reported_in_status() {
    let opts = RedisOpts::redis74()
        .arg("--enable-debug-command")
        .arg("yes");
    let (mut redis, db) = two_jobs_on(opts);
    let mut r = redis.client();
    for key in ["emp:1", "emp:2", "keep:1"] {
        let id = &key[key.len() - 1..];
        call(&mut r, &["HSET", key, "id", id, "name", "n"]);
    }
    drain(&mut r);
    call(&mut r, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    call(&mut r, &["PEXPIRE", "emp:1", "20"]);
    call(&mut r, &["PEXPIRE", "keep:1", "20"]);
    std::thread::sleep(Duration::from_millis(100));
    call(&mut r, &["SAVE"]);
    redis.restart();

    let mut r = redis.client();
    drain(&mut r);
    assert_eq!(call(&mut r, &["EXISTS", "emp:1"]), redis::Value::Int(0));
    assert_eq!(rows(&db, "emp").len(), 2, "the row of emp:1 stays");
    let status = Status::query(&mut r);
    let warning = status
        .warnings
        .iter()
        .find(|w| w.contains("TTL had passed"))
        .unwrap_or_else(|| panic!("no warning in {:?}", status.warnings));
    assert!(
        warning.starts_with("2 key(s) ") && warning.contains("(`emp`)"),
        "{warning}"
    );
}

#[test]
fn propagate_expired_takes_true_or_false_only() {
    let redis = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    let db = redis.dir().join("target.db");
    let job = sqlite_job("emp:*", "emp", &["id"], &["name"]).replace(
        "trigger: write-behind\n",
        "trigger: write-behind\n    propagate_expired: sometimes\n",
    );
    let reply = redis::cmd("RDI.DEPLOY")
        .arg("CONFIG")
        .arg(sqlite_config(&db, &[]))
        .arg("JOB")
        .arg("emp")
        .arg(job)
        .query::<redis::Value>(&mut redis.client());
    let error = format!("{reply:?}");
    assert!(
        error.contains("jobs/emp.yaml:5") && error.contains("propagate_expired"),
        "{error}"
    );
}

/// When the last fields of a hash expire together, Redis deletes the key with no value left to find
/// its row. For a job without `propagate_expired` that is an expiry like any other: ignored, not a
/// rejected delete. A job with it rejects the delete to the dead-letter queue, saying why.
#[test]
fn a_hash_whose_last_fields_expire_is_an_expiry_not_a_delete() {
    let (redis, db) = two_jobs();
    let mut r = redis.client();
    for key in ["emp:3", "keep:3"] {
        call(&mut r, &["HSET", key, "id", "3", "name", "n", "city", "c"]);
    }
    drain(&mut r);
    for key in ["emp:3", "keep:3"] {
        let fields = ["HPEXPIRE", key, "100", "FIELDS", "3", "id", "name", "city"];
        call(&mut r, &fields);
    }
    let_expire(&mut r, &["emp:3", "keep:3"]);
    drain(&mut r);

    let status = module_tests::Status::query(&mut r);
    let keep = status.job("keep");
    assert_eq!((keep.rejected, keep.deleted), (0, 0), "{}", status.raw);
    assert_eq!(rows(&db, "keep"), [row("3", Some("n"), Some("c"))]);
    let emp = status.job("emp");
    assert_eq!(emp.rejected, 1, "{}", status.raw);
    assert!(
        emp.last_error
            .as_deref()
            .is_some_and(|e| e.contains("the value was gone")),
        "{}",
        status.raw
    );
}
