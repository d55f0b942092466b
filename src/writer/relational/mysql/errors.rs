//! Sorting MySQL/MariaDB errors into the writer's kinds by server error number.
//!
//! Server messages quote values (`Duplicate entry 'a@x' for key 'email'`), so a message is kept only for
//! the classes whose messages name objects (schema errors); the others are reported by number and name.

use crate::writer::WriteError;

/// Server errors that pass: retry the batch (locks, lost or refused connections, read-only servers).
const TRANSIENT: &[(u16, &str)] = &[
    (1040, "too many connections"),
    (1053, "server shutdown in progress"),
    (1203, "user has too many connections"),
    (1205, "lock wait timeout exceeded"),
    (1213, "deadlock found"),
    (1226, "user resource limit exceeded"),
    (1290, "server is running with --read-only"),
    (1317, "query execution was interrupted"),
    (1792, "cannot execute statement in a read-only transaction"),
    (1836, "server is in read-only mode"),
    (1927, "connection was killed"),
    (2002, "cannot connect through the socket"),
    (2003, "cannot connect to the server"),
    (2006, "server has gone away"),
    (2013, "lost connection to the server during query"),
    (3024, "query execution time exceeded"),
    // Space, memory and threads; commits and locks; network; clusters (Galera, Group Replication,
    // NDB, Vitess, TiDB) that fail some statements while a node recovers or a leader moves.
    (1020, "record changed since it was read"),
    (1021, "disk full"),
    (1030, "error from the storage engine"),
    (1037, "out of memory"),
    (1038, "out of sort memory"),
    (1041, "out of memory"),
    (1047, "node not ready (WSREP)"),
    (1105, "unknown error (a cluster proxy during a failover)"),
    (1114, "table is full"),
    (1135, "cannot create a thread"),
    (1152, "connection aborted"),
    (1154, "read error on the connection"),
    (1155, "error from fcntl"),
    (1156, "packets out of order"),
    (1157, "could not uncompress a packet"),
    (1158, "read error on the connection"),
    (1159, "read timeout"),
    (1160, "write error on the connection"),
    (1161, "write timeout"),
    (1180, "error during commit"),
    (1181, "error during rollback"),
    (1184, "connection aborted"),
    (1206, "lock table full"),
    (1223, "a global read lock is held"),
    (1296, "error from NDB"),
    (1297, "temporary error from NDB"),
    (1412, "table definition changed"),
    (1613, "XA transaction rolled back (timeout)"),
    (1614, "XA transaction rolled back (deadlock)"),
    (1637, "too many active concurrent transactions"),
    (1689, "wait on a lock was aborted"),
    (1878, "temporary file write failure"),
    (1969, "query execution was interrupted (max_statement_time)"),
    (3100, "error on a Group Replication hook"),
    (3101, "transaction rolled back by Group Replication"),
    (3572, "lock not acquired (NOWAIT)"),
    (4031, "disconnected for inactivity"),
    (8022, "transaction commit failed, retry (TiDB)"),
    (8027, "table schema changed, retry (TiDB)"),
    (8028, "table schema changed, retry (TiDB)"),
    (9001, "storage unavailable (TiDB)"),
    (9002, "storage timeout (TiDB)"),
    (9003, "storage busy (TiDB)"),
    (9004, "resolve lock timeout (TiDB)"),
    (9005, "region unavailable (TiDB)"),
    (9006, "GC life time too short (TiDB)"),
    (9007, "write conflict (TiDB)"),
    (9008, "too many requests to storage (TiDB)"),
];

/// Errors caused by what a row holds: the batch is split to find the row.
const PER_RECORD: &[(u16, &str)] = &[
    (1048, "a NOT NULL column got a null"),
    (1062, "duplicate entry for a unique key"),
    (1169, "duplicate entry for a unique constraint"),
    (1216, "foreign key: no parent row"),
    (1217, "foreign key: a child row exists"),
    (
        1242,
        "the row clashes with another row on a unique index other than the keys",
    ),
    (1264, "value out of range for the column"),
    (1265, "data truncated for the column"),
    (1292, "incorrect date, time or number value"),
    (1366, "incorrect value for the column"),
    (1406, "data too long for the column"),
    (1451, "foreign key: a child row exists"),
    (1452, "foreign key: no parent row"),
    (1690, "value out of range"),
    (3140, "invalid JSON text"),
    (3819, "check constraint violated"),
    (4025, "check constraint violated"),
    (1644, "a trigger or procedure raised an error (SIGNAL)"),
    (1526, "no partition for the value"),
    (1365, "division by zero"),
    (1118, "row size too large"),
    (3157, "JSON document nested too deep"),
    (1416, "cannot make a geometry from the value"),
    (1411, "incorrect value for a function"),
    (1525, "incorrect value"),
    (1300, "invalid character string"),
];

/// Errors saying the target does not fit the job (missing objects, rights, syntax).
const SCHEMA: &[u16] = &[
    1044, 1045, 1049, 1051, 1054, 1064, 1109, 1142, 1143, 1146, 1288, 1356, 1471,
];

/// Sorts a driver error. Errors that are not server errors are I/O, TLS or a closed connection:
/// transient. The text never holds a value.
pub fn classify(err: &::mysql::Error) -> WriteError {
    match err {
        ::mysql::Error::MySqlError(e) => classify_code(e.code, &e.message),
        // These two carry a value or a row.
        ::mysql::Error::FromValueError(_) | ::mysql::Error::FromRowError(_) => {
            WriteError::Schema("mysql: the catalog answered with an unexpected type".into())
        }
        // A statement over `max_allowed_packet` is refused before it is sent: the connection is
        // fine and smaller statements pass, so the batch is split (down to the one row if it is
        // that row's value that is too large).
        // (The codec's error type is not exported without a feature: known by its text.)
        ::mysql::Error::CodecError(e) if e.to_string().contains("max_allowed_packet") => {
            WriteError::Batch("mysql: the statement is larger than max_allowed_packet".into())
        }
        ::mysql::Error::DriverError(::mysql::DriverError::PacketTooLarge) => {
            WriteError::Batch("mysql: the statement is larger than max_allowed_packet".into())
        }
        // A socket timeout shows as the OS's "would block" (EAGAIN) or "timed out".
        other if is_timeout(other) => WriteError::Transient(
            "mysql: no answer within the connection's read_timeout or write_timeout".into(),
        ),
        other => WriteError::Transient(format!("mysql: {other}")),
    }
}

/// Whether a socket read or write outlasted its timeout.
pub(super) fn is_timeout(err: &::mysql::Error) -> bool {
    use std::io::ErrorKind::{TimedOut, WouldBlock};
    match err {
        ::mysql::Error::IoError(e) => matches!(e.kind(), WouldBlock | TimedOut),
        // The codec's error type is not exported: known by its text.
        ::mysql::Error::CodecError(e) => {
            let text = e.to_string();
            text.contains("os error 11") || text.contains("timed out")
        }
        _ => false,
    }
}

/// Sorts a server error by number; unknown numbers are retried (and probed: `applier/probe.rs`).
pub fn classify_code(code: u16, message: &str) -> WriteError {
    if let Some((_, name)) = PER_RECORD.iter().find(|(c, _)| *c == code) {
        return WriteError::Batch(format!("mysql: error {code} ({name})"));
    }
    if let Some((_, name)) = TRANSIENT.iter().find(|(c, _)| *c == code) {
        return WriteError::Transient(format!("mysql: error {code} ({name})"));
    }
    if SCHEMA.contains(&code) {
        let first_line = message.lines().next().unwrap_or("");
        return WriteError::Schema(format!("mysql: {first_line} (error {code})"));
    }
    WriteError::Unknown(format!("mysql: error {code}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn each_class_of_server_error_is_sorted_and_values_are_dropped() {
        let dup = classify_code(1062, "Duplicate entry 'secret@x' for key 'email'");
        assert_eq!(
            dup,
            WriteError::Batch("mysql: error 1062 (duplicate entry for a unique key)".into())
        );
        // 1644: a trigger's SIGNAL; 1365, 3157: about the value. Retried forever before.
        for code in [1048, 1264, 1366, 1406, 1452, 3819, 4025, 1644, 1365, 3157] {
            let err = classify_code(code, "value 'secret'");
            assert!(
                matches!(&err, WriteError::Batch(m) if !m.contains("secret")),
                "{err:?}"
            );
        }
        for code in [1205, 1213, 2006, 2013, 1040, 1290] {
            assert!(
                matches!(classify_code(code, ""), WriteError::Transient(_)),
                "{code}"
            );
        }
        assert_eq!(
            classify_code(9999, "value 'secret'"),
            WriteError::Unknown("mysql: error 9999".into())
        );
        assert_eq!(
            classify_code(1146, "Table 'db.nope' doesn't exist\nmore"),
            WriteError::Schema("mysql: Table 'db.nope' doesn't exist (error 1146)".into())
        );
        for code in [1054, 1142] {
            assert!(
                matches!(classify_code(code, "x"), WriteError::Schema(_)),
                "{code}"
            );
        }
    }

    #[test]
    fn driver_errors_without_a_server_code_are_transient() {
        let io =
            ::mysql::Error::IoError(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(matches!(classify(&io), WriteError::Transient(_)));
        let value = ::mysql::Error::FromValueError(::mysql::Value::from("secret"));
        assert!(matches!(classify(&value), WriteError::Schema(m) if !m.contains("secret")));
        // Too large to send: split the batch instead of retrying it whole forever.
        let large = ::mysql::Error::DriverError(::mysql::DriverError::PacketTooLarge);
        assert!(matches!(classify(&large), WriteError::Batch(_)));
    }
}
