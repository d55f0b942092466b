//! `relational.write`: SQL targets (PostgreSQL, MySQL/MariaDB, SQLite...), one dialect and one writer per
//! database.

pub mod checkpoint;
pub mod convert;
pub mod dialect;
pub mod dialect_merge;
mod lookup;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "oracle")]
pub mod oracle;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sqlite;
#[cfg(feature = "sqlserver")]
pub mod sqlserver;
pub mod table;
mod temporal;
#[cfg(all(
    test,
    any(feature = "postgres", feature = "mysql", feature = "redis-target")
))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub(crate) mod test_certs;

use crate::config::{Connection, SqlServerConnection};
use crate::writer::{WriteError, Writer};

/// Seconds a call may wait for the server's answers unless `read_timeout` says otherwise (as MySQL's
/// default): a server that stopped answering while the connection stays up (a stopped or hung
/// process, whose kernel still acknowledges TCP) is noticed then, and the write retried.
pub const READ_TIMEOUT_S_DEFAULT: u64 = 120;

/// How long each call may wait for the server: `connect_args.read_timeout` (whole seconds; 0 keeps
/// the default: waiting forever is not offered). `kind` names the connection type in errors.
#[cfg_attr(
    not(any(feature = "postgres", feature = "sqlserver", feature = "oracle")),
    allow(dead_code)
)]
pub(crate) fn read_timeout(
    kind: &str,
    settings: &SqlServerConnection,
) -> Result<std::time::Duration, WriteError> {
    let default = std::time::Duration::from_secs(READ_TIMEOUT_S_DEFAULT);
    match settings.connect_args.get("read_timeout") {
        None => Ok(default),
        Some(v) => match crate::writer::seconds_arg(kind, "read_timeout", v)? {
            d if d.is_zero() => Ok(default),
            d => Ok(d),
        },
    }
}

/// Forgets what an error made stale in a SQL writer: the session after a transient error (it may be
/// half dead, and a new one is cheap next to the back-off), the checked tables after a transient or a
/// schema error (an operator may have fixed the table).
pub(crate) fn forget_stale<C, K, V>(
    err: &WriteError,
    session: &mut Option<C>,
    tables: &mut std::collections::HashMap<K, V>,
) {
    match err {
        WriteError::Transient(_) | WriteError::Unknown(_) => {
            *session = None;
            tables.clear();
        }
        WriteError::Schema(_) => tables.clear(),
        WriteError::Batch(_) => {}
    }
}

/// Opens a writer for a SQL connection. Fails with [`WriteError::Transient`] when the target is
/// unreachable and with [`WriteError::Schema`] when the connection's settings cannot work.
pub fn connect(conn: &Connection) -> Result<Box<dyn Writer>, WriteError> {
    match conn {
        Connection::Postgresql(settings) => connect_postgres(settings),
        Connection::Mysql(settings) => connect_mysql(settings, "mysql"),
        Connection::Mariadb(settings) => connect_mysql(settings, "mariadb"),
        Connection::Sqlserver(settings) => connect_sqlserver(settings),
        Connection::Oracle(settings) => connect_oracle(settings),
        Connection::Sqlite { path } => Ok(Box::new(sqlite::SqliteWriter::open(path)?)),
        other => Err(WriteError::Schema(format!(
            "connection type `{}` is not a relational target here",
            other.type_name()
        ))),
    }
}

/// The error of a connection type whose driver this build leaves out.
pub fn not_built(kind: &str, feature: &str) -> WriteError {
    WriteError::Schema(format!(
        "this build has no {kind} support (cargo feature `{feature}`)"
    ))
}

#[cfg(feature = "mysql")]
fn connect_mysql(
    settings: &crate::config::SqlServerConnection,
    kind: &str,
) -> Result<Box<dyn Writer>, WriteError> {
    Ok(Box::new(mysql::MysqlWriter::connect(settings, kind)?))
}

#[cfg(not(feature = "mysql"))]
fn connect_mysql(
    _settings: &crate::config::SqlServerConnection,
    kind: &str,
) -> Result<Box<dyn Writer>, WriteError> {
    Err(not_built(kind, "mysql"))
}

#[cfg(feature = "postgres")]
fn connect_postgres(
    settings: &crate::config::SqlServerConnection,
) -> Result<Box<dyn Writer>, WriteError> {
    Ok(Box::new(postgres::PostgresWriter::connect(settings)?))
}

#[cfg(not(feature = "postgres"))]
fn connect_postgres(
    _settings: &crate::config::SqlServerConnection,
) -> Result<Box<dyn Writer>, WriteError> {
    Err(not_built("postgresql", "postgres"))
}

#[cfg(feature = "sqlserver")]
fn connect_sqlserver(
    settings: &crate::config::SqlServerConnection,
) -> Result<Box<dyn Writer>, WriteError> {
    Ok(Box::new(sqlserver::SqlServerWriter::connect(settings)?))
}

#[cfg(not(feature = "sqlserver"))]
fn connect_sqlserver(
    _settings: &crate::config::SqlServerConnection,
) -> Result<Box<dyn Writer>, WriteError> {
    Err(not_built("sqlserver", "sqlserver"))
}

#[cfg(feature = "oracle")]
fn connect_oracle(
    settings: &crate::config::SqlServerConnection,
) -> Result<Box<dyn Writer>, WriteError> {
    Ok(Box::new(oracle::OracleWriter::connect(settings)?))
}

#[cfg(not(feature = "oracle"))]
fn connect_oracle(
    _settings: &crate::config::SqlServerConnection,
) -> Result<Box<dyn Writer>, WriteError> {
    Err(not_built("oracle", "oracle"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::config::SqlServerConnection;

    fn settings() -> SqlServerConnection {
        SqlServerConnection {
            host: "127.0.0.1".into(),
            port: 1,
            database: "d".into(),
            user: "u".into(),
            password: None,
            connect_args: Default::default(),
            query_args: Default::default(),
        }
    }

    #[test]
    fn a_connection_type_left_out_of_the_build_says_which_feature_it_needs() {
        let cases = [
            (
                Connection::Mysql(settings()),
                cfg!(feature = "mysql"),
                "this build has no mysql support (cargo feature `mysql`)",
            ),
            (
                Connection::Oracle(settings()),
                cfg!(feature = "oracle"),
                "this build has no oracle support (cargo feature `oracle`)",
            ),
            (
                Connection::Sqlserver(settings()),
                cfg!(feature = "sqlserver"),
                "this build has no sqlserver support (cargo feature `sqlserver`)",
            ),
        ];
        for (conn, built, message) in cases {
            match connect(&conn) {
                Err(WriteError::Schema(m)) if !built => assert_eq!(m, message),
                // Built: nothing listens on port 1, so the writer cannot connect.
                Err(err) if built => assert!(!err.to_string().contains("this build"), "{err}"),
                other => panic!("{:?}", other.err()),
            }
        }
    }
}
