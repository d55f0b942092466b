//! RDI.SET-SECRET of a secret the running deployment refers to rebuilds the pipeline with the new
//! value (a password that was wrong, rotated): no redeploy is needed. Shown with the database name,
//! since the test PostgreSQL does not check passwords.

use module_tests::yaml::pg_job;
use module_tests::{call, deploy, drain, query_text, PgServer, RedisOpts, RedisServer};

const DDL: &str = "CREATE TABLE emp (id integer PRIMARY KEY, name text)";

fn ids(pg: &PgServer, db: &str) -> Vec<String> {
    query_text(&mut pg.client(db), "SELECT id::text FROM emp ORDER BY id")
        .into_iter()
        .filter_map(|r| r[0].clone())
        .collect()
}

#[test]
fn a_changed_secret_takes_effect_in_the_running_pipeline() {
    let pg = PgServer::shared();
    let (first, second) = (
        pg.create_database("rotation_a"),
        pg.create_database("rotation_b"),
    );
    for db in [&first, &second] {
        pg.client(db).batch_execute(DDL).unwrap();
    }
    let redis = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    let mut r = redis.client();
    call(&mut r, &["RDI.SET-SECRET", "dbname", &first]);
    let config = format!(
        "connections:\n  pg:\n    type: postgresql\n    host: 127.0.0.1\n    port: {}\n    \
         database: ${{secrets:dbname}}\n    user: postgres\n",
        pg.port()
    );
    let job = pg_job("emp:*", "emp", &["id"], &["name"]);
    deploy(&mut r, &config, &[("emp", &job)]).unwrap();
    call(&mut r, &["HSET", "emp:1", "id", "1", "name", "a"]);
    drain(&mut r);
    assert_eq!(ids(pg, &first), ["1"]);

    // A secret the deployment does not use changes nothing.
    let restored = |redis: &RedisServer| redis.log().matches("pipeline restored").count();
    let before = restored(&redis);
    call(&mut r, &["RDI.SET-SECRET", "unrelated", "x"]);
    assert_eq!(restored(&redis), before);

    call(&mut r, &["RDI.SET-SECRET", "dbname", &second]);
    assert_eq!(restored(&redis), before + 1, "{}", redis.log());
    call(&mut r, &["HSET", "emp:2", "id", "2", "name", "b"]);
    drain(&mut r);
    assert_eq!(ids(pg, &second), ["2"]);
    assert_eq!(ids(pg, &first), ["1"]);
}
