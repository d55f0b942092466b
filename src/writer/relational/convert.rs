//! Value conversion: a record's JSON value into a typed SQL value for one column's type category.
//!
//! Hash fields arrive as JSON strings ("42", "true", "2024-01-02T03:04:05Z") and JSON documents as typed
//! values, so every category accepts both. A failure gives a reason that names the column, its type and
//! the value's JSON type, never the value itself.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};

use super::temporal::{to_date, to_instant, to_time};
use serde_json::Value;

/// The type category of a column: what a value must be converted to before it is bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// A signed integer of `bits` (16, 32 or 64).
    Integer {
        /// Width in bits, for the range check.
        bits: u8,
    },
    /// A floating-point number of `bits` (32 or 64).
    Float {
        /// Width in bits, for the range check.
        bits: u8,
    },
    /// An exact decimal, with `(precision, scale)` when the column declares them.
    Numeric {
        /// Declared precision and scale, used to reject values with too many integer digits.
        precision_scale: Option<(u32, u32)>,
    },
    /// A boolean.
    Boolean,
    /// MySQL's `BOOLEAN`, a `tinyint(1)`: a boolean as 1 or 0, or an integer from -128 to 127 as it
    /// is (the column is a small integer that many schemas also use for flags and small counts).
    TinyBoolean,
    /// Text, with a length limit in characters when the column declares one.
    Text {
        /// Most characters the column takes.
        max_chars: Option<usize>,
    },
    /// A date and time without time zone.
    Timestamp,
    /// An instant (date and time with time zone), stored as UTC.
    TimestampTz,
    /// A calendar date.
    Date,
    /// A time of day without time zone.
    Time,
    /// A JSON document (json, jsonb, or SQLite JSON text).
    Json,
    /// A UUID.
    Uuid,
    /// Binary data (bytea, BLOB).
    Bytes,
    /// A PostgreSQL array: a JSON array (or a string holding one) becomes an array literal, any
    /// other text is left to the database to parse (`{1,2}`).
    Array,
    /// No declared type (SQLite): the value keeps its JSON type.
    Any,
    /// Any other type: the value's text, left to the database to parse.
    Other,
}

/// A value converted for a column, ready to be bound.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A decimal in its validated text form.
    Numeric(String),
    /// A boolean.
    Bool(bool),
    /// Text.
    Text(String),
    /// A date and time without time zone.
    Timestamp(NaiveDateTime),
    /// An instant in UTC.
    TimestampTz(DateTime<Utc>),
    /// A date.
    Date(NaiveDate),
    /// A time of day.
    Time(NaiveTime),
    /// A JSON document.
    Json(Value),
    /// A UUID in lower-case hyphenated form.
    Uuid(String),
    /// Binary data.
    Bytes(Vec<u8>),
}

/// One column of a target table as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Column name as the catalog spells it.
    pub name: String,
    /// Type as the catalog spells it (`bigint`, `character varying(10)`, `INTEGER`...).
    pub sql_type: String,
    /// Type category that values are converted to.
    pub kind: ColumnKind,
}

/// Why a value does not fit: completed by [`Column::convert`] into a reason naming the column.
pub(super) type Why = &'static str;

impl Column {
    /// Converts a JSON value for this column; the error is a reason naming the column, its type and the
    /// value's JSON type, never the value.
    pub fn convert(&self, value: &Value) -> Result<SqlValue, String> {
        convert_value(self.kind, value).map_err(|why| {
            format!(
                "column `{}` of type {} cannot take a JSON {}: {why}",
                self.name,
                self.sql_type,
                json_type(value)
            )
        })
    }

    /// The value's own text when converting it for this column would give that text back, so that
    /// a writer binding text can send it without a copy: a JSON string for a text column (within its
    /// length) or an untyped one, and for an integer column a JSON string that already is the
    /// integer's canonical text (in range, no sign but `-`, no leading zero, no blanks). `None` means:
    /// convert it.
    pub fn text_as_is<'v>(&self, value: &'v Value) -> Option<&'v str> {
        let Value::String(s) = value else {
            return None;
        };
        match self.kind {
            ColumnKind::Text { max_chars: None } | ColumnKind::Other => Some(s),
            ColumnKind::Array => (!s.trim_start().starts_with('[')).then_some(s.as_str()),
            // Characters are at most as many as bytes: count them only when it matters.
            ColumnKind::Text {
                max_chars: Some(max),
            } => (s.len() <= max || s.chars().count() <= max).then_some(s.as_str()),
            ColumnKind::Integer { bits } => {
                let digits = s.strip_prefix('-').unwrap_or(s);
                let canonical = !digits.is_empty()
                    && digits.bytes().all(|b| b.is_ascii_digit())
                    && (!digits.starts_with('0') || digits == s && digits == "0");
                (canonical && to_integer(value, bits).is_ok()).then_some(s.as_str())
            }
            _ => None,
        }
    }
}

/// The JSON type name of a value, for reasons.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Converts a value for a column of `kind`; the error is the bare reason (see [`Column::convert`]).
pub(crate) fn convert_value(kind: ColumnKind, value: &Value) -> Result<SqlValue, Why> {
    if value.is_null() {
        return Ok(SqlValue::Null);
    }
    match kind {
        ColumnKind::Integer { bits } => to_integer(value, bits).map(SqlValue::Int),
        ColumnKind::Float { bits } => to_float(value, bits).map(SqlValue::Float),
        ColumnKind::Numeric { precision_scale } => {
            to_numeric(value, precision_scale).map(SqlValue::Numeric)
        }
        ColumnKind::Boolean => to_bool(value).map(SqlValue::Bool),
        ColumnKind::TinyBoolean => to_bool(value)
            .map(i64::from)
            .or_else(|_| match to_integer(value, 8) {
                Ok(i) => Ok(i),
                Err(_) => Err("neither a boolean nor an integer from -128 to 127"),
            })
            .map(SqlValue::Int),
        ColumnKind::Text { max_chars } => {
            let text = to_text(value);
            match max_chars {
                Some(max) if text.chars().count() > max => Err("longer than the column allows"),
                _ => Ok(SqlValue::Text(text)),
            }
        }
        ColumnKind::Timestamp => to_instant(value).map(|t| SqlValue::Timestamp(t.naive_utc())),
        ColumnKind::TimestampTz => to_instant(value).map(SqlValue::TimestampTz),
        ColumnKind::Date => to_date(value).map(SqlValue::Date),
        ColumnKind::Time => to_time(value).map(SqlValue::Time),
        ColumnKind::Json => Ok(SqlValue::Json(to_json(value))),
        ColumnKind::Uuid => to_uuid(value).map(SqlValue::Uuid),
        ColumnKind::Bytes => to_bytes(value).map(SqlValue::Bytes),
        ColumnKind::Any => Ok(match value {
            Value::Bool(b) => SqlValue::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => SqlValue::Int(i),
                None => SqlValue::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => SqlValue::Text(s.clone()),
            other => SqlValue::Json(other.clone()),
        }),
        ColumnKind::Array => to_array_literal(value).map(SqlValue::Text),
        ColumnKind::Other => Ok(SqlValue::Text(to_text(value))),
    }
}

/// PostgreSQL arrays: a JSON array, or a string that holds one (a hash field keeps an array as
/// text), as an array literal (`[1, "a b", null]` → `{"1","a b",NULL}`; nested arrays are the
/// dimensions of a multidimensional array). Any other string is left as it is, for the database to
/// parse (`{1,2}` already is a literal).
fn to_array_literal(value: &Value) -> Result<String, Why> {
    match value {
        Value::Array(items) => {
            let mut literal = String::new();
            push_array(&mut literal, items);
            Ok(literal)
        }
        Value::String(s) if s.trim_start().starts_with('[') => {
            match serde_json::from_str::<Value>(s) {
                Ok(Value::Array(items)) => {
                    let mut literal = String::new();
                    push_array(&mut literal, &items);
                    Ok(literal)
                }
                _ => Err("not a JSON array"),
            }
        }
        Value::String(s) => Ok(s.clone()),
        _ => Err("not an array"),
    }
}

/// Appends `items` as `{...}`: every element quoted (the element type's input parses it), `NULL`
/// unquoted, a nested array as a sub-array, an object as its JSON text.
fn push_array(literal: &mut String, items: &[Value]) {
    literal.push('{');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            literal.push(',');
        }
        match item {
            Value::Null => literal.push_str("NULL"),
            Value::Array(inner) => push_array(literal, inner),
            Value::String(s) => push_quoted(literal, s),
            other => push_quoted(literal, &other.to_string()),
        }
    }
    literal.push('}');
}

fn push_quoted(literal: &mut String, text: &str) {
    literal.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            literal.push('\\');
        }
        literal.push(c);
    }
    literal.push('"');
}

fn to_integer(value: &Value, bits: u8) -> Result<i64, Why> {
    let n = match value {
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i,
            // 42.0 is an integer; 1e300 and 42.5 are not.
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.2e18 => f as i64,
            (None, Some(f)) if f.fract() == 0.0 => return Err("out of range"),
            _ => return Err("not an integer"),
        },
        Value::String(s) => integral(s.trim())?,
        Value::Bool(b) => i64::from(*b),
        _ => return Err("not an integer"),
    };
    let fits = match bits {
        8 => i8::try_from(n).is_ok(),
        16 => i16::try_from(n).is_ok(),
        32 => i32::try_from(n).is_ok(),
        _ => true,
    };
    if fits {
        Ok(n)
    } else {
        Err("out of range")
    }
}

/// An integer written as text: `42`, and also `42.0`, `+42` or `4.2e1` (exactly, without going through
/// a float), as the same values written as JSON numbers are.
fn integral(text: &str) -> Result<i64, Why> {
    match text.parse::<i64>() {
        Ok(i) => return Ok(i),
        Err(e)
            if matches!(
                e.kind(),
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow
            ) =>
        {
            return Err("out of range")
        }
        Err(_) => {}
    }
    let DecimalText {
        negative,
        digits,
        point,
    } = decimal_text(text).ok_or("not an integer")?;
    let Some(first) = digits.iter().position(|d| *d != b'0') else {
        return Ok(0);
    };
    let after_point = usize::try_from(point)
        .ok()
        .and_then(|p| digits.get(p..))
        .unwrap_or_default();
    if point <= first as i64 || after_point.iter().any(|d| *d != b'0') {
        return Err("not an integer");
    }
    if point - first as i64 > 19 {
        return Err("out of range");
    }
    let mut n: i128 = 0;
    for i in first as i64..point {
        let d = digits.get(i as usize).map_or(0, |d| d - b'0');
        n = n * 10 + i128::from(d);
    }
    let n = if negative { -n } else { n };
    i64::try_from(n).map_err(|_| "out of range")
}

fn to_float(value: &Value, bits: u8) -> Result<f64, Why> {
    let f = match value {
        Value::Number(n) => n.as_f64().ok_or("not a number")?,
        Value::String(s) => {
            let text = s.trim();
            let f = text.parse::<f64>().map_err(|_| "not a number")?;
            // `1e400` parses as infinity and `1e-400` as zero: out of range, as the databases
            // themselves say, unless the text asked for infinity.
            let asked_infinite = text.to_ascii_lowercase().contains("inf");
            let nonzero_digit = text
                .split(['e', 'E'])
                .next()
                .is_some_and(|m| m.bytes().any(|b| (b'1'..=b'9').contains(&b)));
            if (f.is_infinite() && !asked_infinite) || (f == 0.0 && nonzero_digit) {
                return Err("out of range");
            }
            f
        }
        _ => return Err("not a number"),
    };
    if bits == 32 && f.is_finite() && f.abs() > f64::from(f32::MAX) {
        return Err("out of range");
    }
    Ok(f)
}

fn to_numeric(value: &Value, precision_scale: Option<(u32, u32)>) -> Result<String, Why> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return Err("not a decimal number"),
    };
    match text.to_ascii_lowercase().as_str() {
        "nan" => return Ok("NaN".into()),
        "infinity" | "+infinity" | "inf" => return Ok("Infinity".into()),
        "-infinity" | "-inf" => return Ok("-Infinity".into()),
        _ => {}
    }
    let int_digits = decimal_integer_digits(&text).ok_or("not a decimal number")?;
    if let Some((precision, scale)) = precision_scale {
        // Rounding to the scale can still carry into one more digit (99.995 in numeric(4,2)); the
        // database refuses that case and the batch is split.
        if int_digits > i64::from(precision.saturating_sub(scale)) {
            return Err("out of range for the column's precision");
        }
    }
    Ok(positional(text))
}

/// `1.5e2` as `150`, `1e-7` as `0.0000001`: SQL Server does not read exponents in decimal text, and a
/// JSON number prints small values that way. Text without an exponent, or with one so large that the
/// digits would run past a thousand, is left as it is.
fn positional(text: String) -> String {
    if !text.contains(['e', 'E']) {
        return text;
    }
    let Some(DecimalText {
        negative,
        digits,
        point,
    }) = decimal_text(&text)
    else {
        return text;
    };
    if !(-1000..=1000).contains(&point) {
        return text;
    }
    let digits = String::from_utf8_lossy(&digits).into_owned();
    let sign = if negative { "-" } else { "" };
    let (whole, fraction) = if point <= 0 {
        (
            String::new(),
            format!("{}{digits}", "0".repeat((-point) as usize)),
        )
    } else if point as usize >= digits.len() {
        (
            format!("{digits}{}", "0".repeat(point as usize - digits.len())),
            String::new(),
        )
    } else {
        (
            digits[..point as usize].to_string(),
            digits[point as usize..].to_string(),
        )
    };
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction}")
    }
}

/// Counts the significant digits before the decimal point of `[+-]digits[.digits][e[+-]digits]`, or
/// `None` when the text is not such a number.
fn decimal_integer_digits(text: &str) -> Option<i64> {
    let d = decimal_text(text)?;
    let Some(first) = d.digits.iter().position(|c| *c != b'0') else {
        return Some(0);
    };
    Some(d.point.saturating_sub(first as i64).max(0))
}

/// `[+-]digits[.digits][e[+-]digits]` taken apart.
struct DecimalText {
    negative: bool,
    /// The digits before and after the point, without it.
    digits: Vec<u8>,
    /// Where the point falls among `digits`, the exponent applied (may be outside them).
    point: i64,
}

fn decimal_text(text: &str) -> Option<DecimalText> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], unsigned[at + 1..].parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty())
        || !all_digits(int_part)
        || !all_digits(frac_part)
    {
        return None;
    }
    Some(DecimalText {
        negative,
        digits: int_part.bytes().chain(frac_part.bytes()).collect(),
        point: (int_part.len() as i64).saturating_add(exponent),
    })
}

fn to_bool(value: &Value) -> Result<bool, Why> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            _ => Err("not a boolean"),
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "1" | "yes" | "y" | "on" => Ok(true),
            "false" | "f" | "0" | "no" | "n" | "off" => Ok(false),
            _ => Err("not a boolean"),
        },
        _ => Err("not a boolean"),
    }
}

/// A value's text: strings as they are, anything else as its JSON text.
fn to_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// JSON columns: typed values as they are; a string that holds a JSON object or array (a hash field
/// keeps a document as text) is parsed, any other string is a JSON string: `"123"`, `"true"` and
/// `"null"` stay strings, as a JSON document's string fields must.
fn to_json(value: &Value) -> Value {
    match value {
        Value::String(s) if s.trim_start().starts_with(['{', '[']) => {
            serde_json::from_str(s).unwrap_or_else(|_| value.clone())
        }
        other => other.clone(),
    }
}

/// UUIDs: 32 hex digits, hyphenated or not, optionally in braces; lower-cased and hyphenated.
fn to_uuid(value: &Value) -> Result<String, Why> {
    let Value::String(s) = value else {
        return Err("not a UUID");
    };
    let s = s.trim();
    let s = s
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .unwrap_or(s);
    let hex: String = if s.len() == 36 {
        let hyphens_ok = s
            .char_indices()
            .all(|(i, c)| matches!(i, 8 | 13 | 18 | 23) == (c == '-'));
        if !hyphens_ok {
            return Err("not a UUID");
        }
        s.chars().filter(|c| *c != '-').collect()
    } else {
        s.to_string()
    };
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("not a UUID");
    }
    let h = hex.to_ascii_lowercase();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

/// Binary: a string in PostgreSQL's hex form (`\x0a1b`) is decoded, any other string is its UTF-8 bytes.
fn to_bytes(value: &Value) -> Result<Vec<u8>, Why> {
    let Value::String(s) = value else {
        return Err("not binary data (expected a string)");
    };
    match s.strip_prefix("\\x") {
        Some(hex) => decode_hex(hex).ok_or("not valid hex after \\x"),
        None => Ok(s.as_bytes().to_vec()),
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
pub(super) mod tests;
