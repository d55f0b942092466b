//! A private MariaDB server, one shared per test process, queried through the `mariadb` client.
//!
//! Cleanup: a [`Watchdog`] kills the server and removes its directory when the test process ends,
//! however it ends (the shared server is a `static`, never dropped).

use crate::ports::free_port;
use crate::watchdog::Watchdog;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a start may take before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Ports tried before giving up.
const PORT_ATTEMPTS: usize = 5;

/// A MariaDB server on 127.0.0.1 whose `root` user has no password.
pub struct MariaServer {
    root: PathBuf,
    port: u16,
    /// Never waited for: the server runs until the watchdog kills it.
    child: Child,
    _watchdog: Watchdog,
}

impl MariaServer {
    /// The server shared by every test of this process (started on first use: a few seconds).
    pub fn shared() -> &'static MariaServer {
        static SHARED: OnceLock<MariaServer> = OnceLock::new();
        SHARED.get_or_init(MariaServer::start)
    }

    fn start() -> MariaServer {
        let root = tempfile::Builder::new()
            .prefix("rdi-maria-")
            .tempdir()
            .expect("temp dir")
            .keep();
        install(&root.join("data"));
        for attempt in 1..=PORT_ATTEMPTS {
            match MariaServer::launch(&root) {
                Ok(server) => return server,
                // Another process took the port after `free_port` found it free: another one.
                Err(log) if attempt < PORT_ATTEMPTS && log.contains("Address already in use") => {}
                Err(log) => panic!("mariadbd did not start; log:\n{log}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Starts the server on a free port and waits until it answers; the log if it exited first.
    /// Only this server counts as answering: another one that took the port would have another
    /// data directory.
    fn launch(root: &Path) -> Result<MariaServer, String> {
        let port = free_port();
        let log = std::fs::File::create(root.join("log")).expect("MariaDB log file");
        let data = root.join("data");
        let child = Command::new("mariadbd")
            .args([
                "--no-defaults",
                "--user=root",
                &format!("--datadir={}", data.display()),
                "--bind-address=127.0.0.1",
                &format!("--port={port}"),
                &format!("--socket={}", root.join("sock").display()),
                &format!("--pid-file={}", root.join("pid").display()),
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=32M",
                // Committed rows survive a killed server (not an OS crash): enough for the tests.
                "--innodb-flush-log-at-trx-commit=2",
                "--skip-log-bin",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("mariadbd (apt-get install mariadb-server, see scripts/deps.sh)");
        let watchdog = Watchdog::arm(&format!(
            "kill -9 {}; sleep 1; rm -rf '{}'",
            child.id(),
            root.display()
        ));
        let mut server = MariaServer {
            root: root.to_path_buf(),
            port,
            child,
            _watchdog: watchdog,
        };
        let ours = format!("{}/", data.display());
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            // Another server's answer counts as none: this one then exits, unable to bind.
            if let Ok(rows) = server.try_query("mysql", "SELECT @@datadir") {
                if rows.first().and_then(|r| r.first()) == Some(&ours) {
                    return Ok(server);
                }
            }
            if let Ok(Some(_)) = server.child.try_wait() {
                let log = server.log();
                let MariaServer { _watchdog, .. } = server;
                _watchdog.disarm();
                return Err(log);
            }
            assert!(
                Instant::now() < deadline,
                "MariaDB did not accept connections within {START_TIMEOUT:?}; log:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates the database `name` (letters, digits and `_`), dropping an earlier one, and returns it.
    pub fn create_database(&self, name: &str) -> String {
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "database name {name:?}"
        );
        self.query(
            "mysql",
            &format!(
                "DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name} CHARACTER SET utf8mb4"
            ),
        );
        name.to_string()
    }

    /// Runs `sql` (statements separated by `;`) in database `db`; the rows of its last result, as text.
    pub fn query(&self, db: &str, sql: &str) -> Vec<Vec<String>> {
        self.try_query(db, sql)
            .unwrap_or_else(|e| panic!("MariaDB on port {} ({db}): {sql}: {e}", self.port))
    }

    /// One integer from `sql` (`SELECT count(*) ...`).
    pub fn count(&self, db: &str, sql: &str) -> i64 {
        let rows = self.query(db, sql);
        rows.first()
            .and_then(|row| row.first())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{sql}: not one integer: {rows:?}"))
    }

    /// [`MariaServer::query`] that returns the error text instead of panicking.
    pub fn try_query(&self, db: &str, sql: &str) -> Result<Vec<Vec<String>>, String> {
        let out = Command::new("mariadb")
            .args([
                "--no-defaults",
                "--protocol=tcp",
                "-h127.0.0.1",
                &format!("-P{}", self.port),
                "-uroot",
                "--batch",
                "--skip-column-names",
                "--connect-timeout=2",
                "-e",
                sql,
                db,
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("run mariadb: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|line| line.split('\t').map(str::to_string).collect())
            .collect())
    }

    /// The server log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("log")).unwrap_or_default()
    }
}

/// Initializes a data directory (once more after a failure: concurrent bootstraps have been seen to
/// fail now and then).
fn install(data: &Path) {
    let mut failure = String::new();
    for _ in 0..2 {
        let _ = std::fs::remove_dir_all(data);
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
        if out.status.success() {
            return;
        }
        failure = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    panic!("mariadb-install-db failed twice: {failure}");
}
