//! A private PostgreSQL server: one shared per test process, or one of its own for outage tests.
//!
//! Cleanup: each server has a [`Watchdog`] that stops it when the test process ends, however it ends
//! (the shared server is a `static`, never dropped); a server owned by a test is also stopped by `Drop`.

use crate::env;
use crate::ports::free_port;
use crate::watchdog::Watchdog;
use postgres::{Client, NoTls};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// How many ports a start tries when the chosen one was taken meanwhile.
const PORT_ATTEMPTS: usize = 5;
/// Seconds `pg_ctl` waits for a start or stop.
const PG_CTL_TIMEOUT_S: &str = "60";

/// A PostgreSQL 15 server on 127.0.0.1 with trust authentication for user `postgres`.
pub struct PgServer {
    dir: tempfile::TempDir,
    port: u16,
    watchdog: Option<Watchdog>,
}

impl PgServer {
    /// The server shared by every test of this process (started on first use).
    pub fn shared() -> &'static PgServer {
        static SHARED: OnceLock<PgServer> = OnceLock::new();
        SHARED.get_or_init(PgServer::new)
    }

    /// A server of its own (initdb + start: a few seconds); stopped when dropped.
    pub fn new() -> PgServer {
        let dir = tempfile::Builder::new()
            .prefix("rdi-pg-")
            .tempdir()
            .expect("temp dir");
        run_checked(
            Command::new("chown").args(["postgres:postgres", &dir.path().display().to_string()]),
        );
        let mut server = PgServer {
            dir,
            port: 0,
            watchdog: None,
        };
        let data = server.data_dir();
        run_checked(as_postgres(&bin("initdb")).args([
            "-D",
            &data.display().to_string(),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]));
        server.start_watchdog();
        for attempt in 1..=PORT_ATTEMPTS {
            server.port = free_port();
            if server.try_start() {
                return server;
            }
            if attempt == PORT_ATTEMPTS || !server.log().contains("could not bind") {
                panic!("PostgreSQL did not start; log:\n{}", server.log());
            }
        }
        unreachable!("the loop returns or panics")
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates the database `name` (letters, digits and `_`) and returns its name.
    pub fn create_database(&self, name: &str) -> String {
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "database name {name:?}"
        );
        let name = name.to_ascii_lowercase();
        self.client("postgres")
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        name
    }

    /// A new client of database `db`.
    pub fn client(&self, db: &str) -> Client {
        Client::connect(&self.connection_string(db), NoTls).unwrap_or_else(|e| {
            panic!(
                "connect to PostgreSQL on port {} database {db}: {e}",
                self.port
            )
        })
    }

    /// The libpq connection string of database `db`.
    pub fn connection_string(&self, db: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname={db} connect_timeout=5",
            self.port
        )
    }

    /// Stops the server at once (`-m immediate`): clients see their connections drop and new ones refused.
    pub fn stop(&self) {
        run_checked(self.pg_ctl().args(["stop", "-m", "immediate"]));
    }

    /// Starts the server again on the same port and data.
    pub fn start(&self) {
        assert!(
            self.try_start(),
            "PostgreSQL did not start again; log:\n{}",
            self.log()
        );
    }

    /// The server log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pg.log")).unwrap_or_default()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg_ctl(&self) -> Command {
        let mut command = as_postgres(&bin("pg_ctl"));
        command.args([
            "-D",
            &self.data_dir().display().to_string(),
            "-t",
            PG_CTL_TIMEOUT_S,
        ]);
        command
    }

    fn try_start(&self) -> bool {
        let dir = self.dir.path().display().to_string();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {dir} -c fsync=off \
             -c full_page_writes=off -c max_connections=300 -c timezone=UTC",
            self.port
        );
        let status = self
            .pg_ctl()
            .args([
                "-l",
                &format!("{dir}/pg.log"),
                "-o",
                &options,
                "-w",
                "start",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run pg_ctl");
        status.success()
    }

    /// Stops the server and removes its directory when this process ends (the shared server's
    /// `TempDir` is in a `static` and never dropped).
    fn start_watchdog(&mut self) {
        let stop = format!(
            "runuser -u postgres -- {} -D {} stop -m immediate >/dev/null 2>&1; rm -rf {}",
            bin("pg_ctl"),
            self.data_dir().display(),
            self.dir.path().display()
        );
        self.watchdog = Some(Watchdog::arm(&stop));
    }
}

impl Default for PgServer {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.fire();
        }
    }
}

/// A PostgreSQL binary by name.
fn bin(name: &str) -> String {
    Path::new(&env::var("RDI_PG_BIN"))
        .join(name)
        .display()
        .to_string()
}

/// A command run as user `postgres` (PostgreSQL refuses to run as root).
fn as_postgres(program: &str) -> Command {
    let mut command = Command::new("runuser");
    command.args(["-u", "postgres", "--", program]);
    command
}

/// Runs `command`; panics with its output when it fails.
fn run_checked(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
