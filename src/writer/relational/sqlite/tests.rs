//! SQLite writer tests: conformance against real files, error classes, opening.
use super::*;
use crate::writer::conformance::{conformance_tests, Harness, EMP_DDL};
use serde_json::{json, Value};
use std::sync::Arc;

/// A database file in a fresh temporary folder, holding `ddl`.
fn database(ddl: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db").to_string_lossy().into_owned();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(ddl)
        .unwrap();
    (dir, path)
}

/// Each value of each row of `sql`, as `format!("{:?}")` of SQLite's own type (`Integer(1)`).
fn typed_rows(path: &str, sql: &str) -> Vec<Vec<SqliteValue>> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| (0..n).map(|i| r.get(i)).collect())
        .unwrap();
    rows.collect::<rusqlite::Result<_>>().unwrap()
}

/// A writer that waits at most 50 ms for a lock, so that a held lock is a quick transient error.
fn impatient(path: &str) -> Box<dyn Writer> {
    let mut writer = SqliteWriter::open(path).unwrap();
    writer.set_busy_timeout(Duration::from_millis(50)).unwrap();
    Box::new(writer)
}

fn harness(_test: &str) -> Harness {
    let (dir, path) = database(EMP_DDL);
    let writer = impatient(&path);
    let (again, locked) = (path.clone(), path.clone());
    let connect = move || impatient(&again);
    // An outage: another connection holds the write lock.
    let mut holder: Option<rusqlite::Connection> = None;
    let outage = move |start: bool| {
        // Ending the outage closes the connection, which rolls its transaction back.
        drop(holder.take());
        if start {
            let other = rusqlite::Connection::open(&locked).unwrap();
            other.execute_batch("BEGIN IMMEDIATE").unwrap();
            holder = Some(other);
        }
    };
    let read = move |sql: &str| {
        let _keep = &dir;
        let text = |v: SqliteValue| match v {
            SqliteValue::Null => None,
            SqliteValue::Integer(i) => Some(i.to_string()),
            SqliteValue::Real(f) => Some(f.to_string()),
            SqliteValue::Text(s) => Some(s),
            SqliteValue::Blob(b) => Some(format!("{b:?}")),
        };
        let rows = typed_rows(&path, sql);
        rows.into_iter()
            .map(|r| r.into_iter().map(text).collect())
            .collect()
    };
    Harness::table(writer, read, connect, "").with_outage(outage)
}

conformance_tests!(conformance, super::harness, relational);

fn up(t: &Arc<TableTarget>, values: Vec<Value>) -> RowChange {
    RowChange {
        target: t.clone(),
        op: RowOp::Upsert,
        values,
    }
}

#[test]
fn a_missing_file_is_a_schema_error_naming_it_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.db").display().to_string();
    let err = SqliteWriter::open(&path).err();
    assert!(
        matches!(&err, Some(WriteError::Schema(m)) if m.contains(&path) && m.contains("does not exist")),
        "{err:?}"
    );
    assert!(!std::path::Path::new(&path).exists());
}

#[test]
fn values_are_bound_by_column_affinity() {
    let (_dir, path) = database(
        "CREATE TABLE t (k TEXT PRIMARY KEY, i INT, r REAL, n NUMERIC, b BOOLEAN, ts DATETIME, \
         d DATE, j JSON, x BLOB, a)",
    );
    let cols = ["k", "i", "r", "n", "b", "ts", "d", "j", "x", "a"];
    let t = Arc::new(TableTarget {
        redis: None,
        schema: Some("main".into()),
        table: "t".into(),
        keys: vec!["k".into()],
        columns: cols.iter().map(|c| c.to_string()).collect(),
    });
    let from_strings = [
        "s",
        "42",
        "1.5",
        "12.50",
        "yes",
        "2024-01-02T05:04:05+02:00",
        "2024-01-02",
        "{\"a\":[1]}",
        "\\x00ff",
        "7",
    ];
    let from_json = [
        json!("j"),
        json!(42),
        json!(1.5),
        json!(12.5),
        json!(true),
        json!(1704164645),
        json!("2024-01-02"),
        json!({"a": [1]}),
        json!("hi"),
        json!(7),
    ];
    let batch = [
        up(&t, from_strings.iter().map(|s| json!(s)).collect()),
        up(&t, from_json.to_vec()),
    ];
    let mut writer = SqliteWriter::open(&path).unwrap();
    assert_eq!(writer.write(&batch), Ok(WriteOutcome::default()));
    let common = |k: &str, x: &[u8], a: SqliteValue| {
        use SqliteValue::*;
        vec![
            Text(k.into()),
            Integer(42),
            Real(1.5),
            Real(12.5),
            Integer(1),
            Text("2024-01-02 03:04:05".into()),
            Text("2024-01-02".into()),
            Text("{\"a\":[1]}".into()),
            Blob(x.to_vec()),
            a,
        ]
    };
    let want = [
        common("j", b"hi", SqliteValue::Integer(7)),
        common("s", &[0, 255], SqliteValue::Text("7".into())),
    ];
    assert_eq!(typed_rows(&path, "SELECT * FROM t ORDER BY k"), want);
}

#[test]
fn a_value_the_tables_own_sql_refuses_is_the_rows_fault() {
    // json_extract over malformed JSON fails with a plain SQLITE_ERROR once the statement runs:
    // about the row (split and reject it), not the schema (retried forever).
    let (_dir, path) = database(
        "CREATE TABLE g (k TEXT PRIMARY KEY, v TEXT, \
         a TEXT GENERATED ALWAYS AS (json_extract(v, '$.a')))",
    );
    let t = Arc::new(TableTarget {
        redis: None,
        schema: Some("main".into()),
        table: "g".into(),
        keys: vec!["k".into()],
        columns: vec!["k".into(), "v".into()],
    });
    let mut writer = SqliteWriter::open(&path).unwrap();
    let bad = [up(&t, vec![json!("1"), json!("not json")])];
    assert!(
        matches!(writer.write(&bad), Err(WriteError::Batch(_))),
        "{:?}",
        writer.write(&bad)
    );
    let good = [up(&t, vec![json!("2"), json!("{\"a\": 1}")])];
    assert_eq!(writer.write(&good), Ok(WriteOutcome::default()));
}

#[test]
fn keys_without_a_unique_index_are_a_schema_error() {
    let (_dir, path) = database("CREATE TABLE plain (id INTEGER, name TEXT)");
    let mut writer = SqliteWriter::open(&path).unwrap();
    let t = TableTarget {
        redis: None,
        schema: None,
        table: "plain".into(),
        keys: vec!["id".into()],
        columns: vec!["id".into(), "name".into()],
    };
    let err = writer.check(&t).unwrap_err();
    assert!(
        matches!(&err, WriteError::Schema(m) if m.contains("ON CONFLICT")),
        "{err}"
    );
}

#[test]
fn declared_types_map_to_kinds() {
    assert_eq!(sqlite_kind("BIGINT"), ColumnKind::Integer { bits: 64 });
    assert_eq!(
        sqlite_kind("varchar(10)"),
        ColumnKind::Text { max_chars: None }
    );
    assert_eq!(
        sqlite_kind("DOUBLE PRECISION"),
        ColumnKind::Float { bits: 64 }
    );
    assert_eq!(
        sqlite_kind("DECIMAL(10,2)"),
        ColumnKind::Numeric {
            precision_scale: None
        }
    );
    assert_eq!(sqlite_kind("boolean"), ColumnKind::Boolean);
    assert_eq!(sqlite_kind("TIMESTAMP"), ColumnKind::Timestamp);
    assert_eq!(sqlite_kind("timestamptz"), ColumnKind::TimestampTz);
    assert_eq!(sqlite_kind("jsonb"), ColumnKind::Json);
    assert_eq!(sqlite_kind(""), ColumnKind::Any);
    assert_eq!(sqlite_kind("BLOB"), ColumnKind::Bytes);
}

#[test]
fn result_codes_map_to_error_kinds() {
    let kind = |code| classify_code(code, String::new());
    for code in [
        ErrorCode::DatabaseBusy,
        ErrorCode::DatabaseLocked,
        ErrorCode::SystemIoFailure,
        ErrorCode::DiskFull,
    ] {
        assert!(matches!(kind(code), WriteError::Transient(_)), "{code:?}");
    }
    assert!(matches!(
        kind(ErrorCode::ConstraintViolation),
        WriteError::Batch(_)
    ));
    assert!(matches!(
        kind(ErrorCode::TypeMismatch),
        WriteError::Batch(_)
    ));
    assert!(matches!(kind(ErrorCode::Unknown), WriteError::Schema(_)));
}
