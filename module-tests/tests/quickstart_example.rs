//! `examples/quickstart` deployed unchanged (as `make run` does): its SQLite path is relative to the
//! server's `dir`, its rename_field transform maps `fname`/`lname`, and rows arrive.

use std::path::Path;

use module_tests::{call, deploy_ok, drain, row, sqlite_target, RedisOpts, RedisServer};

fn example(file: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart");
    std::fs::read_to_string(root.join(file)).unwrap()
}

#[test]
fn the_quickstart_example_deploys_unchanged_and_writes_rows() {
    let redis = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    // `path: quickstart.db` is relative to the server's working directory, its `dir`.
    let db = redis.dir().join("quickstart.db");
    sqlite_target::create(&db, &example("schema.sql"));
    let mut r = redis.client();
    deploy_ok(
        &mut r,
        &example("config.yaml"),
        &[("emp", &example("jobs/emp.yaml"))],
    );
    call(
        &mut r,
        &[
            "HSET",
            "emp:1",
            "first_name",
            "Ada",
            "last_name",
            "Lovelace",
            "address",
            "London",
            "gender",
            "F",
        ],
    );
    // The guide's old field names still land in the right columns through the rename_field block.
    call(
        &mut r,
        &[
            "HSET",
            "emp:2",
            "fname",
            "Alan",
            "lname",
            "Turing",
            "address",
            "Manchester",
            "gender",
            "M",
        ],
    );
    call(
        &mut r,
        &[
            "HSET",
            "emp:3",
            "first_name",
            "Grace",
            "last_name",
            "Hopper",
        ],
    );
    drain(&mut r);
    call(&mut r, &["DEL", "emp:3"]);
    call(&mut r, &["HSET", "emp:2", "address", "Wilmslow"]);
    drain(&mut r);
    assert_eq!(
        sqlite_target::rows(
            &db,
            "SELECT first_name, last_name, address, gender FROM emp ORDER BY first_name"
        ),
        vec![
            row(&["Ada", "Lovelace", "London", "F"]),
            row(&["Alan", "Turing", "Wilmslow", "M"]),
        ]
    );
    // A delete finds its row through the transform too: the job has transforms, so the delete reads
    // every field of the hash (its keys come from `fname`/`lname`), not the key columns' names.
    call(&mut r, &["DEL", "emp:2"]);
    drain(&mut r);
    assert_eq!(
        sqlite_target::rows(&db, "SELECT first_name, last_name FROM emp"),
        vec![row(&["Ada", "Lovelace"])]
    );
}
