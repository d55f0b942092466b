//! Tests of array columns (`ColumnKind::Array`) on a real server: JSON arrays, strings holding them and
//! array literals, one row at a time and in many-row runs.
//! Test-only: its `mod` line carries #[cfg(test)].

use serde_json::{json, Value};

use super::test_server::{database, sql, TestDb};
use super::tests::{target, up};
use super::*;

const DDL: &str = "CREATE DOMAIN posint AS int4 CHECK (VALUE > 0); \
     CREATE TABLE a (id int4 PRIMARY KEY, ints int4[], words text[], grid int8[][], docs jsonb[], \
     doms posint[])";
const ROWS: &str = "SELECT id::text, ints::text, words::text, grid::text, docs::text, doms::text \
     FROM a ORDER BY a.id";

fn row(values: [Option<&str>; 6]) -> Vec<Option<String>> {
    values.iter().map(|v| v.map(str::to_string)).collect()
}

/// Six rows: typed JSON arrays (a document's), strings that hold them (a hash's), literals, empty
/// arrays and nulls.
fn batch(t: &std::sync::Arc<TableTarget>, first: i64) -> Vec<RowChange> {
    let r = |id: i64, values: [Value; 5]| {
        let mut all = vec![json!(id)];
        all.extend(values);
        up(t, all)
    };
    vec![
        r(
            first,
            [
                json!([1, 2, null]),
                json!(["a b", "quote \" and \\ back", "NULL", "{x}", ""]),
                json!([[1, 2], [3, 4]]),
                json!([{"k": [1, "v"]}, null]),
                json!([5]),
            ],
        ),
        r(
            first + 1,
            [
                json!("[1, 2, null]"),
                json!("[\"a b\", \"é\"]"),
                json!("[[1], [2]]"),
                json!("[{\"k\": 1}]"),
                json!("[7, 8]"),
            ],
        ),
        r(
            first + 2,
            [
                json!("{3,4}"),
                json!("{\"x y\",z}"),
                json!("{{5,6}}"),
                json!("{}"),
                json!("{9}"),
            ],
        ),
        r(
            first + 3,
            [json!([]), json!([]), json!([]), json!([]), json!(null)],
        ),
    ]
}

fn expected(first: i64) -> Vec<Vec<Option<String>>> {
    let ids: Vec<String> = (first..first + 4).map(|i| i.to_string()).collect();
    vec![
        row([
            Some(&ids[0]),
            Some("{1,2,NULL}"),
            Some(r#"{"a b","quote \" and \\ back","NULL","{x}",""}"#),
            Some("{{1,2},{3,4}}"),
            Some(r#"{"{\"k\": [1, \"v\"]}",NULL}"#),
            Some("{5}"),
        ]),
        row([
            Some(&ids[1]),
            Some("{1,2,NULL}"),
            Some(r#"{"a b",é}"#),
            Some("{{1},{2}}"),
            Some(r#"{"{\"k\": 1}"}"#),
            Some("{7,8}"),
        ]),
        row([
            Some(&ids[2]),
            Some("{3,4}"),
            Some(r#"{"x y",z}"#),
            Some("{{5,6}}"),
            Some("{}"),
            Some("{9}"),
        ]),
        row([
            Some(&ids[3]),
            Some("{}"),
            Some("{}"),
            Some("{}"),
            Some("{}"),
            None,
        ]),
    ]
}

/// A database of its own with the table, its target and a writer.
fn setup(name: &str) -> (TestDb, std::sync::Arc<TableTarget>, PostgresWriter) {
    let db = database(name, DDL);
    let t = target(
        None,
        "a",
        &["id"],
        &["ints", "words", "grid", "docs", "doms"],
    );
    let writer = PostgresWriter::connect(&db).unwrap();
    (db, t, writer)
}

#[test]
fn json_arrays_and_strings_holding_them_are_written_to_array_columns() {
    let (db, t, mut writer) = setup("array_columns");
    // Four rows alone (one statement each), then the same four in one many-row run.
    for change in batch(&t, 1) {
        assert_eq!(writer.write(&[change]), Ok(WriteOutcome::default()));
    }
    assert_eq!(writer.write(&batch(&t, 11)), Ok(WriteOutcome::default()));
    let mut want = expected(1);
    want.extend(expected(11));
    assert_eq!(sql(&db, ROWS), want);
}

#[test]
fn arrays_the_column_cannot_take_reject_their_row_only() {
    let (db, t, mut writer) = setup("array_refused");
    let r = |id: i64, ints: Value, grid: Value, doms: Value| {
        up(
            &t,
            vec![json!(id), ints, Value::Null, grid, Value::Null, doms],
        )
    };
    // Refused before the statement: not an array, a string that is not one.
    let batch = [
        r(1, json!([1]), Value::Null, Value::Null),
        r(2, json!({"a": 1}), Value::Null, Value::Null),
        r(3, json!("[1,"), Value::Null, Value::Null),
        r(4, json!([2]), Value::Null, Value::Null),
    ];
    let out = writer.write(&batch).unwrap();
    let rejected: Vec<(usize, &str)> = out.rejected.iter().map(|(i, r)| (*i, r.as_str())).collect();
    assert_eq!(
        rejected,
        [
            (
                1,
                "column `ints` of type integer[] cannot take a JSON object: not an array"
            ),
            (
                2,
                "column `ints` of type integer[] cannot take a JSON string: not a JSON array"
            ),
        ]
    );
    // Refused by the server, as a row's data (the applier then isolates the row): an element that
    // is no integer, a ragged grid, a domain's check.
    for refused in [
        r(5, json!("[1, \"x\"]"), Value::Null, Value::Null),
        r(6, Value::Null, json!([[1, 2], [3]]), Value::Null),
        r(7, Value::Null, Value::Null, json!([0])),
    ] {
        assert!(
            matches!(writer.write(&[refused]), Err(WriteError::Batch(_))),
            "a refused array is the row's error"
        );
    }
    assert_eq!(
        sql(&db, "SELECT id::text, ints::text FROM a ORDER BY a.id"),
        vec![
            vec![Some("1".to_string()), Some("{1}".to_string())],
            vec![Some("4".to_string()), Some("{2}".to_string())],
        ]
    );
}
