//! The writer against a real Redis 7.4 with RedisJSON, started by the test (`<repo>/.deps/bin/redis-server`
//! or `RDI_REDIS_SERVER`, and `RDI_REJSON`): every data type inserted, updated, deleted and replayed, a
//! per-record failure isolated, a stopped target then recovery.
//! Test-only: its `mod` line carries #[cfg(test)].

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::*;
use crate::config::{OnUpdate, RedisConnection, RedisDataType};
use crate::writer::{RedisShape, RowChange, RowOp, TableTarget};

/// A private Redis server; killed by PID on drop.
pub(super) struct TestRedis {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

/// `name` from the environment, else from `<repo>/.deps/env.sh`.
pub(super) fn var(name: &str) -> Option<String> {
    if let Ok(v) = std::env::var(name) {
        return Some(v);
    }
    let env = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.deps/env.sh")).ok()?;
    env.lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim_matches('"').to_string())
}

impl TestRedis {
    fn start() -> TestRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let mut server = TestRedis {
            child: Self::spawn(port, dir.path()),
            port,
            dir,
        };
        server.wait_ready();
        server
    }

    pub(super) fn spawn(port: u16, dir: &std::path::Path) -> Child {
        Self::spawn_with(port, dir, &[])
    }

    /// `redis-server` with RedisJSON on `port` (plain) and `extra` arguments.
    pub(super) fn spawn_with(port: u16, dir: &std::path::Path, extra: &[String]) -> Child {
        let bin = concat!(env!("CARGO_MANIFEST_DIR"), "/.deps/bin/redis-server");
        let rejson = var("RDI_REJSON").expect("RDI_REJSON (run scripts/deps.sh)");
        Command::new(bin)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir)
            .args(["--loadmodule", &rejson])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server")
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(mut c) = self.client() {
                if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server on port {} did not start", self.port);
    }

    fn client(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))?.get_connection()
    }

    fn settings(&self) -> RedisConnection {
        RedisConnection {
            host: "127.0.0.1".into(),
            port: self.port,
            user: None,
            password: None,
            key: None,
            key_password: None,
            cert: None,
            cacert: None,
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn restart(&mut self) {
        self.child = Self::spawn(self.port, self.dir.path());
        self.wait_ready();
    }

    fn cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let mut c = self.client().unwrap();
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut c).unwrap()
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn target(data_type: RedisDataType, on_update: OnUpdate, expire: u64) -> Arc<TableTarget> {
    Arc::new(TableTarget {
        schema: None,
        table: "key".into(),
        keys: vec!["key".into()],
        columns: vec!["key".into(), "value".into()],
        redis: Some(RedisShape {
            data_type,
            on_update,
            expire,
        }),
    })
}

fn row(t: &Arc<TableTarget>, op: RowOp, key: &str, payload: Value) -> RowChange {
    RowChange {
        target: t.clone(),
        op,
        values: vec![json!(key), payload],
    }
}

fn writer(server: &TestRedis) -> RedisWriter {
    RedisWriter::connect(&server.settings()).unwrap()
}

type Map = std::collections::BTreeMap<String, String>;

#[test]
fn hashes_insert_update_replace_merge_delete_and_replay() {
    let server = TestRedis::start();
    let mut w = writer(&server);
    let replace = target(RedisDataType::Hash, OnUpdate::Replace, 0);
    let merge = target(RedisDataType::Hash, OnUpdate::Merge, 100);
    w.check(&replace).unwrap();
    let batch = [
        row(
            &replace,
            RowOp::Upsert,
            "h:1",
            json!({"name": "Ada", "age": 36}),
        ),
        row(
            &replace,
            RowOp::Upsert,
            "h:2",
            json!({"name": "Bob", "city": "Oslo"}),
        ),
        row(&replace, RowOp::Upsert, "h:2", json!({"name": "Bo"})),
        row(
            &merge,
            RowOp::Upsert,
            "h:1",
            json!({"city": "Rome", "age": null}),
        ),
        row(&replace, RowOp::Upsert, "h:3", json!({"x": "1"})),
        row(&replace, RowOp::Delete, "h:3", Value::Null),
    ];
    for _ in 0..2 {
        assert_eq!(w.write(&batch).unwrap(), WriteOutcome::default());
        let h1: Map = server.cmd(&["HGETALL", "h:1"]);
        assert_eq!(
            h1,
            Map::from([
                ("name".into(), "Ada".into()),
                ("city".into(), "Rome".into())
            ])
        );
        let h2: Map = server.cmd(&["HGETALL", "h:2"]);
        assert_eq!(
            h2,
            Map::from([("name".into(), "Bo".into())]),
            "replace drops old fields"
        );
        assert_eq!(server.cmd::<i64>(&["EXISTS", "h:3"]), 0);
        assert!(server.cmd::<i64>(&["TTL", "h:1"]) > 0);
        assert_eq!(server.cmd::<i64>(&["TTL", "h:2"]), -1);
    }
}

#[test]
fn json_sets_and_strings_sorted_sets_and_streams() {
    let server = TestRedis::start();
    let mut w = writer(&server);
    let json_replace = target(RedisDataType::Json, OnUpdate::Replace, 0);
    let json_merge = target(RedisDataType::Json, OnUpdate::Merge, 0);
    let set = target(RedisDataType::Set, OnUpdate::Replace, 0);
    let zset = target(RedisDataType::SortedSet, OnUpdate::Replace, 0);
    let string = target(RedisDataType::String, OnUpdate::Replace, 50);
    let stream = target(RedisDataType::Stream, OnUpdate::Replace, 0);
    w.check(&json_replace).unwrap();
    let batch = [
        row(
            &json_replace,
            RowOp::Upsert,
            "j:1",
            json!({"a": {"b": 1}, "n": "x"}),
        ),
        row(
            &json_merge,
            RowOp::Upsert,
            "j:1",
            json!({"a": {"c": 2}, "n": null}),
        ),
        row(&json_replace, RowOp::Upsert, "j:2", json!({"gone": true})),
        row(&json_replace, RowOp::Delete, "j:2", Value::Null),
        row(&set, RowOp::Upsert, "s", json!("a")),
        row(&set, RowOp::Upsert, "s", json!("b")),
        row(&set, RowOp::Delete, "s", json!("a")),
        row(&zset, RowOp::Upsert, "z", json!(["m", 2.5])),
        row(&zset, RowOp::Upsert, "z", json!(["n", 1])),
        row(&zset, RowOp::Delete, "z", json!(["n", 0])),
        row(&string, RowOp::Upsert, "str:1", json!("v1")),
        row(&string, RowOp::Upsert, "str:2", json!("v2")),
        row(&string, RowOp::Delete, "str:2", Value::Null),
        row(
            &stream,
            RowOp::Upsert,
            "log",
            json!({"op_code": "c", "id": 1}),
        ),
        row(
            &stream,
            RowOp::Delete,
            "log",
            json!({"op_code": "d", "id": 1}),
        ),
    ];
    for round in 1..=2 {
        assert_eq!(w.write(&batch).unwrap(), WriteOutcome::default());
        let doc: String = server.cmd(&["JSON.GET", "j:1", "$"]);
        assert_eq!(
            serde_json::from_str::<Value>(&doc).unwrap(),
            json!([{"a": {"b": 1, "c": 2}}])
        );
        assert_eq!(server.cmd::<i64>(&["EXISTS", "j:2"]), 0);
        assert_eq!(server.cmd::<Vec<String>>(&["SMEMBERS", "s"]), ["b"]);
        assert_eq!(
            server.cmd::<Vec<String>>(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
            ["m", "2.5"]
        );
        assert_eq!(server.cmd::<String>(&["GET", "str:1"]), "v1");
        assert!(server.cmd::<i64>(&["TTL", "str:1"]) > 0);
        assert_eq!(server.cmd::<i64>(&["EXISTS", "str:2"]), 0);
        // Streams append on every write, a replay too (at-least-once).
        assert_eq!(server.cmd::<i64>(&["XLEN", "log"]), 2 * round);
    }
    let last: Vec<(String, Vec<String>)> =
        server.cmd(&["XREVRANGE", "log", "+", "-", "COUNT", "1"]);
    assert_eq!(last[0].1, ["op_code", "d", "id", "1"]);
}

#[test]
fn a_wrongtype_record_is_rejected_alone_and_the_rest_is_written() {
    let server = TestRedis::start();
    server.cmd::<()>(&["SET", "taken", "a string"]);
    let mut w = writer(&server);
    let merge = target(RedisDataType::Hash, OnUpdate::Merge, 0);
    let set = target(RedisDataType::Set, OnUpdate::Replace, 0);
    let batch = [
        row(&merge, RowOp::Upsert, "ok:1", json!({"a": "1"})),
        row(&merge, RowOp::Upsert, "taken", json!({"a": "2"})),
        row(&set, RowOp::Upsert, "taken", json!("m")),
        row(&merge, RowOp::Upsert, "ok:2", json!({"a": "3"})),
    ];
    let outcome = w.write(&batch).unwrap();
    let reasons: Vec<(usize, &str)> = outcome
        .rejected
        .iter()
        .map(|(i, r)| (*i, r.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                1,
                "HSET: WRONGTYPE Operation against a key holding the wrong kind of value"
            ),
            (
                2,
                "SADD: WRONGTYPE Operation against a key holding the wrong kind of value"
            ),
        ]
    );
    assert_eq!(server.cmd::<String>(&["HGET", "ok:1", "a"]), "1");
    assert_eq!(server.cmd::<String>(&["HGET", "ok:2", "a"]), "3");
    assert_eq!(server.cmd::<String>(&["GET", "taken"]), "a string");
}

#[test]
fn a_stopped_target_is_transient_and_the_writer_recovers() {
    let mut server = TestRedis::start();
    let mut w = writer(&server);
    let t = target(RedisDataType::Hash, OnUpdate::Replace, 0);
    server.stop();
    let batch = [row(&t, RowOp::Upsert, "h", json!({"a": "1"}))];
    assert!(matches!(w.write(&batch), Err(WriteError::Transient(_))));
    assert!(matches!(
        RedisWriter::connect(&server.settings()),
        Err(WriteError::Transient(_))
    ));
    server.restart();
    // The applier drops a writer after an error and connects again.
    let mut w = writer(&server);
    assert_eq!(w.write(&batch).unwrap(), WriteOutcome::default());
    assert_eq!(server.cmd::<String>(&["HGET", "h", "a"]), "1");
}

#[test]
fn check_pings_and_wrong_credentials_are_not_transient() {
    let server = TestRedis::start();
    server.cmd::<()>(&["CONFIG", "SET", "requirepass", "s3cret-pass"]);
    let mut settings = server.settings();
    settings.password = Some("wrong-pass".into());
    let err = RedisWriter::connect(&settings).err().expect("refused");
    assert!(matches!(err, WriteError::Schema(_)), "{err}");
    assert!(!err.to_string().contains("wrong-pass"), "{err}");
    settings.password = Some("s3cret-pass".into());
    let mut w = RedisWriter::connect(&settings).unwrap();
    w.check(&target(RedisDataType::Json, OnUpdate::Merge, 0))
        .unwrap();
    let table = TableTarget {
        schema: None,
        table: "emp".into(),
        keys: vec![],
        columns: vec![],
        redis: None,
    };
    assert!(matches!(w.check(&table), Err(WriteError::Schema(_))));
}
