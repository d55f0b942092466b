//! Tests of runs written with integer arrays (`arrays`) on a real server.
//! Test-only: its `mod` line carries #[cfg(test)].

use serde_json::{json, Value};

use super::test_server::{database, sql};
use super::tests::{target, up};
use super::*;

const ROWS: &str = "SELECT id::text, small::text, mid::text, dom::text, name FROM t ORDER BY id";

fn row(values: [&str; 5]) -> Vec<Option<String>> {
    values.iter().map(|v| Some(v.to_string())).collect()
}

#[test]
fn integer_columns_of_every_width_and_a_domain_are_written_from_runs() {
    let db = database(
        "typed_runs",
        "CREATE DOMAIN posint AS int4 CHECK (VALUE > 0); \
         CREATE TABLE t (id int8 PRIMARY KEY, small int2, mid int4, dom posint, name text)",
    );
    let t = target(None, "t", &["id"], &["small", "mid", "dom", "name"]);
    let mut writer = PostgresWriter::connect(&db).unwrap();
    let r = |id: Value, small: Value, mid: Value, dom: Value, name: &str| {
        up(&t, vec![id, small, mid, dom, json!(name)])
    };
    let batch = [
        r(
            json!("1"),
            json!(-32768),
            json!("2147483647"),
            json!(5),
            "a",
        ),
        r(
            json!(9_007_199_254_740_991i64),
            json!("32767"),
            json!(-1),
            json!("6"),
            "b",
        ),
        r(json!("-3"), Value::Null, json!(0), json!(7), "c"),
        r(json!(4), json!(1), json!(2), json!(3), "d"),
    ];
    assert_eq!(writer.write(&batch), Ok(WriteOutcome::default()));
    assert_eq!(
        sql(&db, ROWS),
        vec![
            row(["-3", "", "0", "7", "c"])
                .into_iter()
                .enumerate()
                .map(|(i, v)| v.filter(|_| i != 1))
                .collect(),
            row(["1", "-32768", "2147483647", "5", "a"]),
            row(["4", "1", "2", "3", "d"]),
            row(["9007199254740991", "32767", "-1", "6", "b"]),
        ]
    );

    // A run of deletes by integer keys, then upserts again over the same keys.
    let del = |id: i64| RowChange {
        target: t.clone(),
        op: RowOp::Delete,
        values: vec![
            json!(id),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
        ],
    };
    let batch = [del(1), del(4), del(-3)];
    assert_eq!(writer.write(&batch), Ok(WriteOutcome::default()));
    assert_eq!(
        sql(&db, "SELECT id::text FROM t"),
        vec![vec![Some("9007199254740991".into())]]
    );

    // The domain's check still applies to a value bound as an integer: the run is refused whole.
    let batch = [
        r(json!(10), json!(1), json!(1), json!(1), "ok"),
        r(json!(11), json!(1), json!(1), json!(0), "breaks the domain"),
    ];
    let refused = writer.write(&batch);
    assert!(
        matches!(&refused, Err(WriteError::Batch(m)) if m.contains("posint")),
        "{refused:?}"
    );
    assert_eq!(
        sql(&db, "SELECT count(*)::text FROM t"),
        vec![vec![Some("1".into())]]
    );
}

#[test]
fn the_typed_statement_binds_integer_arrays_and_casts_like_the_text_one() {
    use super::super::convert::Column;
    let col = |name: &str, sql_type: &str, kind| Column {
        name: name.into(),
        sql_type: sql_type.into(),
        kind,
    };
    let schema = TableSchema {
        schema: None,
        table: "t".into(),
        columns: vec![
            col("id", "bigint", ColumnKind::Integer { bits: 64 }),
            col("name", "text", ColumnKind::Text { max_chars: None }),
            col("age", "smallint", ColumnKind::Integer { bits: 16 }),
        ],
        keys: 1,
    };
    let types = arrays::typed_arrays(&schema, 3).unwrap();
    let sql = runs::unnest_upsert_sql(&schema, true, Some(&types));
    assert!(
        sql.contains(
            "SELECT CAST(u.c0 AS bigint), CAST(u.c1 AS text), CAST(u.c2 AS smallint) FROM \
                      unnest($1::int8[], $2::text[], $3::int2[]) AS u(c0, c1, c2)"
        ),
        "{sql}"
    );
    assert!(runs::unnest_upsert_sql(&schema, true, None)
        .contains("unnest($1::text[], $2::text[], $3::text[])"));
    let keys = arrays::typed_arrays(&schema, 1).unwrap();
    assert!(runs::unnest_delete_sql(&schema, Some(&keys)).contains("unnest($1::int8[]) AS u(c0)"));
}
