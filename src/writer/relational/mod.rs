//! `relational.write`: SQL targets (PostgreSQL, SQLite).

use crate::config::Connection;
use crate::writer::{WriteError, Writer};

/// Opens a writer for a SQL connection.
pub fn connect(_conn: &Connection) -> Result<Box<dyn Writer>, WriteError> {
    Err(WriteError::Transient("not built yet".into()))
}
