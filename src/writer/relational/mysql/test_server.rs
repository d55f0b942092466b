//! A real MariaDB for the tests: `RDI_TEST_MYSQL` (`host:port:user:password`), or else a private MariaDB
//! started once per test process and stopped by a watchdog when the process is gone; one database per
//! test, so that tests run in parallel.
//! Test-only: its `mod` line carries #[cfg(test)].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ::mysql::prelude::Queryable;
use ::mysql::{Conn, Opts, OptsBuilder};

use crate::config::SqlServerConnection;

/// A private MariaDB server: its own directory, port and socket; killed and removed on drop.
pub(super) struct MariaServer {
    pub(super) root: PathBuf,
    pub(super) port: u16,
    child: Option<Child>,
    /// Extra `mariadbd` options (TLS files).
    extra: Vec<String>,
}

impl MariaServer {
    /// Initializes a data directory and starts the server with `extra` options.
    pub(super) fn start(extra: &[String]) -> MariaServer {
        let root = tempfile::Builder::new()
            .prefix("rdi-writer-maria-")
            .tempdir()
            .unwrap()
            .keep();
        install(&root.join("data"));
        let mut server = MariaServer {
            root,
            port: free_port(),
            child: None,
            extra: extra.to_vec(),
        };
        server.start_again();
        server
    }

    /// Starts the server process on its data directory and waits until it accepts connections.
    pub(super) fn start_again(&mut self) {
        let log = std::fs::File::create(self.root.join("log")).unwrap();
        let child = Command::new("mariadbd")
            .args([
                "--no-defaults",
                "--user=root",
                &format!("--datadir={}", self.root.join("data").display()),
                "--bind-address=127.0.0.1",
                &format!("--port={}", self.port),
                &format!("--socket={}", self.root.join("sock").display()),
                &format!("--pid-file={}", self.root.join("pid").display()),
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=32M",
                // Committed rows survive a killed server (not an OS crash): enough for the tests, and fast.
                "--innodb-flush-log-at-trx-commit=2",
                "--skip-log-bin",
            ])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // A refusal from the server (TLS required) shows that it is up too.
            match Conn::new(admin_opts(&self.admin())) {
                Ok(_) | Err(::mysql::Error::MySqlError(_)) => return,
                Err(_) => {}
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let log = std::fs::read_to_string(self.root.join("log")).unwrap_or_default();
                panic!("mariadbd exited with {status}: {log}");
            }
            assert!(Instant::now() < deadline, "mariadbd did not start in 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the server at once (as a crash would) and waits for it to be gone.
    pub(super) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Settings for the server's `mysql` database as root.
    pub(super) fn admin(&self) -> SqlServerConnection {
        settings("127.0.0.1", self.port, "root", "mysql", None)
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }
}

impl Drop for MariaServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Initializes a data directory. Runs one at a time, and once more after a failure: concurrent
/// bootstraps of the tests' servers have been seen to fail now and then.
fn install(data: &std::path::Path) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
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

pub(super) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(super) fn settings(
    host: &str,
    port: u16,
    user: &str,
    database: &str,
    password: Option<String>,
) -> SqlServerConnection {
    SqlServerConnection {
        host: host.into(),
        port,
        database: database.into(),
        user: user.into(),
        password,
        connect_args: BTreeMap::new(),
        query_args: BTreeMap::new(),
    }
}

/// Plain driver options for test-side connections (no TLS, no session settings).
pub(super) fn admin_opts(s: &SqlServerConnection) -> Opts {
    OptsBuilder::new()
        .ip_or_hostname(Some(s.host.clone()))
        .tcp_port(s.port)
        .user(Some(s.user.clone()))
        .pass(s.password.clone())
        .db_name(Some(s.database.clone()))
        .prefer_socket(false)
        .tcp_connect_timeout(Some(Duration::from_secs(2)))
        .into()
}

/// Settings for the `mysql` database of the server shared by this process's tests.
fn shared_admin() -> &'static SqlServerConnection {
    static SHARED: OnceLock<SqlServerConnection> = OnceLock::new();
    SHARED.get_or_init(|| {
        if let Ok(spec) = std::env::var("RDI_TEST_MYSQL") {
            let parts: Vec<&str> = spec.splitn(4, ':').collect();
            let password = parts.get(3).map(|p| p.to_string());
            return settings(
                parts[0],
                parts.get(1).and_then(|p| p.parse().ok()).unwrap_or(3306),
                parts.get(2).copied().unwrap_or("root"),
                "mysql",
                password,
            );
        }
        let server = MariaServer::start(&[]);
        let admin = server.admin();
        // A static is never dropped: a detached watchdog kills the server once this process is gone.
        let watchdog = format!(
            "(while kill -0 {me} 2>/dev/null; do sleep 1; done; kill -9 {pid}; sleep 1; rm -rf '{root}') \
             </dev/null >/dev/null 2>&1 &",
            me = std::process::id(),
            pid = server.pid(),
            root = server.root.display(),
        );
        let status = Command::new("sh").args(["-c", &watchdog]).status().unwrap();
        assert!(status.success());
        std::mem::forget(server);
        admin
    })
}

/// A database of its own for one test, dropped at the end of the test.
pub(super) struct TestDb {
    admin: SqlServerConnection,
    db: SqlServerConnection,
}

impl std::ops::Deref for TestDb {
    type Target = SqlServerConnection;

    fn deref(&self) -> &SqlServerConnection {
        &self.db
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut conn) = Conn::new(admin_opts(&self.admin)) {
            let _ = conn.query_drop(format!("DROP DATABASE IF EXISTS {}", self.db.database));
        }
    }
}

/// A fresh database for one test on `admin`'s server.
pub(super) fn database_on(admin: &SqlServerConnection, test: &str) -> TestDb {
    let name = format!("rdi_{test}_{}", std::process::id());
    let mut conn = Conn::new(admin_opts(admin)).unwrap();
    conn.query_drop(format!("DROP DATABASE IF EXISTS {name}"))
        .unwrap();
    conn.query_drop(format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"))
        .unwrap();
    TestDb {
        admin: admin.clone(),
        db: SqlServerConnection {
            database: name,
            ..admin.clone()
        },
    }
}

/// A fresh database for one test on the shared server, holding `ddl` (statements separated by `;`).
pub(super) fn database(test: &str, ddl: &str) -> TestDb {
    let db = database_on(shared_admin(), test);
    let mut conn = Conn::new(admin_opts(&db)).unwrap();
    for statement in ddl.split(';').filter(|s| !s.trim().is_empty()) {
        conn.query_drop(statement).unwrap();
    }
    db
}

/// Runs a query and returns its rows as text (`None` for NULL), with instants in UTC.
pub(super) fn sql(db: &SqlServerConnection, query: &str) -> Vec<Vec<Option<String>>> {
    let mut conn = Conn::new(admin_opts(db)).unwrap();
    conn.query_drop("SET time_zone = '+00:00'").unwrap();
    let rows: Vec<::mysql::Row> = conn.query(query).unwrap();
    rows.into_iter()
        .map(|row| {
            row.unwrap()
                .into_iter()
                .map(|v| match v {
                    ::mysql::Value::NULL => None,
                    ::mysql::Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                    other => Some(other.as_sql(true)),
                })
                .collect()
        })
        .collect()
}
