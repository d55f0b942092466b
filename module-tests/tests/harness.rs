//! The harness itself, without the module: servers start, restart from their files, stop and start.

use module_tests::{wait_until, PgServer, RedisOpts, RedisServer};
use std::time::Duration;

#[test]
fn redis_restart_reloads_the_rdb_from_its_own_directory() {
    let mut redis =
        RedisServer::start(RedisOpts::redis74().without_module()).expect("start redis 7.4");
    let mut conn = redis.client();
    redis::cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("v")
        .exec(&mut conn)
        .unwrap();
    redis::cmd("SAVE").exec(&mut conn).unwrap();
    let port = redis.port();
    redis.restart();
    assert_eq!(redis.port(), port);
    let value: String = redis::cmd("HGET")
        .arg("h")
        .arg("f")
        .query(&mut redis.client())
        .unwrap();
    assert_eq!(value, "v");
}

#[test]
fn redis_kill9_then_restart_replays_the_aof() {
    let opts = RedisOpts::redis74()
        .without_module()
        .appendonly()
        .appendfsync("always");
    let mut redis = RedisServer::start(opts).expect("start redis 7.4");
    redis::cmd("SET")
        .arg("k")
        .arg("1")
        .exec(&mut redis.client())
        .unwrap();
    redis.kill9();
    redis.restart();
    let value: String = redis::cmd("GET")
        .arg("k")
        .query(&mut redis.client())
        .unwrap();
    assert_eq!(value, "1");
    assert!(
        redis.log().contains("Ready to accept connections"),
        "{}",
        redis.log()
    );
}

#[test]
fn redis_70_and_valkey_8_and_9_start_without_the_module() {
    for opts in [
        RedisOpts::redis70(),
        RedisOpts::valkey8().without_module(),
        RedisOpts::valkey9().without_module(),
    ] {
        let redis = RedisServer::start(opts).expect("start");
        let pong: String = redis::cmd("PING").query(&mut redis.client()).unwrap();
        assert_eq!(pong, "PONG");
    }
}

#[test]
fn postgres_stops_and_starts_on_the_same_port() {
    let pg = PgServer::new();
    let db = pg.create_database("harness_stop_start");
    pg.client(&db)
        .batch_execute("CREATE TABLE t (id int primary key)")
        .unwrap();
    pg.stop();
    assert!(postgres::Client::connect(&pg.connection_string(&db), postgres::NoTls).is_err());
    pg.start();
    wait_until(
        Duration::from_secs(10),
        "PostgreSQL accepts connections",
        || postgres::Client::connect(&pg.connection_string(&db), postgres::NoTls).is_ok(),
    );
    let n: i64 = pg
        .client(&db)
        .query_one("SELECT count(*) FROM t", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

#[test]
fn shared_postgres_gives_each_test_its_own_database() {
    let pg = PgServer::shared();
    let db = pg.create_database("harness_shared");
    let one: i32 = pg.client(&db).query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(one, 1);
}
