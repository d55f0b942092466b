//! Test-only: its `mod` line carries #[cfg(test)].
//! The writer against a real Redis 7.4 with RedisJSON, started by the test (`<repo>/.deps/bin/redis-server`
//! and `RDI_REJSON`): what the conformance suite (`conformance_tests`) does not cover: hash replace
//! versus merge with removed fields, expiry, JSON merges that nest, connecting to a stopped target,
//! credentials. Also the private server the other test files use.

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
    pub(super) fn start() -> TestRedis {
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

    pub(super) fn settings(&self) -> RedisConnection {
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

    pub(super) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub(super) fn restart(&mut self) {
        self.child = Self::spawn(self.port, self.dir.path());
        self.wait_ready();
    }

    pub(super) fn cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
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
fn json_merges_nest_and_strings_expire() {
    let server = TestRedis::start();
    let mut w = writer(&server);
    let json_replace = target(RedisDataType::Json, OnUpdate::Replace, 0);
    let json_merge = target(RedisDataType::Json, OnUpdate::Merge, 0);
    let string = target(RedisDataType::String, OnUpdate::Replace, 50);
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
        row(&string, RowOp::Upsert, "str:1", json!("v1")),
    ];
    for _ in 0..2 {
        assert_eq!(w.write(&batch).unwrap(), WriteOutcome::default());
        let doc: String = server.cmd(&["JSON.GET", "j:1", "$"]);
        assert_eq!(
            serde_json::from_str::<Value>(&doc).unwrap(),
            json!([{"a": {"b": 1, "c": 2}}])
        );
        assert_eq!(server.cmd::<String>(&["GET", "str:1"]), "v1");
        assert!(server.cmd::<i64>(&["TTL", "str:1"]) > 0);
    }
}

#[test]
fn connecting_to_a_stopped_target_is_transient() {
    let mut server = TestRedis::start();
    server.stop();
    assert!(matches!(
        RedisWriter::connect(&server.settings()),
        Err(WriteError::Transient(_))
    ));
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
