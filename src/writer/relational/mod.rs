//! `relational.write`: SQL targets (PostgreSQL, SQLite), one dialect and one writer per database.

pub mod checkpoint;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod conformance;
pub mod convert;
pub mod dialect;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sqlite;
pub mod table;
mod temporal;

use crate::config::Connection;
use crate::writer::{WriteError, Writer};

/// Opens a writer for a SQL connection. Fails with [`WriteError::Transient`] when the target is
/// unreachable and with [`WriteError::Schema`] when the connection's settings cannot work.
pub fn connect(conn: &Connection) -> Result<Box<dyn Writer>, WriteError> {
    match conn {
        Connection::Postgresql(settings) => connect_postgres(settings),
        Connection::Sqlite { path } => Ok(Box::new(sqlite::SqliteWriter::open(path)?)),
    }
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
    Err(WriteError::Schema(
        "this build has no PostgreSQL support (cargo feature `postgres`)".into(),
    ))
}
