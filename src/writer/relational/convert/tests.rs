//! Conversion tests: every column category from hash strings and JSON values, and the reasons given.
//! Test-only: its `mod` line carries #[cfg(test)].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use serde_json::json;

fn col(kind: ColumnKind) -> Column {
    Column {
        name: "c".into(),
        sql_type: "t".into(),
        kind,
    }
}

#[test]
fn text_as_is_is_only_the_text_conversion_would_give_back() {
    let text = col(ColumnKind::Text { max_chars: None });
    let short = col(ColumnKind::Text { max_chars: Some(2) });
    let int = col(ColumnKind::Integer { bits: 16 });
    let cases: [(&Column, Value); 14] = [
        (&text, json!("héllo")),
        (&short, json!("éé")),
        (&short, json!("abc")),
        (&text, json!(7)),
        (&int, json!("42")),
        (&int, json!("-42")),
        (&int, json!("0")),
        (&int, json!("-0")),
        (&int, json!("042")),
        (&int, json!("+42")),
        (&int, json!(" 42")),
        (&int, json!("70000")),
        (&int, json!("")),
        (&col(ColumnKind::Uuid), json!("ABC")),
    ];
    let borrowed: Vec<bool> = cases
        .iter()
        .map(|(c, v)| c.text_as_is(v).is_some())
        .collect();
    assert_eq!(
        borrowed,
        [
            true, true, false, false, true, true, true, false, false, false, false, false, false,
            false
        ]
    );
    // Where it borrows, it gives what the conversion gives.
    for (c, v) in &cases {
        if let Some(t) = c.text_as_is(v) {
            let converted = match c.convert(v).unwrap() {
                SqlValue::Int(i) => i.to_string(),
                SqlValue::Text(s) => s,
                other => panic!("{other:?}"),
            };
            assert_eq!(t, converted);
        }
    }
}

/// Each input converts to its expected value.
pub(in crate::writer::relational) fn accepts(kind: ColumnKind, cases: &[(Value, SqlValue)]) {
    for (input, want) in cases {
        assert_eq!(col(kind).convert(input).as_ref(), Ok(want), "{input}");
    }
}

/// Each input is refused.
pub(in crate::writer::relational) fn refuses(kind: ColumnKind, inputs: &[Value]) {
    for input in inputs {
        assert!(col(kind).convert(input).is_err(), "{input}");
    }
}

const INT8: ColumnKind = ColumnKind::Integer { bits: 64 };

#[test]
fn integers_come_from_strings_numbers_and_booleans() {
    let cases = [
        (json!("42"), 42),
        (json!(" -7 "), -7),
        (json!(42), 42),
        (json!(42.0), 42),
        (json!(true), 1),
        // Written as text the same values convert as they do as JSON numbers, exactly.
        (json!("42.0"), 42),
        (json!("+42"), 42),
        (json!("1e3"), 1000),
        (json!("-4.2E1"), -42),
        (json!("50e-1"), 5),
        (json!("0.000"), 0),
        (json!("9223372036854775807.00"), i64::MAX),
        (json!("-9.223372036854775808e18"), i64::MIN),
    ];
    accepts(INT8, &cases.map(|(v, i)| (v, SqlValue::Int(i))));
    refuses(
        INT8,
        &[
            json!("4.5"),
            json!(4.5),
            json!("99999999999999999999"),
            json!([1]),
            json!("5e-1"),
            json!("1e19"),
            json!("1e999999999"),
            json!("1.2.3"),
            json!("e3"),
            json!("."),
            json!("12abc"),
        ],
    );
    accepts(
        ColumnKind::Integer { bits: 16 },
        &[(json!("32767"), SqlValue::Int(32767))],
    );
    refuses(
        ColumnKind::Integer { bits: 16 },
        &[json!("32768"), json!(-32769)],
    );
    refuses(ColumnKind::Integer { bits: 32 }, &[json!(3_000_000_000i64)]);
}

#[test]
fn reasons_name_column_type_and_json_type_but_not_the_value() {
    let c = Column {
        name: "age".into(),
        sql_type: "bigint".into(),
        kind: INT8,
    };
    let err = c.convert(&json!("secret-abc")).unwrap_err();
    assert_eq!(
        err,
        "column `age` of type bigint cannot take a JSON string: not an integer"
    );
    let err = c.convert(&json!(1e300)).unwrap_err();
    assert_eq!(
        err,
        "column `age` of type bigint cannot take a JSON number: out of range"
    );
    let err = c.convert(&json!({"a": 1})).unwrap_err();
    assert!(err.contains("JSON object"), "{err}");
}

#[test]
fn null_is_null_for_every_kind() {
    for kind in [
        INT8,
        ColumnKind::Boolean,
        ColumnKind::Json,
        ColumnKind::Date,
        ColumnKind::Other,
    ] {
        accepts(kind, &[(Value::Null, SqlValue::Null)]);
    }
}

#[test]
fn floats_and_decimals_are_range_checked() {
    let f4 = ColumnKind::Float { bits: 32 };
    accepts(
        f4,
        &[
            (json!("1.5"), SqlValue::Float(1.5)),
            (json!(2), SqlValue::Float(2.0)),
        ],
    );
    refuses(f4, &[json!("1e300"), json!("x"), json!(true)]);
    // Past f64's range the text parses as infinity or zero: refused, as the databases would.
    let f8 = ColumnKind::Float { bits: 64 };
    refuses(f8, &[json!("1e400"), json!("-1e400"), json!("1e-400")]);
    accepts(
        f8,
        &[
            (json!("-inf"), SqlValue::Float(f64::NEG_INFINITY)),
            (json!("0.0e-400"), SqlValue::Float(0.0)),
        ],
    );
    let num = ColumnKind::Numeric {
        precision_scale: Some((5, 2)),
    };
    let cases = [
        ("123.45", "123.45"),
        // Exponents are written out (SQL Server does not read them in decimal text).
        ("-0.001e2", "-0.1"),
        ("1.5E2", "150"),
        ("+2.50e-3", "0.0025"),
        ("0e5", "0"),
        ("nan", "NaN"),
        ("-Infinity", "-Infinity"),
    ];
    accepts(
        num,
        &cases.map(|(i, o)| (json!(i), SqlValue::Numeric(o.into()))),
    );
    accepts(num, &[(json!(1.5), SqlValue::Numeric("1.5".into()))]);
    // An exponent at the edge of i64 overflowed the digit count (a panic in a debug build, a
    // wrong "out of range" in a release one): the value is about zero and fits.
    let tiny = "0.01e-9223372036854775808";
    assert_eq!(decimal_integer_digits(tiny), Some(0));
    accepts(num, &[(json!(tiny), SqlValue::Numeric(tiny.into()))]);
    // serde_json prints 1e-7 with an exponent.
    let wide = ColumnKind::Numeric {
        precision_scale: Some((18, 8)),
    };
    accepts(
        wide,
        &[(json!(0.0000001), SqlValue::Numeric("0.0000001".into()))],
    );
    refuses(
        num,
        &[
            json!("1234.5"),
            json!("1.5e3"),
            json!("1.2.3"),
            json!("."),
            json!("1e"),
            json!(true),
        ],
    );
}

#[test]
fn booleans_accept_the_usual_spellings() {
    let yes =
        ["true", "TRUE", "t", "1", "yes", "On", "Y"].map(|s| (json!(s), SqlValue::Bool(true)));
    let no = ["false", "F", "0", "no", "OFF", "n"].map(|s| (json!(s), SqlValue::Bool(false)));
    accepts(ColumnKind::Boolean, &yes);
    accepts(ColumnKind::Boolean, &no);
    accepts(
        ColumnKind::Boolean,
        &[
            (json!(false), SqlValue::Bool(false)),
            (json!(1), SqlValue::Bool(true)),
        ],
    );
    refuses(ColumnKind::Boolean, &[json!("maybe"), json!(2), json!("")]);
}

#[test]
fn uuids_bytes_and_json() {
    let u = SqlValue::Uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into());
    let forms = [
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "{A0EEBC999C0B4EF8BB6D6BB9BD380A11}",
    ];
    accepts(ColumnKind::Uuid, &forms.map(|s| (json!(s), u.clone())));
    refuses(
        ColumnKind::Uuid,
        &[
            json!("a0eebc99-9c0b4-ef8-bb6d-6bb9bd380a11"),
            json!("xyz"),
            json!(1),
        ],
    );
    let bytes = [
        (json!("\\x00ff"), SqlValue::Bytes(vec![0, 255])),
        (json!("hi"), SqlValue::Bytes(b"hi".to_vec())),
    ];
    accepts(ColumnKind::Bytes, &bytes);
    refuses(
        ColumnKind::Bytes,
        &[json!("\\xzz"), json!("\\x0"), json!([1])],
    );
    let docs = [
        (json!("{\"a\":1}"), json!({"a": 1})),
        (json!(" [1]"), json!([1])),
        (json!("plain"), json!("plain")),
        (json!("123"), json!("123")),
        (json!("null"), json!("null")),
        (json!("true"), json!("true")),
        (json!("[not json"), json!("[not json")),
        (json!([1, 2]), json!([1, 2])),
    ];
    accepts(ColumnKind::Json, &docs.map(|(i, o)| (i, SqlValue::Json(o))));
}

#[test]
fn text_takes_anything_within_its_length() {
    let text = ColumnKind::Text { max_chars: Some(3) };
    let cases = [
        (json!("abc"), "abc"),
        (json!("äöü"), "äöü"),
        (json!(12), "12"),
    ];
    accepts(text, &cases.map(|(i, o)| (i, SqlValue::Text(o.into()))));
    refuses(text, &[json!("abcd")]);
    accepts(
        ColumnKind::Other,
        &[(json!({"a": 1}), SqlValue::Text("{\"a\":1}".into()))],
    );
    accepts(
        ColumnKind::Any,
        &[
            (json!(7), SqlValue::Int(7)),
            (json!("7"), SqlValue::Text("7".into())),
        ],
    );
}

#[test]
fn arrays_become_literals_and_other_text_is_left_to_the_database() {
    let array = col(ColumnKind::Array);
    let literal = |v: Value| match array.convert(&v) {
        Ok(SqlValue::Text(s)) => s,
        other => panic!("{v}: {other:?}"),
    };
    assert_eq!(
        literal(json!([1, 2.5, null, true])),
        r#"{"1","2.5",NULL,"true"}"#
    );
    assert_eq!(
        literal(json!(["a\"b", "c\\d", "NULL"])),
        r#"{"a\"b","c\\d","NULL"}"#
    );
    assert_eq!(literal(json!([[1], [2]])), r#"{{"1"},{"2"}}"#);
    assert_eq!(literal(json!([{"k": "v"}])), r#"{"{\"k\":\"v\"}"}"#);
    assert_eq!(literal(json!([])), "{}");
    assert_eq!(literal(json!(" [1, [2]]")), r#"{"1",{"2"}}"#);
    assert_eq!(literal(json!("{1,2}")), "{1,2}");
    assert!(array.convert(&json!("[1,")).is_err());
    assert!(array.convert(&json!("[1] x")).is_err());
    assert!(array.convert(&json!(7)).is_err());
    assert!(array.convert(&json!({"a": 1})).is_err());
    // A literal goes as it is; a string holding a JSON array is converted first.
    assert_eq!(array.text_as_is(&json!("{1,2}")), Some("{1,2}"));
    assert_eq!(array.text_as_is(&json!(" [1]")), None);
}

#[test]
fn tiny_booleans_take_booleans_and_integers_of_a_byte() {
    let tiny = col(ColumnKind::TinyBoolean);
    let cases = [
        (json!(true), 1),
        (json!("no"), 0),
        (json!("1"), 1),
        (json!(5), 5),
        (json!("-128"), -128),
        (json!("127"), 127),
        (json!(7.0), 7),
    ];
    for (value, want) in cases {
        assert_eq!(tiny.convert(&value), Ok(SqlValue::Int(want)), "{value}");
    }
    for refused in [
        json!(128),
        json!("-129"),
        json!("maybe"),
        json!(1.5),
        json!([1]),
    ] {
        let err = tiny.convert(&refused).unwrap_err();
        assert!(
            err.ends_with("neither a boolean nor an integer from -128 to 127"),
            "{err}"
        );
    }
}
