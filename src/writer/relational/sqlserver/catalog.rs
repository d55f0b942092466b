//! What SQL Server's catalog and errors say: column type categories from `INFORMATION_SCHEMA.COLUMNS`,
//! and server error numbers sorted into the writer's kinds.

use crate::writer::relational::convert::ColumnKind;
use crate::writer::WriteError;

/// Columns of a table in order: name, base type, length (-1 for `max`), precision, scale. `@P1` is the
/// schema (`NULL` for the user's default schema), `@P2` the table.
pub const CATALOG_SQL: &str = "\
SELECT CAST(COLUMN_NAME AS nvarchar(256)), CAST(DATA_TYPE AS nvarchar(256)), \
       CAST(CHARACTER_MAXIMUM_LENGTH AS int), CAST(NUMERIC_PRECISION AS int), CAST(NUMERIC_SCALE AS int) \
FROM INFORMATION_SCHEMA.COLUMNS \
WHERE TABLE_SCHEMA = COALESCE(@P1, SCHEMA_NAME()) AND TABLE_NAME = @P2 \
ORDER BY ORDINAL_POSITION";

/// The category a SQL Server column converts values to.
pub fn sqlserver_kind(
    data_type: &str,
    max_chars: Option<i32>,
    precision: Option<i32>,
    scale: Option<i32>,
) -> ColumnKind {
    match data_type.to_ascii_lowercase().as_str() {
        "tinyint" | "smallint" => ColumnKind::Integer { bits: 16 },
        "int" => ColumnKind::Integer { bits: 32 },
        "bigint" => ColumnKind::Integer { bits: 64 },
        "bit" => ColumnKind::Boolean,
        "decimal" | "numeric" | "money" | "smallmoney" => ColumnKind::Numeric {
            precision_scale: precision
                .zip(scale)
                .and_then(|(p, s)| Some((u32::try_from(p).ok()?, u32::try_from(s).ok()?))),
        },
        "real" => ColumnKind::Float { bits: 32 },
        "float" => ColumnKind::Float { bits: 64 },
        // -1 is `max`.
        "char" | "varchar" | "nchar" | "nvarchar" => ColumnKind::Text {
            max_chars: max_chars.and_then(|n| usize::try_from(n).ok()),
        },
        "text" | "ntext" | "xml" => ColumnKind::Text { max_chars: None },
        "date" => ColumnKind::Date,
        "datetime" | "datetime2" | "smalldatetime" => ColumnKind::Timestamp,
        "datetimeoffset" => ColumnKind::TimestampTz,
        "time" => ColumnKind::Time,
        "uniqueidentifier" => ColumnKind::Uuid,
        "binary" | "varbinary" | "image" => ColumnKind::Bytes,
        _ => ColumnKind::Other,
    }
}

/// Errors that pass: deadlocks, lock timeouts, lost connections, Azure throttling and failovers.
const TRANSIENT: &[(u32, &str)] = &[
    (1205, "deadlock victim"),
    (1222, "lock request timeout"),
    (233, "no process on the other end of the pipe"),
    (10053, "connection aborted"),
    (10054, "connection reset"),
    (10928, "resource limit reached"),
    (10929, "resource limit reached"),
    (40197, "service error, retry"),
    (40501, "service busy"),
    (40613, "database unavailable"),
    (49918, "not enough resources"),
    (3960, "snapshot isolation update conflict"),
    (3906, "database is read-only"),
    // Locks, memory, space, sessions ended, shutdown, availability groups, In-Memory OLTP conflicts.
    (1204, "no lock resource"),
    (3961, "snapshot isolation: object changed"),
    (41301, "dependent transaction aborted"),
    (41302, "update conflict"),
    (41305, "repeatable read validation failure"),
    (41325, "serializable validation failure"),
    (41839, "too many commit dependencies"),
    (701, "insufficient memory"),
    (802, "insufficient memory in the buffer pool"),
    (8645, "timeout waiting for memory"),
    (8651, "insufficient memory"),
    (1105, "filegroup is full"),
    (9002, "transaction log is full"),
    (40544, "database size quota reached"),
    (40549, "session terminated (long transaction)"),
    (40550, "session terminated (too many locks)"),
    (40551, "session terminated (tempdb)"),
    (40552, "session terminated (log space)"),
    (596, "session is being killed"),
    (6005, "shutdown in progress"),
    (845, "buffer latch timeout"),
    (8628, "query optimization timeout"),
    (976, "availability replica not readable"),
    (983, "availability database not accessible"),
    (3948, "availability replica role changed"),
];

/// Errors caused by what a row holds.
const PER_RECORD: &[(u32, &str)] = &[
    (515, "a NOT NULL column got a null"),
    (547, "check or foreign key constraint violated"),
    (2601, "duplicate key in a unique index"),
    (2627, "unique or primary key constraint violated"),
    (8152, "string or binary data would be truncated"),
    (2628, "string or binary data would be truncated"),
    (220, "arithmetic overflow"),
    (8115, "arithmetic overflow"),
    (245, "conversion failed"),
    (8114, "conversion failed"),
    (241, "date or time conversion failed"),
    (242, "date or time value out of range"),
    (8169, "conversion to uniqueidentifier failed"),
    (8672, "the MERGE matched a target row more than once"),
    (8134, "divide by zero"),
    (
        6522,
        "a .NET routine or type (geography, hierarchyid) refused the value",
    ),
    (3609, "a trigger ended the transaction"),
];

/// Ranges of numbers that are about the row too: XML parse errors, and errors raised by the
/// database's own code (RAISERROR and THROW from triggers use 50000 and up).
const PER_RECORD_RANGES: &[(std::ops::RangeInclusive<u32>, &str)] = &[
    (9400..=9499, "XML parse error"),
    (
        50000..=u32::MAX,
        "an error raised by a trigger or procedure",
    ),
];

/// Errors saying the target does not fit: missing objects, rights, logins.
/// 544, 271, 273: the mapping writes an identity, computed or rowversion column.
const SCHEMA: &[u32] = &[
    207, 208, 229, 230, 262, 4060, 18456, 102, 156, 4406, 4405, 544, 271, 273,
];

/// Sorts a server error by number; unknown numbers are retried (and probed: `applier/probe.rs`). Messages are kept only for schema
/// errors (they name objects); the others quote values.
pub fn classify_code(code: u32, message: &str) -> WriteError {
    let per_record = PER_RECORD
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, name)| *name)
        .or_else(|| {
            PER_RECORD_RANGES
                .iter()
                .find(|(range, _)| range.contains(&code))
                .map(|(_, name)| *name)
        });
    if let Some(name) = per_record {
        return WriteError::Batch(format!("sqlserver: error {code} ({name})"));
    }
    if let Some((_, name)) = TRANSIENT.iter().find(|(c, _)| *c == code) {
        return WriteError::Transient(format!("sqlserver: error {code} ({name})"));
    }
    if SCHEMA.contains(&code) {
        let first_line = message.lines().next().unwrap_or("");
        return WriteError::Schema(format!("sqlserver: {first_line} (error {code})"));
    }
    WriteError::Unknown(format!("sqlserver: error {code}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn types_map_to_categories() {
        assert_eq!(
            sqlserver_kind("int", None, Some(10), Some(0)),
            ColumnKind::Integer { bits: 32 }
        );
        assert_eq!(sqlserver_kind("bit", None, None, None), ColumnKind::Boolean);
        assert_eq!(
            sqlserver_kind("nvarchar", Some(-1), None, None),
            ColumnKind::Text { max_chars: None }
        );
        assert_eq!(
            sqlserver_kind("nvarchar", Some(20), None, None),
            ColumnKind::Text {
                max_chars: Some(20)
            }
        );
        assert_eq!(
            sqlserver_kind("decimal", None, Some(10), Some(2)),
            ColumnKind::Numeric {
                precision_scale: Some((10, 2))
            }
        );
        assert_eq!(
            sqlserver_kind("datetimeoffset", None, None, None),
            ColumnKind::TimestampTz
        );
        assert_eq!(
            sqlserver_kind("uniqueidentifier", None, None, None),
            ColumnKind::Uuid
        );
        assert_eq!(
            sqlserver_kind("geography", None, None, None),
            ColumnKind::Other
        );
    }

    #[test]
    fn errors_sort_by_number_without_values() {
        let dup = classify_code(
            2627,
            "Violation of PRIMARY KEY constraint. The duplicate key value is (secret).",
        );
        assert!(
            matches!(&dup, WriteError::Batch(m) if !m.contains("secret")),
            "{dup:?}"
        );
        // 9436 (XML), 50001 (a trigger's THROW), 8134: about the row, so never retried forever.
        for code in [515, 547, 8152, 245, 8134, 9436, 50001] {
            assert!(
                matches!(classify_code(code, ""), WriteError::Batch(_)),
                "{code}"
            );
        }
        for code in [1205, 1222, 40613] {
            assert!(
                matches!(classify_code(code, ""), WriteError::Transient(_)),
                "{code}"
            );
        }
        assert_eq!(
            classify_code(12345, "'secret'"),
            WriteError::Unknown("sqlserver: error 12345".into())
        );
        assert!(matches!(classify_code(544, ""), WriteError::Schema(_)));
        assert_eq!(
            classify_code(208, "Invalid object name 'dbo.nope'."),
            WriteError::Schema("sqlserver: Invalid object name 'dbo.nope'. (error 208)".into())
        );
    }
}
