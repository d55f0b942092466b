//! Every column category, and every dialect's binding of the result, given values of every kind:
//! a value is converted or refused with a reason (the record then goes to the dead-letter queue),
//! never a panic on a writer thread. `RDI_CONVERT_FUZZ` sets how many random strings per category.
//! Test-only: its `mod` line carries #[cfg(test)].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::fuzz::{count, Rng};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::*;
use serde_json::json;

/// Random strings per category by default.
const STRINGS: usize = 3_000;

fn kinds() -> Vec<ColumnKind> {
    let mut kinds = vec![
        ColumnKind::Boolean,
        ColumnKind::TinyBoolean,
        ColumnKind::Timestamp,
        ColumnKind::TimestampTz,
        ColumnKind::Date,
        ColumnKind::Time,
        ColumnKind::Json,
        ColumnKind::Uuid,
        ColumnKind::Bytes,
        ColumnKind::Array,
        ColumnKind::Any,
        ColumnKind::Other,
        ColumnKind::Text { max_chars: None },
        ColumnKind::Text { max_chars: Some(0) },
        ColumnKind::Text { max_chars: Some(3) },
        ColumnKind::Numeric {
            precision_scale: None,
        },
        ColumnKind::Numeric {
            precision_scale: Some((1, 0)),
        },
        ColumnKind::Numeric {
            precision_scale: Some((5, 5)),
        },
        ColumnKind::Numeric {
            precision_scale: Some((38, 10)),
        },
        ColumnKind::Numeric {
            precision_scale: Some((0, 0)),
        },
    ];
    for bits in [8, 16, 32, 64] {
        kinds.push(ColumnKind::Integer { bits });
    }
    for bits in [32, 64] {
        kinds.push(ColumnKind::Float { bits });
    }
    kinds
}

/// Values at the edges of each category, in both shapes (hash strings, JSON values).
fn edge_values() -> Vec<Value> {
    let strings = [
        "",
        " ",
        "0",
        "-0",
        "+1",
        "1e309",
        "-1e309",
        "NaN",
        "nan",
        "inf",
        "-Infinity",
        "1.",
        ".5",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775809",
        "0x10",
        "1_000",
        "00000000000000000000000000000000000000000001",
        "1e-400",
        "123456789012345678901234567890.5",
        "true",
        "FALSE",
        "t",
        "yes",
        "2",
        "-129",
        "128",
        "2024-02-29",
        "2023-02-29",
        "0000-01-01",
        "+275760-09-13",
        "-0001-01-01",
        "2024-01-01T24:00:00Z",
        "2024-01-01T23:59:60Z",
        "2024-01-01 00:00:00+25:00",
        "1700000000",
        "-99999999999999",
        "99999999999999999999",
        "23:59:59.9999999999",
        "25:00",
        "12:00:00+02",
        "{}",
        "[]",
        "[1,[2,[3]]]",
        "[[1],[2,3]]",
        "{\"a\":",
        "\"\"",
        "null",
        "\\x",
        "\\xZZ",
        "\\x0",
        "\\xff00",
        "AAAA====",
        "123e4567-e89b-12d3-a456-426614174000",
        "123E4567E89B12D3A456426614174000",
        "{123e4567-e89b-12d3-a456-426614174000}",
        "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
        "Ünïcödé ✓ 𝄞",
        "\u{0}",
        "a\u{0}b",
        "{1,2}",
        "{\"a\",NULL}",
        "{{1,2},{3}}",
    ];
    let mut values: Vec<Value> = strings.iter().map(|s| json!(s)).collect();
    values.extend([
        Value::Null,
        json!(true),
        json!(false),
        json!(0),
        json!(-1),
        json!(127),
        json!(128),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(1.5),
        json!(-0.0),
        json!(1e300),
        json!(f64::MIN_POSITIVE),
        json!([]),
        json!([1, 2.5, "x", null, true]),
        json!([[1, 2], [3]]),
        json!([[[]]]),
        json!([{"a": 1}]),
        json!({}),
        json!({"a": [1, {"b": null}]}),
    ]);
    values
}

/// A random string of the characters that numbers, dates, times, UUIDs, arrays and JSON are made of.
fn random_string(rng: &mut Rng) -> String {
    const ALPHABET: &[char] = &[
        '0', '1', '2', '5', '9', '-', '+', '.', ':', 'T', 'Z', 'e', 'E', ' ', '{', '}', '[', ']',
        ',', '"', '\\', 'x', 'a', 'f', 'N', 'I', 't', 'é', '𝄞', '\u{0}',
    ];
    (0..rng.below(40))
        .map(|_| ALPHABET[rng.below(ALPHABET.len())])
        .collect()
}

/// Converts `value` for `kind` and binds the result as every dialect would; `Err` names the panic.
fn convert_and_bind(kind: ColumnKind, value: &Value) -> Result<bool, String> {
    catch_unwind(AssertUnwindSafe(|| {
        let column = Column {
            name: "c".into(),
            sql_type: "t".into(),
            kind,
        };
        let _ = column.text_as_is(value);
        let Ok(converted) = column.convert(value) else {
            return false;
        };
        #[cfg(feature = "postgres")]
        let _ = super::super::postgres::postgres_text(converted.clone());
        #[cfg(feature = "mysql")]
        let _ = super::super::mysql::mysql_value(converted.clone());
        #[cfg(feature = "sqlserver")]
        let _ = super::super::sqlserver::sqlserver_value(converted.clone(), kind);
        #[cfg(feature = "oracle")]
        let _ = super::super::oracle::oracle_value(converted.clone(), kind);
        let _ = super::super::sqlite::to_sqlite(converted);
        true
    }))
    .map_err(|_| format!("{kind:?} of {value}"))
}

#[test]
fn every_category_converts_or_refuses_every_value_without_panicking() {
    let count = count("RDI_CONVERT_FUZZ", STRINGS);
    let mut rng = Rng(0x0ddb_a115_eed0);
    let mut panics = Vec::new();
    let (mut converted, mut refused) = (0usize, 0usize);
    for kind in kinds() {
        let mut values = edge_values();
        values.extend((0..count).map(|_| json!(random_string(&mut rng))));
        for value in &values {
            match convert_and_bind(kind, value) {
                Ok(true) => converted += 1,
                Ok(false) => refused += 1,
                Err(p) => panics.push(p),
            }
        }
    }
    eprintln!("conversions: {converted} converted, {refused} refused");
    assert!(panics.is_empty(), "{} panics: {panics:#?}", panics.len());
    assert!(
        converted > 1000 && refused > 1000,
        "{converted} converted, {refused} refused"
    );
}

#[cfg(feature = "cassandra")]
#[test]
fn every_cassandra_type_converts_or_refuses_every_value_without_panicking() {
    use crate::writer::cassandra::cql::{cql_kind, cql_value, value_bytes};
    const TYPES: &[&str] = &[
        "int",
        "bigint",
        "smallint",
        "tinyint",
        "varint",
        "decimal",
        "float",
        "double",
        "boolean",
        "text",
        "ascii",
        "varchar",
        "timestamp",
        "date",
        "time",
        "uuid",
        "timeuuid",
        "blob",
        "inet",
        "duration",
        "counter",
        "list<int>",
        "set<text>",
        "map<text, int>",
        "frozen<list<list<int>>>",
        "map<int, frozen<set<uuid>>>",
        "tuple<int, text>",
        "frozen<address>",
    ];
    let mut rng = Rng(0x000c_a55a_0d2a);
    let mut values = edge_values();
    values.extend((0..300).map(|_| json!(random_string(&mut rng))));
    let mut panics = Vec::new();
    let mut converted = 0usize;
    for cql_type in TYPES {
        for value in &values {
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                let column = Column {
                    name: "c".into(),
                    sql_type: (*cql_type).into(),
                    kind: cql_kind(cql_type),
                };
                let sql = column.convert(value).ok()?;
                let cql = cql_value(sql, cql_type).ok()?;
                Some(value_bytes(&cql))
            }));
            match outcome {
                Ok(Some(_)) => converted += 1,
                Ok(None) => {}
                Err(_) => panics.push(format!("{cql_type} of {value}")),
            }
        }
    }
    assert!(panics.is_empty(), "{} panics: {panics:#?}", panics.len());
    assert!(converted > 500, "only {converted} converted");
}
