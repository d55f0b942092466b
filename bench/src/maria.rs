//! A private MariaDB for the bench, started the way the writer tests start theirs
//! (`src/writer/relational/mysql/test_server.rs`): `mariadb-install-db` into a private directory, then
//! `mariadbd --no-defaults` on 127.0.0.1 and a free port, InnoDB flushing its log once a second
//! (`innodb_flush_log_at_trx_commit=2`, as the tests: the counterpart of PostgreSQL's `fsync=off`), no
//! binary log. Stopped on drop; a [`Watchdog`] kills it if the bench process ends before that.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use module_tests::ports::free_port;
use module_tests::watchdog::Watchdog;
use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder};

/// InnoDB buffer pool of the bench server: large enough to hold the 1,000,000-row tables.
pub const BUFFER_POOL: &str = "256M";

pub struct MariaServer {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
    watchdog: Option<Watchdog>,
}

impl MariaServer {
    /// Initializes a data directory and starts the server; panics with its log if it does not start.
    pub fn start() -> MariaServer {
        let dir = tempfile::Builder::new()
            .prefix("rdi-bench-maria-")
            .tempdir()
            .expect("temp dir");
        let data = dir.path().join("data");
        let out = Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                "--user=root",
                &format!("--datadir={}", data.display()),
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .stdin(Stdio::null())
            .output()
            .expect("mariadb-install-db (apt-get install mariadb-server, see scripts/deps.sh)");
        assert!(
            out.status.success(),
            "mariadb-install-db failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("log")).expect("log file");
        let child = Command::new("mariadbd")
            .args([
                "--no-defaults",
                "--user=root",
                &format!("--datadir={}", data.display()),
                "--bind-address=127.0.0.1",
                &format!("--port={port}"),
                &format!("--socket={}", dir.path().join("sock").display()),
                &format!("--pid-file={}", dir.path().join("pid").display()),
                "--skip-name-resolve",
                &format!("--innodb-buffer-pool-size={BUFFER_POOL}"),
                "--innodb-flush-log-at-trx-commit=2",
                "--skip-log-bin",
                "--max-connections=300",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start mariadbd");
        let watchdog = Watchdog::arm(&format!(
            "kill -9 {} 2>/dev/null; sleep 1; rm -rf '{}'",
            child.id(),
            dir.path().display()
        ));
        let server = MariaServer {
            dir,
            port,
            child,
            watchdog: Some(watchdog),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Conn::new(server.opts("mysql")).is_err() {
            assert!(
                Instant::now() < deadline,
                "mariadbd did not start in 60 s: {}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// Driver options for database `db` as root (no password, no TLS).
    pub fn opts(&self, db: &str) -> Opts {
        OptsBuilder::new()
            .ip_or_hostname(Some("127.0.0.1"))
            .tcp_port(self.port)
            .user(Some("root"))
            .db_name(Some(db))
            .prefer_socket(false)
            .into()
    }

    /// Creates database `name` and returns a connection to it.
    pub fn database(&self, name: &str) -> Conn {
        let mut admin = Conn::new(self.opts("mysql")).expect("connect to MariaDB");
        admin
            .query_drop(format!(
                "DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name} CHARACTER SET utf8mb4"
            ))
            .expect("create database");
        Conn::new(self.opts(name)).expect("connect to the database")
    }

    /// `mariadbd --version`.
    pub fn version() -> String {
        Command::new("mariadbd")
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|e| format!("(mariadbd: {e})"))
    }

    /// config.yaml with one MariaDB connection named `maria` to database `db`.
    pub fn config(&self, db: &str, applier: &[&str]) -> String {
        let mut yaml = format!(
            "connections:\n  maria:\n    type: mariadb\n    host: 127.0.0.1\n    port: {}\n    \
             database: {db}\n    user: root\n",
            self.port
        );
        if !applier.is_empty() {
            yaml.push_str("applier:\n");
            for line in applier {
                yaml.push_str(&format!("  {line}\n"));
            }
        }
        yaml
    }
}

impl Drop for MariaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(w) = self.watchdog.take() {
            w.disarm();
        }
    }
}

/// The number of rows of `table`, or -1.
pub fn count(conn: &mut Conn, table: &str) -> i64 {
    conn.query_first::<i64, _>(format!("SELECT count(*) FROM {table}"))
        .ok()
        .flatten()
        .unwrap_or(-1)
}
