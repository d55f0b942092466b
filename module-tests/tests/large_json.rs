//! The delete of a RedisJSON document reads only its key fields on the main thread, not the whole
//! document: serializing a document of megabytes would hold the server inside the client's DEL.

use module_tests::yaml::{sqlite_config, sqlite_job};
use module_tests::{call, deploy_ok, sqlite_target, wait_for, RedisOpts, RedisServer};
use std::time::Duration;

const FIELDS: usize = 300_000;

#[test]
fn a_json_delete_reads_only_the_key_fields_of_the_document() {
    let redis = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    let db = redis.dir().join("target.db");
    sqlite_target::create(&db, "CREATE TABLE big (id INTEGER PRIMARY KEY, name TEXT)");
    sqlite_target::create(
        &db,
        "CREATE TABLE pair (a TEXT, b TEXT, name TEXT, PRIMARY KEY (a, b))",
    );
    let mut r = redis.client();
    deploy_ok(
        &mut r,
        &sqlite_config(&db, &[]),
        &[
            ("big", &sqlite_job("big:*", "big", &["id"], &["name"])),
            (
                "pair",
                &sqlite_job("pair:*", "pair", &["a", "b"], &["name"]),
            ),
        ],
    );

    // Built under a name no job captures, then renamed into the job's pattern: one change.
    let mut text = String::from(r#"{"id":1,"name":"Alice""#);
    for i in 0..FIELDS {
        text.push_str(&format!(r#","field{i}":"value{i}""#));
    }
    text.push('}');
    call(&mut r, &["JSON.SET", "staging", "$", &text]);
    call(&mut r, &["CONFIG", "RESETSTAT"]);
    call(&mut r, &["RENAME", "staging", "big:1"]);
    let big = || sqlite_target::rows(&db, "SELECT id, name FROM big");
    wait_for(Duration::from_secs(60), "the row to arrive", || {
        (!big().is_empty()).then_some(())
    });
    assert_eq!(big(), vec![vec![Some("1".into()), Some("Alice".into())]]);
    // The writer read the whole document (there is no other way to read an upsert's value).
    let whole = json_get_usec(&mut r);

    call(&mut r, &["CONFIG", "RESETSTAT"]);
    call(&mut r, &["UNLINK", "big:1"]);
    wait_for(Duration::from_secs(60), "the row to go", || {
        big().is_empty().then_some(())
    });
    let on_delete = json_get_usec(&mut r);
    eprintln!("JSON.GET: {whole} µs for the writer's read, {on_delete} µs on delete");
    assert!(
        on_delete * 10 < whole,
        "the delete's read took {on_delete} µs, the whole document {whole} µs"
    );

    // Two key fields: both read, the row found by both.
    let pair = || sqlite_target::rows(&db, "SELECT a, b, name FROM pair");
    call(
        &mut r,
        &[
            "JSON.SET",
            "pair:1",
            "$",
            r#"{"a":"x","b":"y","name":"Bob"}"#,
        ],
    );
    call(
        &mut r,
        &[
            "JSON.SET",
            "pair:2",
            "$",
            r#"{"a":"x","b":"z","name":"Eve"}"#,
        ],
    );
    wait_for(Duration::from_secs(30), "both rows", || {
        (pair().len() == 2).then_some(())
    });
    call(&mut r, &["DEL", "pair:1"]);
    wait_for(Duration::from_secs(30), "the row to go", || {
        (pair().len() == 1).then_some(())
    });
    assert_eq!(
        pair(),
        vec![vec![Some("x".into()), Some("z".into()), Some("Eve".into())]]
    );
}

/// Microseconds `JSON.GET` has taken since the last `CONFIG RESETSTAT` (calls made by modules count).
fn json_get_usec(r: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(r)
        .expect("INFO");
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_json.get:"))
        .and_then(|stats| stats.split(',').find_map(|s| s.strip_prefix("usec=")))
        .and_then(|usec| usec.parse().ok())
        .unwrap_or(0)
}
