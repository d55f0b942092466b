//! A target table as the catalog describes it: the written columns resolved against the catalog, and
//! the conversion of one row into bindable values.

use crate::writer::{RowChange, RowOp, TableTarget, WriteError};

use super::convert::{Column, SqlValue};

/// A table target checked against the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSchema {
    /// Schema as written in SQL, or `None` for the connection's default.
    pub schema: Option<String>,
    /// Table name.
    pub table: String,
    /// The written columns, in the order of [`TableTarget::columns`], named as the catalog spells them.
    pub columns: Vec<Column>,
    /// How many of the first `columns` are the unique key.
    pub keys: usize,
}

/// Columns a missing-column message lists at most.
const COLUMNS_LISTED: usize = 30;

impl TableSchema {
    /// Matches every column of `target` with the catalog's `catalog` columns of the table (named
    /// `display` in messages). A name matches exactly, or else case-insensitively when only one catalog
    /// column matches that way (`EMP_ID` finds `emp_id`).
    pub fn resolve(
        target: &TableTarget,
        display: &str,
        catalog: &[Column],
    ) -> Result<Self, WriteError> {
        if catalog.is_empty() {
            return Err(WriteError::Schema(format!(
                "table {display} does not exist"
            )));
        }
        if target.columns.len() < target.keys.len()
            || target.columns[..target.keys.len()] != target.keys[..]
        {
            return Err(WriteError::Schema(format!(
                "table {display}: the key columns must come first among the written columns"
            )));
        }
        let table_name = &target.table;
        let columns = target
            .columns
            .iter()
            .map(|name| {
                find_column(catalog, name).cloned().ok_or_else(|| {
                    // What it has, so that a typo shows at once (names, never values).
                    let mut has: Vec<&str> = catalog.iter().map(|c| c.name.as_str()).collect();
                    let more = has.len().saturating_sub(COLUMNS_LISTED);
                    has.truncate(COLUMNS_LISTED);
                    let more = if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    };
                    WriteError::Schema(format!(
                        "table {table_name} has no column `{name}`; it has: {}{more}",
                        has.join(", ")
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TableSchema {
            schema: target.schema.clone(),
            table: target.table.clone(),
            columns,
            keys: target.keys.len(),
        })
    }

    /// The key columns.
    pub fn key_columns(&self) -> &[Column] {
        &self.columns[..self.keys]
    }

    /// The columns a row's statement binds: every column for an upsert, the keys for a delete (an
    /// error, the reason the row is rejected, when the target has no keys).
    pub fn bound_columns(&self, op: RowOp) -> Result<&[Column], String> {
        match op {
            RowOp::Upsert | RowOp::Insert => Ok(&self.columns[..]),
            RowOp::Delete if self.keys == 0 => {
                Err("a delete needs key columns and the target has none".into())
            }
            RowOp::Delete => Ok(self.key_columns()),
        }
    }

    /// Converts a row into the values its statement binds: every column for an upsert, the keys for a
    /// delete. The error is the reason the row is rejected.
    pub fn row_values(&self, row: &RowChange) -> Result<Vec<SqlValue>, String> {
        let null = serde_json::Value::Null;
        self.bound_columns(row.op)?
            .iter()
            .enumerate()
            .map(|(i, column)| {
                // A short row is a row whose trailing fields are missing: NULL.
                let value = column.convert(row.values.get(i).unwrap_or(&null))?;
                if i < self.keys && value == SqlValue::Null {
                    return Err(self.null_key(i));
                }
                Ok(value)
            })
            .collect()
    }

    /// The reason a row whose key column `i` is null is rejected.
    pub fn null_key(&self, i: usize) -> String {
        let name = self.columns.get(i).map_or("", |c| c.name.as_str());
        format!("key column `{name}` is null or missing")
    }
}

fn find_column<'a>(catalog: &'a [Column], name: &str) -> Option<&'a Column> {
    catalog.iter().find(|c| c.name == name).or_else(|| {
        let mut folded = catalog.iter().filter(|c| c.name.eq_ignore_ascii_case(name));
        match (folded.next(), folded.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::writer::relational::convert::ColumnKind;
    use serde_json::json;
    use std::sync::Arc;

    fn catalog() -> Vec<Column> {
        let col = |name: &str, kind| Column {
            name: name.into(),
            sql_type: "t".into(),
            kind,
        };
        vec![
            col("id", ColumnKind::Integer { bits: 64 }),
            col("Name", ColumnKind::Text { max_chars: None }),
            col("age", ColumnKind::Integer { bits: 32 }),
        ]
    }

    fn target(columns: &[&str]) -> TableTarget {
        TableTarget {
            redis: None,
            schema: None,
            table: "emp".into(),
            keys: vec!["id".into()],
            columns: columns.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn columns_resolve_exactly_or_by_unique_case_folding() {
        let schema =
            TableSchema::resolve(&target(&["id", "name", "AGE"]), "emp", &catalog()).unwrap();
        let names: Vec<_> = schema.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "Name", "age"]);
        assert_eq!(schema.keys, 1);
    }

    #[test]
    fn missing_table_and_column_are_schema_errors() {
        let err = TableSchema::resolve(&target(&["id"]), "public.emp", &[]).unwrap_err();
        assert_eq!(
            err,
            WriteError::Schema("table public.emp does not exist".into())
        );
        let err = TableSchema::resolve(&target(&["id", "x"]), "emp", &catalog()).unwrap_err();
        assert_eq!(
            err,
            WriteError::Schema("table emp has no column `x`; it has: id, Name, age".into())
        );
        let mut t = target(&["id"]);
        t.keys = vec!["nope".into()];
        t.columns = vec!["nope".into()];
        assert!(TableSchema::resolve(&t, "emp", &catalog()).is_err());
    }

    #[test]
    fn null_keys_and_bad_values_reject_the_row() {
        let t = Arc::new(target(&["id", "name", "age"]));
        let schema = TableSchema::resolve(&t, "emp", &catalog()).unwrap();
        let row = |op, values: Vec<serde_json::Value>| RowChange {
            target: t.clone(),
            op,
            values,
        };
        assert_eq!(
            schema
                .row_values(&row(RowOp::Upsert, vec![json!("1"), json!("a")]))
                .unwrap(),
            [SqlValue::Int(1), SqlValue::Text("a".into()), SqlValue::Null]
        );
        assert_eq!(
            schema
                .row_values(&row(RowOp::Delete, vec![json!(1)]))
                .unwrap(),
            [SqlValue::Int(1)]
        );
        let err = schema
            .row_values(&row(RowOp::Delete, vec![json!(null)]))
            .unwrap_err();
        assert_eq!(err, "key column `id` is null or missing");
        let err = schema
            .row_values(&row(
                RowOp::Upsert,
                vec![json!(1), json!("a"), json!("abc")],
            ))
            .unwrap_err();
        assert!(err.starts_with("column `age`"), "{err}");
    }
}
