//! A real PostgreSQL for the tests: `RDI_TEST_PG` (a connection string such as
//! `host=127.0.0.1 port=5432 user=postgres dbname=postgres`), or else a private PostgreSQL 15 started
//! once per test process; one database per test, so that tests run in parallel.
//! Test-only: its `mod` line carries #[cfg(test)].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::OnceLock;

use super::client_config;
use crate::config::SqlServerConnection;

pub(super) const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A private PostgreSQL server: its own directory, port and socket; stopped and removed on drop.
pub(super) struct PgServer {
    root: PathBuf,
    port: u16,
}

impl PgServer {
    pub(super) fn start() -> PgServer {
        assert!(
            Path::new(PG_BIN).join("initdb").exists(),
            "no PostgreSQL 15 in {PG_BIN}; set RDI_TEST_PG"
        );
        let root = tempfile::Builder::new()
            .prefix("rdi-writer-pg-")
            .tempdir()
            .unwrap()
            .keep();
        if is_root() {
            // The server refuses to run as root.
            run(Command::new("chown").arg("postgres").arg(&root));
        }
        let server = PgServer {
            port: free_port(),
            root,
        };
        let data = server.data();
        server.run_pg(&["initdb", "-D", &data, "-A", "trust", "-U", "postgres", "-N"]);
        server.start_again();
        server
    }

    fn data(&self) -> String {
        self.root.join("data").to_string_lossy().into_owned()
    }

    pub(super) fn start_again(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off",
            self.port,
            self.root.display()
        );
        let log = self.root.join("log").to_string_lossy().into_owned();
        self.run_pg(&[
            "pg_ctl",
            "-D",
            &self.data(),
            "-l",
            &log,
            "-o",
            &options,
            "-w",
            "start",
        ]);
    }

    pub(super) fn stop(&self) {
        self.run_pg(&[
            "pg_ctl",
            "-D",
            &self.data(),
            "-m",
            "immediate",
            "-w",
            "stop",
        ]);
    }

    /// Runs a PostgreSQL program, as user postgres when we are root.
    fn run_pg(&self, args: &[&str]) {
        run(&mut pg_command(args));
    }

    /// Turns TLS on with the generated server certificate and restarts; plain connections still work.
    pub(super) fn enable_ssl(&self, certs: &crate::writer::relational::test_certs::Certs) {
        let data = PathBuf::from(self.data());
        for name in ["server.pem", "server.key", "ca.pem"] {
            std::fs::copy(certs.path(name), data.join(name)).unwrap();
        }
        // The server refuses a key that others can read; it runs as postgres when we are root.
        run(Command::new("chmod")
            .arg("600")
            .arg(data.join("server.key")));
        if is_root() {
            run(Command::new("chown")
                .arg("postgres")
                .args(["server.pem", "server.key", "ca.pem"].map(|n| data.join(n))));
        }
        let conf = "\nssl = on\nssl_cert_file = 'server.pem'\nssl_key_file = 'server.key'\n\
                    ssl_ca_file = 'ca.pem'\n";
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .unwrap();
        std::io::Write::write_all(&mut file, conf.as_bytes()).unwrap();
        self.stop();
        self.start_again();
    }

    pub(super) fn admin(&self) -> SqlServerConnection {
        settings("127.0.0.1", self.port, "postgres", "postgres", None)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = pg_command(&[
            "pg_ctl",
            "-D",
            &self.data(),
            "-m",
            "immediate",
            "-w",
            "stop",
        ])
        .status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn pg_command(args: &[&str]) -> Command {
    let program = format!("{PG_BIN}/{}", args[0]);
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", &program]);
        c
    } else {
        Command::new(program)
    };
    cmd.args(&args[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) {
    let out = cmd.stderr(Stdio::piped()).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
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

/// A test-side connection with the settings' TLS.
fn try_connect(s: &SqlServerConnection) -> Result<::postgres::Client, ::postgres::Error> {
    super::tls::tls(s)
        .unwrap()
        .connect_blocking(&client_config(s).unwrap())
}

/// Settings for the maintenance database of the server shared by this process's tests.
fn shared_admin() -> &'static SqlServerConnection {
    static SHARED: OnceLock<SqlServerConnection> = OnceLock::new();
    SHARED.get_or_init(|| {
        if let Ok(url) = std::env::var("RDI_TEST_PG") {
            let c = ::postgres::Config::from_str(&url).unwrap();
            let host = match c.get_hosts().first() {
                Some(::postgres::config::Host::Tcp(h)) => h.clone(),
                _ => "127.0.0.1".into(),
            };
            let password = c
                .get_password()
                .map(|p| String::from_utf8_lossy(p).into_owned());
            return settings(
                &host,
                c.get_ports().first().copied().unwrap_or(5432),
                c.get_user().unwrap_or("postgres"),
                c.get_dbname().unwrap_or("postgres"),
                password,
            );
        }
        let server = PgServer::start();
        let admin = server.admin();
        // A static is never dropped: a detached watchdog stops the server once this process is gone.
        let watchdog = format!(
            "(while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop}; rm -rf '{root}') \
             </dev/null >/dev/null 2>&1 &",
            pid = std::process::id(),
            stop = if is_root() {
                format!(
                    "runuser -u postgres -- {PG_BIN}/pg_ctl -D '{}' -m immediate stop",
                    server.data()
                )
            } else {
                format!("{PG_BIN}/pg_ctl -D '{}' -m immediate stop", server.data())
            },
            root = server.root.display(),
        );
        run(Command::new("sh").args(["-c", &watchdog]));
        std::mem::forget(server);
        admin
    })
}

/// A database of its own for one test, dropped at the end of the test (which matters on a shared
/// `RDI_TEST_PG` server).
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
        // The server may be gone already (a private one stopped by its test): nothing to clean then.
        if let Ok(mut client) = try_connect(&self.admin) {
            let _ = client.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.db.database
            ));
        }
    }
}

/// A fresh database for one test on `admin`'s server.
pub(super) fn database_on(admin: &SqlServerConnection, test: &str) -> TestDb {
    let name = format!("rdi_{test}_{}", std::process::id());
    let mut client = try_connect(admin).unwrap();
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .unwrap();
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let db = SqlServerConnection {
        database: name,
        ..admin.clone()
    };
    TestDb {
        admin: admin.clone(),
        db,
    }
}

/// A fresh database for one test on the shared server, holding `ddl`.
pub(super) fn database(test: &str, ddl: &str) -> TestDb {
    let db = database_on(shared_admin(), test);
    sql(&db, ddl);
    db
}

/// Runs statements and returns the rows of the last one as text (`None` for NULL), in UTC.
pub(super) fn sql(db: &SqlServerConnection, statements: &str) -> Vec<Vec<Option<String>>> {
    let mut client = try_connect(db).unwrap();
    let messages = client
        .simple_query(&format!("SET TimeZone = 'UTC'; {statements}"))
        .unwrap();
    messages
        .iter()
        .filter_map(|m| match m {
            ::postgres::SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect()
}
