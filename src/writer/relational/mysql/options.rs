//! The driver options of a `mysql`/`mariadb` connection: address, credentials, timeouts, TLS files,
//! and the session settings every writer connection runs with.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ::mysql::{ClientIdentity, OptsBuilder, SslOpts};

use crate::config::SqlServerConnection;
use crate::writer::WriteError;

/// Seconds to wait for a connection unless `connect_timeout` says otherwise.
pub const CONNECT_TIMEOUT_S_DEFAULT: u64 = 10;
/// Seconds a statement's answer may take unless `read_timeout` says otherwise: above the server's
/// default lock wait (50 s), so that a lock wait ends with the server's own error.
pub const READ_TIMEOUT_S_DEFAULT: u64 = super::super::READ_TIMEOUT_S_DEFAULT;
/// Seconds a write to the socket may take unless `write_timeout` says otherwise.
pub const WRITE_TIMEOUT_S_DEFAULT: u64 = 60;
/// Idle milliseconds before TCP keepalives probe the server, so that a vanished server is noticed.
pub const KEEPALIVE_MS_DEFAULT: u32 = 30_000;

/// Session settings: instants in UTC (TIMESTAMP columns convert through the session time zone), and
/// strict mode for every table, so that a value the column cannot hold is an error rather than a
/// silently truncated or zeroed value.
const SESSION_INIT: &[&str] = &[
    "SET time_zone = '+00:00'",
    "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'STRICT_ALL_TABLES')",
];

/// Builds the driver options; fails with [`WriteError::Schema`] on settings that cannot work. `kind`
/// (`mysql` or `mariadb`) names the connection type in messages.
pub fn options(settings: &SqlServerConnection, kind: &str) -> Result<OptsBuilder, WriteError> {
    let mut connect = Duration::from_secs(CONNECT_TIMEOUT_S_DEFAULT);
    let mut read = Duration::from_secs(READ_TIMEOUT_S_DEFAULT);
    let mut write = Duration::from_secs(WRITE_TIMEOUT_S_DEFAULT);
    let mut init: Vec<String> = SESSION_INIT.iter().map(|s| s.to_string()).collect();
    let mut tls = Tls::default();
    let seconds = |key: &str, value: &str| crate::writer::seconds_arg(kind, key, value);
    for (key, value) in settings.connect_args.iter().chain(&settings.query_args) {
        match key.as_str() {
            "connect_timeout" => connect = seconds(key, value)?,
            "read_timeout" => read = seconds(key, value)?,
            "write_timeout" => write = seconds(key, value)?,
            "charset" if value == "utf8" => init.push("SET NAMES utf8".into()),
            // The driver speaks utf8mb4 already.
            "charset" => {}
            "ssl_ca" => tls.ca = Some(readable(kind, key, value)?),
            "ssl_cert" => tls.cert = Some(readable(kind, key, value)?),
            "ssl_key" => tls.key = Some(readable(kind, key, value)?),
            "ssl_verify_identity" => tls.verify_identity = value != "false",
            _ => {
                return Err(WriteError::Schema(format!(
                    "unknown {kind} connection argument `{key}`"
                )))
            }
        }
    }
    // Zero means "no limit" to the drivers' users; keep a bound on the connect instead.
    let positive = |d: Duration| (!d.is_zero()).then_some(d);
    Ok(OptsBuilder::new()
        .ip_or_hostname(Some(settings.host.clone()))
        .tcp_port(settings.port)
        .db_name(Some(settings.database.clone()))
        .user(Some(settings.user.clone()))
        .pass(settings.password.clone())
        .tcp_connect_timeout(Some(
            positive(connect).unwrap_or(Duration::from_secs(CONNECT_TIMEOUT_S_DEFAULT)),
        ))
        .read_timeout(positive(read))
        .write_timeout(positive(write))
        .tcp_keepalive_time_ms(Some(KEEPALIVE_MS_DEFAULT))
        .prefer_socket(false)
        .init(init)
        .ssl_opts(tls.ssl_opts(kind)?))
}

/// The TLS files of `connect_args`.
#[derive(Debug)]
struct Tls {
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    verify_identity: bool,
}

impl Tls {
    /// TLS is on when any file is given; the server is then verified against `ssl_ca` (or the
    /// system's roots) and, unless `ssl_verify_identity` is false, its name against the host.
    fn ssl_opts(self, kind: &str) -> Result<Option<SslOpts>, WriteError> {
        if self.ca.is_none() && self.cert.is_none() && self.key.is_none() {
            return Ok(None);
        }
        let identity = match (self.cert, self.key) {
            (Some(cert), Some(key)) => Some(ClientIdentity::new(cert, key)),
            (None, None) => None,
            _ => {
                return Err(WriteError::Schema(format!(
                    "{kind} `ssl_cert` and `ssl_key` go together: give both or neither"
                )))
            }
        };
        Ok(Some(
            SslOpts::default()
                .with_root_cert_path(self.ca)
                .with_client_identity(identity)
                .with_danger_skip_domain_validation(!self.verify_identity),
        ))
    }
}

impl Default for Tls {
    fn default() -> Self {
        Tls {
            ca: None,
            cert: None,
            key: None,
            verify_identity: true,
        }
    }
}

/// A TLS file path that exists and can be read, named by its key in errors (never its content).
fn readable(kind: &str, key: &str, path: &str) -> Result<PathBuf, WriteError> {
    match std::fs::File::open(Path::new(path)) {
        Ok(_) => Ok(PathBuf::from(path)),
        Err(e) => Err(WriteError::Schema(format!(
            "{kind} `{key}`: cannot read {path}: {e}"
        ))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn settings(args: &[(&str, &str)]) -> SqlServerConnection {
        SqlServerConnection {
            host: "db".into(),
            port: 3307,
            database: "app".into(),
            user: "u".into(),
            password: Some("pw".into()),
            connect_args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            query_args: BTreeMap::new(),
        }
    }

    #[test]
    fn options_carry_address_timeouts_and_session_settings() {
        let opts: ::mysql::Opts = options(&settings(&[("read_timeout", "7")]), "mysql")
            .unwrap()
            .into();
        assert_eq!(opts.get_ip_or_hostname(), "db");
        assert_eq!(opts.get_tcp_port(), 3307);
        assert_eq!(opts.get_db_name(), Some("app"));
        assert_eq!(opts.get_read_timeout(), Some(&Duration::from_secs(7)));
        assert!(opts.get_init()[0].contains("time_zone"));
        assert!(opts.get_ssl_opts().is_none());
    }

    #[test]
    fn every_argument_the_config_accepts_is_understood() {
        for kind in ["mysql", "mariadb"] {
            for (key, value) in crate::config::accepted_args(kind) {
                // TLS files must exist: that error is about the value, not an unknown key.
                if let Err(e) = options(&settings(&[(key, value)]), kind) {
                    let e = format!("{e:?}");
                    assert!(!e.contains("unknown"), "{kind} `{key}: {value}`: {e}");
                }
            }
        }
    }

    #[test]
    fn tls_files_must_exist_and_cert_needs_key() {
        let err = options(&settings(&[("ssl_ca", "/nonexistent/ca.pem")]), "mariadb").unwrap_err();
        assert!(
            matches!(&err, WriteError::Schema(m) if m.starts_with("mariadb `ssl_ca`: cannot read /nonexistent/ca.pem")),
            "{err:?}"
        );
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("c.pem");
        std::fs::write(&cert, "x").unwrap();
        let cert = cert.to_str().unwrap();
        let err = options(&settings(&[("ssl_cert", cert)]), "mysql").unwrap_err();
        assert!(
            matches!(&err, WriteError::Schema(m) if m.contains("go together")),
            "{err:?}"
        );
        let opts: ::mysql::Opts = options(&settings(&[("ssl_ca", cert)]), "mysql")
            .unwrap()
            .into();
        let ssl = opts.get_ssl_opts().unwrap();
        assert_eq!(ssl.root_cert_path(), Some(Path::new(cert)));
        assert!(!ssl.skip_domain_validation());
    }
}
