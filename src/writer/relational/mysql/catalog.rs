//! What the MySQL/MariaDB catalog says about a table: its columns with their type category, and
//! whether the written keys are a unique index (without one, `ON DUPLICATE KEY` never fires).

use crate::writer::relational::convert::ColumnKind;

/// Columns of a table in order: name, type as SQL spells it, base type, length, precision, scale.
/// `?1` is the schema (`NULL` for the connection's database), `?2` the table.
pub const CATALOG_SQL: &str = "\
SELECT CAST(COLUMN_NAME AS CHAR), CAST(COLUMN_TYPE AS CHAR), CAST(DATA_TYPE AS CHAR), \
       CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE \
FROM information_schema.COLUMNS \
WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? \
ORDER BY ORDINAL_POSITION";

/// The unique indexes of a table, each as its comma-separated columns (same parameters).
pub const UNIQUE_SQL: &str = "\
SELECT CAST(GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX SEPARATOR ',') AS CHAR) \
FROM information_schema.STATISTICS \
WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND NON_UNIQUE = 0 \
GROUP BY INDEX_NAME";

/// MariaDB's check clauses of a table (its `JSON` columns are `longtext` checked with `json_valid`).
/// MySQL has no `TABLE_NAME` there and refuses the query; its `JSON` is a type of its own anyway.
pub const CHECKS_SQL: &str = "\
SELECT CAST(CHECK_CLAUSE AS CHAR) FROM information_schema.CHECK_CONSTRAINTS \
WHERE CONSTRAINT_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?";

/// Whether one of the check clauses makes `column` a JSON column (MariaDB's `json_valid(`col`)`).
pub fn checked_as_json(checks: &[String], column: &str) -> bool {
    let want = format!("json_valid(`{}`)", column.replace('`', "``"));
    checks.iter().any(|c| c.trim().eq_ignore_ascii_case(&want))
}

/// One row of [`CATALOG_SQL`] past the name: how the column is typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogType {
    /// `COLUMN_TYPE`: `int(11) unsigned`, `varchar(10)`, `tinyint(1)`...
    pub column_type: String,
    /// `DATA_TYPE`: `int`, `varchar`...
    pub data_type: String,
    /// `CHARACTER_MAXIMUM_LENGTH`, in characters.
    pub max_chars: Option<u64>,
    /// `NUMERIC_PRECISION`.
    pub precision: Option<u64>,
    /// `NUMERIC_SCALE`.
    pub scale: Option<u64>,
}

/// The category a MySQL/MariaDB column converts values to.
///
/// `tinyint(1)` is how `BOOLEAN` is stored, so it takes booleans (and small integers). `TIMESTAMP` columns are read and
/// written in the session time zone, which the writer sets to UTC, so they take instants. MariaDB's
/// `JSON` is a `longtext` with a `json_valid` check, which [`checked_as_json`] finds.
pub fn mysql_kind(t: &CatalogType) -> ColumnKind {
    let unsigned = t.column_type.to_ascii_lowercase().contains("unsigned");
    let text_limit = |t: &CatalogType| t.max_chars.and_then(|n| usize::try_from(n).ok());
    match t.data_type.to_ascii_lowercase().as_str() {
        "tinyint" if t.column_type.eq_ignore_ascii_case("tinyint(1)") => ColumnKind::TinyBoolean,
        // Bound as integers: a BIT column stores the number's bits (text would be its bytes).
        "bit" if t.column_type.eq_ignore_ascii_case("bit(1)") => ColumnKind::Boolean,
        "bit" => ColumnKind::Integer { bits: 64 },
        "tinyint" | "year" => ColumnKind::Integer { bits: 16 },
        "smallint" if unsigned => ColumnKind::Integer { bits: 32 },
        "smallint" => ColumnKind::Integer { bits: 16 },
        "mediumint" => ColumnKind::Integer { bits: 32 },
        "int" | "integer" if unsigned => ColumnKind::Integer { bits: 64 },
        "int" | "integer" => ColumnKind::Integer { bits: 32 },
        // Past i64::MAX: an exact number, checked by the database.
        "bigint" if unsigned => ColumnKind::Numeric {
            precision_scale: Some((20, 0)),
        },
        "bigint" => ColumnKind::Integer { bits: 64 },
        "decimal" | "numeric" => ColumnKind::Numeric {
            precision_scale: t
                .precision
                .zip(t.scale)
                .and_then(|(p, s)| Some((u32::try_from(p).ok()?, u32::try_from(s).ok()?))),
        },
        "float" => ColumnKind::Float { bits: 32 },
        "double" | "real" => ColumnKind::Float { bits: 64 },
        "char" | "varchar" => ColumnKind::Text {
            max_chars: text_limit(t),
        },
        "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set" => {
            ColumnKind::Text { max_chars: None }
        }
        "date" => ColumnKind::Date,
        "datetime" => ColumnKind::Timestamp,
        "timestamp" => ColumnKind::TimestampTz,
        "time" => ColumnKind::Time,
        "json" => ColumnKind::Json,
        "uuid" => ColumnKind::Uuid,
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
            ColumnKind::Bytes
        }
        _ => ColumnKind::Other,
    }
}

/// Whether one of the unique indexes (`UNIQUE_SQL` rows) is exactly the key columns, in any order,
/// compared case-insensitively as MySQL compares column names.
pub fn has_unique_index(indexes: &[String], keys: &[&str]) -> bool {
    let mut want: Vec<String> = keys.iter().map(|k| k.to_ascii_lowercase()).collect();
    want.sort();
    indexes.iter().any(|index| {
        let mut got: Vec<String> = index.split(',').map(|c| c.to_ascii_lowercase()).collect();
        got.sort();
        got == want
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn mariadb_json_columns_are_found_by_their_check() {
        let checks = vec!["json_valid(`doc`)".to_string(), "`n` > 0".to_string()];
        assert!(checked_as_json(&checks, "doc"));
        assert!(!checked_as_json(&checks, "n"));
        assert!(!checked_as_json(&checks, "other"));
    }

    fn kind(column_type: &str, max_chars: Option<u64>, ps: Option<(u64, u64)>) -> ColumnKind {
        let data_type = column_type
            .split(['(', ' '])
            .next()
            .unwrap_or_default()
            .to_string();
        mysql_kind(&CatalogType {
            column_type: column_type.into(),
            data_type,
            max_chars,
            precision: ps.map(|p| p.0),
            scale: ps.map(|p| p.1),
        })
    }

    #[test]
    fn integer_types_map_to_widths_that_hold_them() {
        assert_eq!(kind("tinyint(1)", None, None), ColumnKind::TinyBoolean);
        assert_eq!(
            kind("tinyint(4)", None, None),
            ColumnKind::Integer { bits: 16 }
        );
        assert_eq!(
            kind("smallint(5) unsigned", None, None),
            ColumnKind::Integer { bits: 32 }
        );
        assert_eq!(
            kind("int(11)", None, None),
            ColumnKind::Integer { bits: 32 }
        );
        assert_eq!(
            kind("int(10) unsigned", None, None),
            ColumnKind::Integer { bits: 64 }
        );
        assert_eq!(
            kind("bigint(20)", None, None),
            ColumnKind::Integer { bits: 64 }
        );
        assert_eq!(
            kind("bigint(20) unsigned", None, None),
            ColumnKind::Numeric {
                precision_scale: Some((20, 0))
            }
        );
    }

    #[test]
    fn text_decimal_time_and_binary_types_map_to_their_categories() {
        assert_eq!(
            kind("varchar(10)", Some(10), None),
            ColumnKind::Text {
                max_chars: Some(10)
            }
        );
        assert_eq!(
            kind("longtext", Some(4294967295), None),
            ColumnKind::Text { max_chars: None }
        );
        assert_eq!(
            kind("decimal(10,2)", None, Some((10, 2))),
            ColumnKind::Numeric {
                precision_scale: Some((10, 2))
            }
        );
        assert_eq!(kind("datetime(6)", None, None), ColumnKind::Timestamp);
        assert_eq!(kind("timestamp", None, None), ColumnKind::TimestampTz);
        assert_eq!(kind("varbinary(16)", None, None), ColumnKind::Bytes);
        assert_eq!(kind("json", None, None), ColumnKind::Json);
        assert_eq!(kind("geometry", None, None), ColumnKind::Other);
    }

    #[test]
    fn keys_need_a_unique_index_of_exactly_those_columns() {
        let indexes = ["id".to_string(), "a,B".to_string()];
        assert!(has_unique_index(&indexes, &["ID"]));
        assert!(has_unique_index(&indexes, &["b", "a"]));
        assert!(!has_unique_index(&indexes, &["a"]));
        assert!(!has_unique_index(&[], &["id"]));
    }
}
