//! Tests of batches written back to back (pipelined) on a real server.
//! Test-only: its `mod` line carries #[cfg(test)].

use std::ops::Range;

use serde_json::json;

use super::test_server::{database, sql};
use super::tests::{target, up};
use super::*;

fn names(db: &SqlServerConnection, ids: &str) -> Vec<Vec<Option<String>>> {
    sql(
        db,
        &format!("SELECT id::text, name FROM emp WHERE id IN ({ids}) ORDER BY emp.id"),
    )
}

fn row(id: i64, name: &str) -> Vec<Option<String>> {
    vec![Some(id.to_string()), Some(name.to_string())]
}

#[test]
fn pipelined_batches_land_in_order_and_stop_at_a_refused_one() {
    let db = database(
        "pipeline",
        "CREATE TABLE emp (id int8 PRIMARY KEY, name text CHECK (name <> 'bad')); \
         CREATE TABLE num (id numeric PRIMARY KEY, name text)",
    );
    let t = target(None, "emp", &["id"], &["name"]);
    let n = target(None, "num", &["id"], &["name"]);
    let batch = |ids: Range<i64>, name: &str| -> Vec<RowChange> {
        ids.map(|i| up(&t, vec![json!(i), json!(name)])).collect()
    };
    let mut writer = PostgresWriter::connect(&db).unwrap();
    let ok = || Ok(WriteOutcome::default());

    // Three batches of one statement each: written in order (the third rewrites rows of the first).
    let (a, b, c) = (batch(1..101, "a"), batch(101..201, "b"), batch(1..51, "c"));
    assert_eq!(writer.write_many(&[&a, &b, &c]), vec![ok(), ok(), ok()]);
    assert_eq!(
        names(&db, "1, 60, 150"),
        vec![row(1, "c"), row(60, "a"), row(150, "b")]
    );
    assert_eq!(
        sql(&db, "SELECT count(*)::text FROM emp"),
        vec![vec![Some("200".to_string())]]
    );

    // A refused batch in the middle: the results end with it, the batch before it is written.
    let (d, bad, e) = (
        batch(300..310, "d"),
        batch(400..402, "bad"),
        batch(500..510, "e"),
    );
    let results = writer.write_many(&[&d, &bad, &e]);
    assert_eq!(results.len(), 2, "{results:?}");
    assert_eq!(results[0], ok());
    assert!(
        matches!(&results[1], Err(WriteError::Batch(m)) if m.contains("emp_name_check")),
        "{results:?}"
    );
    assert_eq!(names(&db, "300, 400"), vec![row(300, "d")]);

    // A batch of two statements (upserts, then a delete) is written alone, in a transaction, after
    // the batches before it; the results end with it.
    let mut mixed = batch(600..603, "m");
    mixed.push(RowChange {
        target: t.clone(),
        op: RowOp::Delete,
        values: vec![json!(1), serde_json::Value::Null],
    });
    let (f, g) = (batch(700..705, "f"), batch(800..805, "g"));
    assert_eq!(writer.write_many(&[&f, &mixed, &g]), vec![ok(), ok()]);
    assert_eq!(
        names(&db, "1, 600, 700, 800"),
        vec![row(600, "m"), row(700, "f")]
    );

    // Keys equal as numbers but not as text in one batch: written again one row at a time.
    let twins = vec![
        up(&n, vec![json!("1.0"), json!("x")]),
        up(&n, vec![json!("1.00"), json!("y")]),
    ];
    let h = batch(900..905, "h");
    assert_eq!(writer.write_many(&[&twins, &h]), vec![ok()]);
    assert_eq!(
        sql(&db, "SELECT name FROM num"),
        vec![vec![Some("y".to_string())]]
    );
    assert_eq!(writer.write_many(&[&h]), vec![ok()]);
    assert_eq!(names(&db, "900, 904"), vec![row(900, "h"), row(904, "h")]);
}
