//! Which Cassandra errors are transient (retry the chunk), which mean the table does not fit the job
//! (schema) and which belong to what a statement holds (reject the row). Server messages may quote
//! values, so only the error's kind is kept, except for schema errors (they name tables and columns).

use scylla::errors::{DbError, ExecutionError, PrepareError, RequestAttemptError};

use crate::writer::WriteError;

/// A statement the server refuses to prepare does not fit the table: a schema error.
pub fn prepare_error(err: &PrepareError) -> WriteError {
    match err {
        PrepareError::AllAttemptsFailed {
            first_attempt: RequestAttemptError::DbError(db, message),
        } if !matches!(
            classify_db(db, message),
            WriteError::Transient(_) | WriteError::Unknown(_)
        ) =>
        {
            let first_line = message.lines().next().unwrap_or("");
            WriteError::Schema(format!("cassandra: {first_line}"))
        }
        PrepareError::AllAttemptsFailed { first_attempt } => attempt_error(first_attempt),
        other => WriteError::Transient(format!("cassandra: {other}")),
    }
}

/// Sorts a driver error. Server messages may quote values, so only the error's kind is kept, except
/// for schema errors (they name tables and columns).
pub fn classify(err: &ExecutionError) -> WriteError {
    match err {
        ExecutionError::LastAttemptError(attempt) => attempt_error(attempt),
        ExecutionError::PrepareError(e) => prepare_error(e),
        ExecutionError::BadQuery(_) => {
            WriteError::Batch("cassandra: a value could not be sent".into())
        }
        other => WriteError::Transient(format!("cassandra: {other}")),
    }
}

fn attempt_error(err: &RequestAttemptError) -> WriteError {
    match err {
        RequestAttemptError::DbError(db, message) => classify_db(db, message),
        RequestAttemptError::SerializationError(_) => {
            WriteError::Batch("cassandra: a value does not fit its column's type".into())
        }
        other => WriteError::Transient(format!("cassandra: {other}")),
    }
}

/// Sorts a server error by its kind.
pub fn classify_db(db: &DbError, message: &str) -> WriteError {
    match db {
        // A table or column dropped or altered since the statement was prepared: every row would
        // be refused, so it is the schema, not the row.
        DbError::Invalid if names_missing_schema(message) => {
            let first_line = message.lines().next().unwrap_or("");
            WriteError::Schema(format!("cassandra: {first_line}"))
        }
        DbError::Invalid | DbError::FunctionFailure { .. } => {
            WriteError::Batch("cassandra: the server refused a value (invalid request)".into())
        }
        DbError::SyntaxError
        | DbError::Unauthorized
        | DbError::AuthenticationError
        | DbError::ConfigError
        | DbError::AlreadyExists { .. } => {
            let first_line = message.lines().next().unwrap_or("");
            WriteError::Schema(format!("cassandra: {first_line}"))
        }
        // The server's own failure or a code the driver does not know: retried, and probed for
        // the row (applier/probe.rs).
        DbError::ServerError | DbError::Other(_) => {
            WriteError::Unknown(format!("cassandra: {}", kind_name(db)))
        }
        other => WriteError::Transient(format!("cassandra: {}", kind_name(other))),
    }
}

/// Whether an invalid-request message says a table, column or keyspace is not there (these messages
/// name objects, never values).
fn names_missing_schema(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "unconfigured table",
        "undefined column name",
        "keyspace",
        "does not exist",
    ]
    .iter()
    .any(|s| m.contains(s))
}

fn kind_name(db: &DbError) -> &'static str {
    match db {
        DbError::Unavailable { .. } => "not enough replicas available",
        DbError::Overloaded => "coordinator overloaded",
        DbError::IsBootstrapping => "coordinator bootstrapping",
        DbError::WriteTimeout { .. } => "write timeout",
        DbError::ReadTimeout { .. } => "read timeout",
        DbError::WriteFailure { .. } => "write failure",
        DbError::RateLimitReached { .. } => "rate limit reached",
        _ => "server error",
    }
}
