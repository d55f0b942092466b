//! The arrays of a many-row statement: one per column, text by default, and integer arrays for the
//! integer columns of a run whose values are all plain decimal integers.
//!
//! Casting a text array to `bigint` in SQL goes through the text input function per value, in the
//! server's one backend that a writer's connection has: binding `int8[]` instead cut PostgreSQL's CPU
//! per row by about a tenth for a table with two integer columns out of five, measured alone; in the
//! module's drain the gain is within the run-to-run noise (bench/RESULTS.md §43).
//! A value Rust parses as an integer (`[+-]?[0-9]+`, in range) is one PostgreSQL's input function
//! reads as the same integer, so the typed statement writes what the text one writes. A run with any
//! other value in an integer column (spaces, `1e3`, out of range) is bound as text, as before, so
//! that PostgreSQL's own parsing and error messages apply to it.

use std::str::FromStr;

use ::tokio_postgres::types::{ToSql, Type};

use super::super::convert::ColumnKind;
use super::super::table::TableSchema;

/// The array type of column `kind` in the typed statement.
pub(super) fn array_type(kind: ColumnKind) -> Type {
    match kind {
        ColumnKind::Integer { bits: 16 } => Type::INT2_ARRAY,
        ColumnKind::Integer { bits: 32 } => Type::INT4_ARRAY,
        ColumnKind::Integer { .. } => Type::INT8_ARRAY,
        _ => Type::TEXT_ARRAY,
    }
}

/// The array types of the typed statement of `schema`'s first `n` columns, or `None` when none of
/// them is an integer column (the text statement is then the only one).
pub(super) fn typed_arrays(schema: &TableSchema, n: usize) -> Option<Vec<Type>> {
    let types: Vec<Type> = schema
        .columns
        .iter()
        .take(n)
        .map(|c| array_type(c.kind))
        .collect();
    types
        .iter()
        .any(|t| *t != Type::TEXT_ARRAY)
        .then_some(types)
}

/// The SQL spelling of an array type of [`array_type`].
pub(super) fn sql_name(t: &Type) -> &'static str {
    match *t {
        Type::INT2_ARRAY => "int2[]",
        Type::INT4_ARRAY => "int4[]",
        Type::INT8_ARRAY => "int8[]",
        _ => "text[]",
    }
}

/// One column's values for a many-row statement.
pub(super) enum Array<'a> {
    Text(Vec<Option<&'a str>>),
    Int2(Vec<Option<i16>>),
    Int4(Vec<Option<i32>>),
    Int8(Vec<Option<i64>>),
}

impl Array<'_> {
    /// The array as a statement parameter.
    pub(super) fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Array::Text(v) => v,
            Array::Int2(v) => v,
            Array::Int4(v) => v,
            Array::Int8(v) => v,
        }
    }
}

/// The arrays of `columns` (one text value per row each) for parameters of `types`, or `None` when
/// a value of an integer column is not a plain decimal integer of its width.
pub(super) fn typed<'a>(
    columns: &[Vec<Option<&'a str>>],
    types: &[Type],
) -> Option<Vec<Array<'a>>> {
    columns
        .iter()
        .zip(types)
        .map(|(values, t)| match *t {
            Type::INT2_ARRAY => parsed(values).map(Array::Int2),
            Type::INT4_ARRAY => parsed(values).map(Array::Int4),
            Type::INT8_ARRAY => parsed(values).map(Array::Int8),
            _ => Some(Array::Text(values.clone())),
        })
        .collect()
}

/// Every value parsed, NULL kept; `None` if one does not parse.
fn parsed<T: FromStr>(values: &[Option<&str>]) -> Option<Vec<Option<T>>> {
    values
        .iter()
        .map(|v| match v {
            None => Some(None),
            Some(text) => text.parse::<T>().ok().map(Some),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(a: &Array) -> Option<Vec<Option<i64>>> {
        match a {
            Array::Int2(v) => Some(v.iter().map(|x| x.map(i64::from)).collect()),
            Array::Int4(v) => Some(v.iter().map(|x| x.map(i64::from)).collect()),
            Array::Int8(v) => Some(v.clone()),
            Array::Text(_) => None,
        }
    }

    #[test]
    fn integer_columns_are_parsed_and_text_kept() {
        let cols = vec![
            vec![Some("1"), Some("-42"), Some("+7"), None],
            vec![Some("a"), Some(" 1"), None, Some("x")],
            vec![Some("007"), Some("32767"), Some("-32768"), None],
        ];
        let types = [Type::INT8_ARRAY, Type::TEXT_ARRAY, Type::INT2_ARRAY];
        let arrays = typed(&cols, &types).expect("all integers plain");
        assert_eq!(
            ints(&arrays[0]),
            Some(vec![Some(1), Some(-42), Some(7), None])
        );
        assert!(matches!(&arrays[1], Array::Text(v) if v[1] == Some(" 1")));
        assert_eq!(
            ints(&arrays[2]),
            Some(vec![Some(7), Some(32767), Some(-32768), None])
        );
    }

    #[test]
    fn anything_else_in_an_integer_column_keeps_the_run_as_text() {
        for bad in [
            " 1",
            "1 ",
            "1e3",
            "1.0",
            "",
            "-",
            "0x10",
            "1_000",
            "2147483648",
        ] {
            let cols = vec![vec![Some("1"), Some(bad)]];
            assert!(
                typed(&cols, &[Type::INT4_ARRAY]).is_none(),
                "{bad:?} must fall back to text"
            );
        }
        let cols = vec![vec![Some("32768")]];
        assert!(typed(&cols, &[Type::INT2_ARRAY]).is_none());
    }

    #[test]
    fn only_tables_with_integer_columns_get_a_typed_statement() {
        use super::super::super::convert::Column;
        let col = |name: &str, kind| Column {
            name: name.into(),
            sql_type: "x".into(),
            kind,
        };
        let mut schema = TableSchema {
            schema: None,
            table: "t".into(),
            columns: vec![
                col("id", ColumnKind::Integer { bits: 64 }),
                col("name", ColumnKind::Text { max_chars: None }),
                col("age", ColumnKind::Integer { bits: 32 }),
            ],
            keys: 1,
        };
        assert_eq!(
            typed_arrays(&schema, 3),
            Some(vec![Type::INT8_ARRAY, Type::TEXT_ARRAY, Type::INT4_ARRAY])
        );
        assert_eq!(typed_arrays(&schema, 1), Some(vec![Type::INT8_ARRAY]));
        schema.columns.remove(0);
        schema.columns.remove(1);
        assert_eq!(typed_arrays(&schema, 1), None);
    }
}
