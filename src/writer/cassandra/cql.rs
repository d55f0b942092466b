//! CQL for `cassandra.write`: quoting, the prepared INSERT (an upsert in Cassandra) and DELETE, the
//! catalog query, type categories of CQL types, and values converted to the exact CQL type the
//! prepared statement expects.

use chrono::{NaiveDate, Timelike};
use scylla::value::{CqlDate, CqlDecimal, CqlTime, CqlTimestamp, CqlValue};

use crate::writer::relational::convert::{ColumnKind, SqlValue};
use crate::writer::relational::table::TableSchema;

/// Columns of a table: name, CQL type, kind (`partition_key`, `clustering`, `regular`, `static`).
pub const CATALOG_CQL: &str = "SELECT column_name, type, kind FROM system_schema.columns \
                               WHERE keyspace_name = ? AND table_name = ?";

/// Quotes an identifier, doubling embedded quotes (quoted names are case-sensitive).
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn table_name(table: &TableSchema) -> String {
    match &table.schema {
        Some(keyspace) => format!("{}.{}", quote(keyspace), quote(&table.table)),
        None => quote(&table.table),
    }
}

/// `INSERT INTO ks.t (...) VALUES (?, ...)`: Cassandra inserts overwrite, so this is the upsert.
pub fn insert_cql(table: &TableSchema) -> String {
    let names: Vec<String> = table.columns.iter().map(|c| quote(&c.name)).collect();
    let marks = vec!["?"; names.len()];
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        table_name(table),
        names.join(", "),
        marks.join(", ")
    )
}

/// `DELETE FROM ks.t WHERE k1 = ? AND ...`, binding the keys in order.
pub fn delete_cql(table: &TableSchema) -> String {
    let conditions: Vec<String> = table
        .key_columns()
        .iter()
        .map(|c| format!("{} = ?", quote(&c.name)))
        .collect();
    format!(
        "DELETE FROM {} WHERE {}",
        table_name(table),
        conditions.join(" AND ")
    )
}

/// The category a CQL type converts values to.
pub fn cql_kind(cql_type: &str) -> ColumnKind {
    match cql_type {
        "tinyint" | "smallint" => ColumnKind::Integer { bits: 16 },
        "int" => ColumnKind::Integer { bits: 32 },
        "bigint" | "counter" => ColumnKind::Integer { bits: 64 },
        "varint" | "decimal" => ColumnKind::Numeric {
            precision_scale: None,
        },
        "float" => ColumnKind::Float { bits: 32 },
        "double" => ColumnKind::Float { bits: 64 },
        "boolean" => ColumnKind::Boolean,
        "text" | "varchar" | "ascii" => ColumnKind::Text { max_chars: None },
        "timestamp" => ColumnKind::TimestampTz,
        "date" => ColumnKind::Date,
        "time" => ColumnKind::Time,
        "uuid" | "timeuuid" => ColumnKind::Uuid,
        "blob" => ColumnKind::Bytes,
        // Kept as JSON (text holding an array or object parsed), converted element by element.
        t if super::collections::collection(t).is_some() => ColumnKind::Json,
        _ => ColumnKind::Other,
    }
}

/// A converted value as the CQL type of its column; `None` is NULL.
pub fn cql_value(value: SqlValue, cql_type: &str) -> Result<Option<CqlValue>, &'static str> {
    const RANGE: &str = "out of range for the column";
    if let Some(collection) = super::collections::collection(cql_type) {
        return match value {
            SqlValue::Null => Ok(None),
            SqlValue::Json(v) => super::collections::collection_value(&v, &collection).map(Some),
            _ => Err("not a JSON array or object"),
        };
    }
    Ok(Some(match (value, cql_type) {
        (SqlValue::Null, _) => return Ok(None),
        (SqlValue::Int(i), "tinyint") => CqlValue::TinyInt(i8::try_from(i).map_err(|_| RANGE)?),
        (SqlValue::Int(i), "smallint") => CqlValue::SmallInt(i16::try_from(i).map_err(|_| RANGE)?),
        (SqlValue::Int(i), "int") => CqlValue::Int(i32::try_from(i).map_err(|_| RANGE)?),
        (SqlValue::Int(i), _) => CqlValue::BigInt(i),
        (SqlValue::Float(f), "float") => CqlValue::Float(f as f32),
        (SqlValue::Float(f), _) => CqlValue::Double(f),
        (SqlValue::Numeric(s), "varint") => {
            let n: i128 = s.parse().map_err(|_| "not a whole number")?;
            CqlValue::Varint(scylla::value::CqlVarint::from_signed_bytes_be(trimmed(n)))
        }
        (SqlValue::Numeric(s), _) => decimal(&s)?,
        (SqlValue::Bool(b), _) => CqlValue::Boolean(b),
        (SqlValue::Text(s), "ascii") if s.is_ascii() => CqlValue::Ascii(s),
        (SqlValue::Text(_), "ascii") => return Err("not ASCII text"),
        (SqlValue::Text(s), "text" | "varchar") => CqlValue::Text(s),
        (SqlValue::Text(_), _) => return Err("this CQL type is not supported by the writer"),
        (SqlValue::TimestampTz(t), _) => CqlValue::Timestamp(CqlTimestamp(t.timestamp_millis())),
        (SqlValue::Timestamp(t), _) => {
            CqlValue::Timestamp(CqlTimestamp(t.and_utc().timestamp_millis()))
        }
        (SqlValue::Date(d), _) => {
            let days = d.signed_duration_since(NaiveDate::default()).num_days();
            let shifted = days + (1i64 << 31);
            CqlValue::Date(CqlDate(u32::try_from(shifted).map_err(|_| RANGE)?))
        }
        (SqlValue::Time(t), _) => CqlValue::Time(CqlTime(
            i64::from(t.num_seconds_from_midnight()) * 1_000_000_000 + i64::from(t.nanosecond()),
        )),
        (SqlValue::Uuid(s), kind) => {
            let uuid = uuid::Uuid::parse_str(&s).map_err(|_| "not a UUID")?;
            if kind == "timeuuid" {
                CqlValue::Timeuuid(uuid.into())
            } else {
                CqlValue::Uuid(uuid)
            }
        }
        (SqlValue::Bytes(b), _) => CqlValue::Blob(b),
        (SqlValue::Json(v), _) => CqlValue::Text(v.to_string()),
    }))
}

/// About how many bytes a bound value takes on the wire (for the batch size limit): the length of
/// text and blobs, a fixed 16 for the other types, summed over a collection's elements.
pub fn value_bytes(value: &Option<CqlValue>) -> usize {
    value.as_ref().map_or(0, cql_bytes)
}

fn cql_bytes(value: &CqlValue) -> usize {
    match value {
        CqlValue::Text(s) | CqlValue::Ascii(s) => s.len(),
        CqlValue::Blob(b) => b.len(),
        CqlValue::List(items) | CqlValue::Set(items) => items.iter().map(cql_bytes).sum(),
        CqlValue::Map(entries) => entries
            .iter()
            .map(|(k, v)| cql_bytes(k) + cql_bytes(v))
            .sum(),
        _ => 16,
    }
}

/// The shortest big-endian two's complement bytes of `n`.
fn trimmed(n: i128) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let mut start = 0;
    while start < 15 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        let redundant = (b == 0x00 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    bytes[start..].to_vec()
}

/// `[-]digits[.digits][e[-]digits]` as a CQL decimal (unscaled value and scale), within 38 digits.
fn decimal(text: &str) -> Result<CqlValue, &'static str> {
    const BAD: &str = "not a decimal Cassandra can hold";
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i32>().map_err(|_| BAD)?),
        None => (text, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int_part}{frac_part}");
    let unscaled: i128 = digits.parse().map_err(|_| BAD)?;
    let scale = i32::try_from(frac_part.len())
        .map_err(|_| BAD)?
        .checked_sub(exponent)
        .ok_or(BAD)?;
    Ok(CqlValue::Decimal(
        CqlDecimal::from_signed_be_bytes_and_exponent(trimmed(unscaled), scale),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::writer::relational::convert::Column;

    fn table(keys: usize) -> TableSchema {
        TableSchema {
            schema: Some("hr".into()),
            table: "emp".into(),
            columns: ["id", "day", "Name"]
                .iter()
                .map(|n| Column {
                    name: n.to_string(),
                    sql_type: "text".into(),
                    kind: ColumnKind::Other,
                })
                .collect(),
            keys,
        }
    }

    #[test]
    fn insert_is_the_upsert_and_delete_matches_the_primary_key() {
        assert_eq!(
            insert_cql(&table(2)),
            "INSERT INTO \"hr\".\"emp\" (\"id\", \"day\", \"Name\") VALUES (?, ?, ?)"
        );
        assert_eq!(
            delete_cql(&table(2)),
            "DELETE FROM \"hr\".\"emp\" WHERE \"id\" = ? AND \"day\" = ?"
        );
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn values_take_the_exact_cql_type() {
        assert_eq!(
            cql_value(SqlValue::Int(7), "int"),
            Ok(Some(CqlValue::Int(7)))
        );
        assert_eq!(
            cql_value(SqlValue::Int(300), "tinyint"),
            Err("out of range for the column")
        );
        assert_eq!(cql_value(SqlValue::Null, "int"), Ok(None));
        let date = NaiveDate::from_ymd_opt(1970, 1, 2).unwrap();
        assert_eq!(
            cql_value(SqlValue::Date(date), "date"),
            Ok(Some(CqlValue::Date(CqlDate((1 << 31) + 1))))
        );
        assert_eq!(
            cql_value(SqlValue::Numeric("-12.50".into()), "decimal"),
            Ok(Some(CqlValue::Decimal(
                CqlDecimal::from_signed_be_bytes_and_exponent(vec![0xfb, 0x1e], 2)
            )))
        );
        // The scale is the fraction's length minus the exponent: one that leaves i32 is refused,
        // not wrapped round to another number (and, in a build with overflow checks, a panic).
        assert_eq!(
            cql_value(SqlValue::Numeric("1.5e-2147483647".into()), "decimal"),
            Err("not a decimal Cassandra can hold")
        );
        assert_eq!(
            cql_value(SqlValue::Numeric("15e2147483647".into()), "decimal"),
            Ok(Some(CqlValue::Decimal(
                CqlDecimal::from_signed_be_bytes_and_exponent(vec![15], -2147483647)
            )))
        );
        assert_eq!(
            cql_value(SqlValue::Text("é".into()), "ascii"),
            Err("not ASCII text")
        );
        assert_eq!(cql_kind("map<text, int>"), ColumnKind::Json);
        assert_eq!(
            cql_value(SqlValue::Json(serde_json::json!([1])), "frozen<list<int>>"),
            Ok(Some(CqlValue::List(vec![CqlValue::Int(1)])))
        );
        assert_eq!(cql_value(SqlValue::Null, "set<int>"), Ok(None));
        assert_eq!(
            cql_value(SqlValue::Text("x".into()), "list<int>"),
            Err("not a JSON array or object")
        );
        assert_eq!(cql_kind("tuple<int, text>"), ColumnKind::Other);
        assert_eq!(cql_kind("timestamp"), ColumnKind::TimestampTz);
    }

    #[test]
    fn value_sizes_count_text_and_blobs() {
        assert_eq!(value_bytes(&None), 0);
        assert_eq!(value_bytes(&Some(CqlValue::Text("héllo".into()))), 6);
        assert_eq!(value_bytes(&Some(CqlValue::Blob(vec![0; 40]))), 40);
        let list = CqlValue::List(vec![CqlValue::Text("ab".into()), CqlValue::Int(1)]);
        assert_eq!(value_bytes(&Some(list.clone())), 18);
        let map = CqlValue::Map(vec![(CqlValue::Text("k".into()), list)]);
        assert_eq!(value_bytes(&Some(map)), 19);
        assert_eq!(value_bytes(&Some(CqlValue::BigInt(1))), 16);
    }

    #[test]
    fn integers_encode_in_their_shortest_form() {
        assert_eq!(trimmed(0), [0]);
        assert_eq!(trimmed(127), [0x7f]);
        assert_eq!(trimmed(128), [0x00, 0x80]);
        assert_eq!(trimmed(-1), [0xff]);
        assert_eq!(trimmed(-129), [0xff, 0x7f]);
    }
}
