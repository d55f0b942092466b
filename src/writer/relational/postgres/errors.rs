//! Sorting PostgreSQL errors into the writer's kinds by SQLSTATE, with messages that never quote
//! values.

use crate::writer::WriteError;

/// Sorts a driver error into the writer's kinds. Errors without a SQLSTATE are I/O or a closed
/// connection: transient.
pub fn classify(err: &::tokio_postgres::Error) -> WriteError {
    match err.as_db_error() {
        Some(db) => classify_sqlstate(db.code().code(), db.message(), db.constraint()),
        // The driver's own text and its cause (connection refused, a name that does not resolve):
        // no server message, so no values.
        None => {
            // Only an I/O cause: a parameter's conversion error could quote the value.
            let cause = std::error::Error::source(err)
                .and_then(|c| c.downcast_ref::<std::io::Error>())
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            WriteError::Transient(format!("postgresql: {err}{cause}"))
        }
    }
}

/// Sorts a server error by SQLSTATE. The text keeps the first line of the server's message only where
/// that message names objects rather than values, and never the DETAIL (which holds key values).
pub fn classify_sqlstate(code: &str, message: &str, constraint: Option<&str>) -> WriteError {
    let class = code.get(..2).unwrap_or("");
    let first_line = message.lines().next().unwrap_or("");
    let text = match class {
        "23" => match constraint {
            Some(c) if !first_line.contains(c) => {
                format!("{first_line} (SQLSTATE {code}, constraint {c})")
            }
            _ => format!("{first_line} (SQLSTATE {code})"),
        },
        "08" | "25" | "28" | "3D" | "3F" | "40" | "42" | "53" | "55" | "57" | "0A" => {
            format!("{first_line} (SQLSTATE {code})")
        }
        // Data exceptions and raised errors quote the offending value: the code only.
        _ => format!(
            "SQLSTATE {code}{}",
            sqlstate_name(code)
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        ),
    };
    let text = format!("postgresql: {text}");
    match (class, code) {
        // Also what the target's own code raises about a row: cardinality (a trigger's subquery),
        // triggered actions and data changes, routines and external routines.
        ("23" | "22" | "44" | "54" | "P0" | "21" | "09" | "27" | "2F" | "38" | "39", _) => {
            WriteError::Batch(text)
        }
        // 55000: the target cannot take writes at all (a view that is not updatable).
        ("42" | "0A" | "3F" | "28" | "3D", _) | (_, "55000") => WriteError::Schema(text),
        // Connection, transaction state, serialization and deadlocks, resources, locks, operator
        // intervention (shutdown, cancel), system (I/O) errors, snapshot too old, a prepared
        // statement a pooler lost, transaction and savepoint state, and foreign data wrappers that
        // cannot reach their server pass.
        ("08" | "25" | "40" | "53" | "55" | "57" | "58" | "72" | "26" | "0B" | "2D" | "3B", _)
        | (_, "HV00N") => WriteError::Transient(text),
        _ => WriteError::Unknown(text),
    }
}

fn sqlstate_name(code: &str) -> Option<&'static str> {
    Some(match code {
        "22001" => "string data right truncation",
        "22003" => "numeric value out of range",
        "22007" => "invalid datetime format",
        "22008" => "datetime field overflow",
        "22012" => "division by zero",
        "22021" => "character not in repertoire",
        "22P02" => "invalid text representation",
        "22P05" => "untranslatable character",
        "P0001" => "raise exception",
        _ => return None,
    })
}
