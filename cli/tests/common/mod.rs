//! Shared by the CLI end-to-end tests: a real Redis 7.4 with the module, and `redis-di` runs against it.

// Each test crate uses a part of these helpers; test helpers fail by panicking, as tests do.
#![allow(
    dead_code,
    unused_imports,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic
)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub use module_tests::{call, sqlite_target, wait_until, RedisOpts, RedisServer};

/// The `redis-di` binary built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_redis-di");

/// What a `redis-di` run printed and how it ended.
pub struct Run {
    /// Exit status was success.
    pub ok: bool,
    /// Exit code (`None` when a signal ended the process).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ok={} code={:?}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.ok, self.code, self.stdout, self.stderr
        )
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            ok: o.status.success(),
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// A `redis-di` command aimed at the server on `port`.
pub fn command(port: u16, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(["--rdi-port", &port.to_string()])
        .args(args)
        .env_remove("RDI_PASSWORD")
        .stdin(Stdio::null());
    cmd
}

/// Runs a prepared command on a thread; join it for what it printed.
pub trait SpawnWithOutput {
    /// Starts the command; its output is collected when it ends.
    fn spawn_with_output(self) -> std::thread::JoinHandle<Run>;
}

impl SpawnWithOutput for Command {
    fn spawn_with_output(mut self) -> std::thread::JoinHandle<Run> {
        std::thread::spawn(move || self.output().expect("run redis-di").into())
    }
}

/// Runs `redis-di --rdi-port <port> <args>` to completion.
pub fn redis_di(port: u16, args: &[&str]) -> Run {
    command(port, args).output().expect("run redis-di").into()
}

/// Runs and insists on success.
pub fn ok(port: u16, args: &[&str]) -> Run {
    let run = redis_di(port, args);
    assert!(run.ok, "redis-di {args:?} failed:\n{run:?}");
    run
}

/// Runs and parses stdout as JSON (`--json` is added).
pub fn json(port: u16, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let run = ok(port, &all);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{run:?}"))
}

/// Redis 7.4 with RedisJSON and the module (`target/release/librdi.so`, or `RDI_MODULE`).
pub fn server() -> RedisServer {
    RedisServer::start(RedisOpts::redis74()).expect("start redis with the module")
}

/// Scaffolds a SQLite pipeline into `dir` and creates its table `emp` in the server's directory.
pub fn sqlite_pipeline(redis: &RedisServer, dir: &Path) {
    let dir_text = dir.to_string_lossy().into_owned();
    ok(
        redis.port(),
        &["scaffold", "--db-type", "sqlite", "--dir", &dir_text],
    );
    sqlite_target::create(
        &redis.dir().join("rdi.db"),
        "CREATE TABLE emp (first_name TEXT, last_name TEXT, address TEXT, gender TEXT,
                           PRIMARY KEY (first_name, last_name))",
    );
}

/// Scaffolds, then edits the job to map an integer column `age`, and deploys.
pub fn deployed_with_age(redis: &RedisServer, dir: &std::path::Path) {
    let dir_text = dir.to_string_lossy().into_owned();
    ok(
        redis.port(),
        &["scaffold", "--db-type", "sqlite", "--dir", &dir_text],
    );
    sqlite_target::create(
        &redis.dir().join("rdi.db"),
        "CREATE TABLE emp (first_name TEXT, last_name TEXT, address TEXT, gender TEXT, age INTEGER,
                           PRIMARY KEY (first_name, last_name))",
    );
    let job = dir.join("jobs/emp.yaml");
    let text = std::fs::read_to_string(&job).unwrap();
    std::fs::write(
        &job,
        text.replace("        - gender\n", "        - gender\n        - age\n"),
    )
    .unwrap();
    ok(redis.port(), &["deploy", "--dir", &dir_text]);
}

/// The exporter process, killed by PID when dropped.
pub struct Exporter(pub Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}
