//! What Oracle's catalog and errors say: column type categories from `ALL_TAB_COLUMNS`, the connect
//! descriptor of a connection, and ORA- numbers sorted into the writer's kinds.

use crate::config::SqlServerConnection;
use crate::writer::relational::convert::ColumnKind;
use crate::writer::WriteError;

/// Columns of a table in order: name, type, precision, scale, length in characters. `:1` is the owner
/// (`NULL` for the session's schema), `:2` the table.
pub const CATALOG_SQL: &str = "\
SELECT column_name, data_type, data_precision, data_scale, char_length \
FROM all_tab_columns \
WHERE owner = NVL(:1, SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA')) AND table_name = :2 \
ORDER BY column_id";

/// Session settings: instants in UTC, and `.` as the decimal point of numbers bound as text.
pub const SESSION_INIT: &[&str] = &[
    "ALTER SESSION SET TIME_ZONE = 'UTC'",
    "ALTER SESSION SET NLS_NUMERIC_CHARACTERS = '.,'",
];

/// Seconds to wait for a connection unless `connect_timeout` says otherwise.
pub const CONNECT_TIMEOUT_S_DEFAULT: u64 = 10;

/// `connect_args.stmt_cache_size`: statements each connection keeps prepared (the client's default
/// when not set).
pub fn stmt_cache_size(s: &SqlServerConnection) -> Result<Option<u32>, WriteError> {
    s.connect_args
        .get("stmt_cache_size")
        .map(|n| {
            n.trim().parse::<u32>().map_err(|_| {
                WriteError::Schema("oracle `stmt_cache_size` must be a whole number".into())
            })
        })
        .transpose()
}

/// The connect descriptor: `query_args.service_name`, else `query_args.sid`, else `database` as the
/// service name.
pub fn connect_descriptor(s: &SqlServerConnection) -> Result<String, WriteError> {
    let timeout = match s.connect_args.get("connect_timeout") {
        Some(t) => crate::writer::seconds_arg("oracle", "connect_timeout", t)?.as_secs(),
        None => CONNECT_TIMEOUT_S_DEFAULT,
    };
    let data = match (s.query_args.get("service_name"), s.query_args.get("sid")) {
        (Some(service), _) => format!("SERVICE_NAME={service}"),
        (None, Some(sid)) => format!("SID={sid}"),
        (None, None) if !s.database.is_empty() => format!("SERVICE_NAME={}", s.database),
        (None, None) => {
            return Err(WriteError::Schema(
                "oracle: name a service with `database` or `query_args.service_name`".into(),
            ))
        }
    };
    Ok(format!(
        "(DESCRIPTION=(CONNECT_TIMEOUT={timeout})(ADDRESS=(PROTOCOL=TCP)(HOST={})(PORT={}))(CONNECT_DATA=({data})))",
        s.host, s.port
    ))
}

/// The category an Oracle column converts values to.
pub fn oracle_kind(
    data_type: &str,
    precision: Option<i64>,
    scale: Option<i64>,
    chars: Option<i64>,
) -> ColumnKind {
    let data_type = data_type.to_ascii_uppercase();
    let base = data_type.split('(').next().unwrap_or("");
    match base {
        "NUMBER" => match (precision, scale) {
            (Some(p), Some(0)) if p <= 18 => ColumnKind::Integer { bits: 64 },
            (Some(p), Some(s)) if s >= 0 => ColumnKind::Numeric {
                precision_scale: Some((p as u32, s as u32)),
            },
            _ => ColumnKind::Numeric {
                precision_scale: None,
            },
        },
        "FLOAT" | "BINARY_DOUBLE" => ColumnKind::Float { bits: 64 },
        "BINARY_FLOAT" => ColumnKind::Float { bits: 32 },
        "VARCHAR2" | "NVARCHAR2" | "CHAR" | "NCHAR" => ColumnKind::Text {
            max_chars: chars
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n > 0),
        },
        "CLOB" | "NCLOB" | "LONG" => ColumnKind::Text { max_chars: None },
        // An Oracle DATE holds a time of day too.
        "DATE" | "TIMESTAMP" if !data_type.contains("TIME ZONE") => ColumnKind::Timestamp,
        "TIMESTAMP" => ColumnKind::TimestampTz,
        "RAW" | "BLOB" | "LONG RAW" => ColumnKind::Bytes,
        "JSON" => ColumnKind::Json,
        "BOOLEAN" => ColumnKind::Boolean,
        _ => ColumnKind::Other,
    }
}

/// ORA- errors that pass: deadlocks, busy resources, lost or refused connections, shutdowns.
const TRANSIENT: &[(i32, &str)] = &[
    (18, "maximum number of sessions exceeded"),
    (20, "maximum number of processes exceeded"),
    (54, "resource busy"),
    (60, "deadlock detected"),
    (1033, "initialization or shutdown in progress"),
    (1034, "not available"),
    (1089, "immediate shutdown in progress"),
    (3113, "end-of-file on communication channel"),
    (3114, "not connected"),
    (3135, "connection lost contact"),
    (8177, "cannot serialize access"),
    (12170, "connect timeout"),
    (12514, "listener does not know the service"),
    (12528, "listener: all instances are blocking"),
    (12537, "connection closed"),
    (12541, "no listener"),
    (12543, "destination host unreachable"),
    (16000, "database open for read-only access"),
    // Sessions ended, connection lost, failover; locks; space; memory; read consistency; package state
    // invalidated by a recompile; offline files; a recursive statement's error (604 wraps such causes).
    (28, "session killed"),
    (31, "session marked for kill"),
    (1012, "not logged on"),
    (1013, "operation cancelled"),
    (2396, "idle time exceeded"),
    (1090, "shutdown in progress"),
    (1092, "instance terminated"),
    (603, "fatal session error"),
    (12547, "lost contact"),
    (12571, "packet writer failure"),
    (25402, "transaction must roll back (failover)"),
    (25408, "cannot replay the call (failover)"),
    (51, "timeout waiting for a resource"),
    (2049, "timeout waiting for a distributed lock"),
    (4020, "deadlock while locking an object"),
    (4021, "timeout waiting to lock an object"),
    (30006, "resource busy (WAIT timeout)"),
    (1653, "unable to extend a table"),
    (1654, "unable to extend an index"),
    (1688, "unable to extend a table partition"),
    (1683, "unable to extend an index partition"),
    (1691, "unable to extend a LOB segment"),
    (1536, "space quota exceeded"),
    (30036, "unable to extend undo"),
    (1652, "unable to extend temp space"),
    (257, "archiver stuck"),
    (4030, "out of process memory"),
    (4031, "out of shared memory"),
    (1555, "snapshot too old"),
    (8176, "consistent read failure"),
    (4068, "package state discarded"),
    (4061, "package state invalidated"),
    (4065, "package not executed (altered or dropped)"),
    (6508, "program unit not found (being recompiled)"),
    (376, "file cannot be read"),
    (1157, "cannot identify or lock a data file"),
    (604, "error in a recursive statement"),
];

/// ORA- errors caused by what a row holds.
const PER_RECORD: &[(i32, &str)] = &[
    (1, "unique constraint violated"),
    (1400, "cannot insert NULL"),
    (1407, "cannot update to NULL"),
    (1438, "value larger than the column's precision"),
    (1722, "invalid number"),
    (1830, "date format picture ends early"),
    (1841, "year out of range"),
    (1843, "invalid month"),
    (1847, "invalid day of month"),
    (1861, "literal does not match format string"),
    (2290, "check constraint violated"),
    (2291, "integrity constraint violated: parent key not found"),
    (2292, "integrity constraint violated: child record found"),
    (12899, "value too large for the column"),
    (1401, "value too large for the column"),
    (
        1460,
        "unimplemented or unreasonable conversion (a long value bound as text)",
    ),
    (1461, "a long value bound for a LONG column only"),
    (1426, "numeric overflow"),
    (1858, "a non-numeric character where a number was expected"),
    (1839, "date not valid for the month"),
    (1850, "hour must be between 0 and 23"),
    (1851, "minutes must be between 0 and 59"),
    (1852, "seconds must be between 0 and 59"),
    (4088, "error during execution of a trigger"),
    (30926, "unable to get a stable set of rows for the MERGE"),
    (40441, "JSON syntax error"),
];

/// ORA- errors saying the target does not fit: missing objects, rights, logins.
/// 32795 and 54013: the mapping writes a generated identity column or a virtual column.
const SCHEMA: &[i32] = &[
    904, 942, 1031, 1017, 1045, 28000, 28001, 1950, 980, 32795, 54013,
];

/// `raise_application_error` numbers: the database's own code (a trigger) refused the row.
const APPLICATION_ERRORS: std::ops::RangeInclusive<i32> = 20000..=20999;

/// Sorts an ORA- number; unknown numbers are retried (and probed: `applier/probe.rs`). Messages are kept only for schema errors.
pub fn classify_code(code: i32, message: &str) -> WriteError {
    if let Some((_, name)) = PER_RECORD.iter().find(|(c, _)| *c == code) {
        return WriteError::Batch(format!("oracle: ORA-{code:05} ({name})"));
    }
    if APPLICATION_ERRORS.contains(&code) {
        return WriteError::Batch(format!(
            "oracle: ORA-{code:05} (an error raised by a trigger or procedure)"
        ));
    }
    if let Some((_, name)) = TRANSIENT.iter().find(|(c, _)| *c == code) {
        return WriteError::Transient(format!("oracle: ORA-{code:05} ({name})"));
    }
    if SCHEMA.contains(&code) {
        let first_line = message.lines().next().unwrap_or("");
        return WriteError::Schema(format!("oracle: {first_line}"));
    }
    WriteError::Unknown(format!("oracle: ORA-{code:05}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn settings(database: &str, query: &[(&str, &str)]) -> SqlServerConnection {
        SqlServerConnection {
            host: "db".into(),
            port: 1521,
            database: database.into(),
            user: "u".into(),
            password: None,
            connect_args: BTreeMap::new(),
            query_args: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn descriptors_name_a_service_or_a_sid() {
        assert_eq!(
            connect_descriptor(&settings("ORCLPDB1", &[])).unwrap(),
            "(DESCRIPTION=(CONNECT_TIMEOUT=10)(ADDRESS=(PROTOCOL=TCP)(HOST=db)(PORT=1521))(CONNECT_DATA=(SERVICE_NAME=ORCLPDB1)))"
        );
        assert!(connect_descriptor(&settings("", &[("sid", "XE")]))
            .unwrap()
            .contains("(SID=XE)"));
        assert!(connect_descriptor(&settings("x", &[("service_name", "S")]))
            .unwrap()
            .contains("SERVICE_NAME=S)"));
        assert!(connect_descriptor(&settings("", &[])).is_err());
    }

    #[test]
    fn the_statement_cache_size_is_read_from_connect_args() {
        let mut s = settings("ORCLPDB1", &[]);
        assert_eq!(stmt_cache_size(&s), Ok(None));
        s.connect_args
            .insert("stmt_cache_size".into(), " 40 ".into());
        assert_eq!(stmt_cache_size(&s), Ok(Some(40)));
        s.connect_args
            .insert("stmt_cache_size".into(), "many".into());
        assert!(matches!(stmt_cache_size(&s), Err(WriteError::Schema(_))));
    }

    #[test]
    fn the_call_timeout_is_read_from_connect_args() {
        let read = |s: &SqlServerConnection| crate::writer::relational::read_timeout("oracle", s);
        let mut s = settings("ORCLPDB1", &[]);
        assert_eq!(read(&s), Ok(std::time::Duration::from_secs(120)));
        s.connect_args.insert("read_timeout".into(), "9".into());
        assert_eq!(read(&s), Ok(std::time::Duration::from_secs(9)));
        s.connect_args.insert("read_timeout".into(), "later".into());
        assert_eq!(
            read(&s),
            Err(WriteError::Schema(
                "oracle `read_timeout` must be a whole number of seconds".into()
            ))
        );
    }

    #[test]
    fn types_map_to_categories() {
        assert_eq!(
            oracle_kind("NUMBER", Some(10), Some(0), None),
            ColumnKind::Integer { bits: 64 }
        );
        assert_eq!(
            oracle_kind("NUMBER", Some(10), Some(2), None),
            ColumnKind::Numeric {
                precision_scale: Some((10, 2))
            }
        );
        assert_eq!(
            oracle_kind("NUMBER", None, None, None),
            ColumnKind::Numeric {
                precision_scale: None
            }
        );
        assert_eq!(
            oracle_kind("VARCHAR2", None, None, Some(20)),
            ColumnKind::Text {
                max_chars: Some(20)
            }
        );
        assert_eq!(oracle_kind("DATE", None, None, None), ColumnKind::Timestamp);
        assert_eq!(
            oracle_kind("TIMESTAMP(6)", None, None, None),
            ColumnKind::Timestamp
        );
        assert_eq!(
            oracle_kind("TIMESTAMP(6) WITH TIME ZONE", None, None, None),
            ColumnKind::TimestampTz
        );
        assert_eq!(oracle_kind("BLOB", None, None, None), ColumnKind::Bytes);
        assert_eq!(
            oracle_kind("SDO_GEOMETRY", None, None, None),
            ColumnKind::Other
        );
    }

    #[test]
    fn errors_sort_by_number_without_values() {
        assert_eq!(
            classify_code(1, "ORA-00001: unique constraint (HR.EMP_PK) violated"),
            WriteError::Batch("oracle: ORA-00001 (unique constraint violated)".into())
        );
        // 1461 (a long text bound), 1426, 4088 and 20001 (a trigger): about the row, not retried.
        for code in [1400, 2290, 2291, 12899, 1461, 1426, 4088, 20001] {
            assert!(
                matches!(classify_code(code, "'secret'"), WriteError::Batch(m) if !m.contains("secret"))
            );
        }
        for code in [60, 54, 3113, 12541] {
            assert!(
                matches!(classify_code(code, ""), WriteError::Transient(_)),
                "{code}"
            );
        }
        assert_eq!(
            classify_code(99999, "'secret'"),
            WriteError::Unknown("oracle: ORA-99999".into())
        );
        assert!(matches!(classify_code(32795, ""), WriteError::Schema(_)));
        assert_eq!(
            classify_code(942, "ORA-00942: table or view does not exist"),
            WriteError::Schema("oracle: ORA-00942: table or view does not exist".into())
        );
    }
}
