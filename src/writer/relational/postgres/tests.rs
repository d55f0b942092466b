//! Tests of the PostgreSQL writer against a real server (see `test_server`), and of its pure parts.
//! Test-only: its `mod` line carries #[cfg(test)].

use super::test_server::{database, database_on, free_port, settings, sql, PgServer, PG_BIN};
use super::*;
use crate::config::SqlServerConnection;
use crate::writer::conformance::{conformance_tests, Harness, EMP_DDL};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;

pub(super) fn target(
    schema: Option<&str>,
    table: &str,
    keys: &[&str],
    others: &[&str],
) -> Arc<TableTarget> {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Arc::new(TableTarget {
        redis: None,
        schema: schema.map(str::to_string),
        table: table.into(),
        keys: strings(keys),
        columns: strings(&[keys, others].concat()),
    })
}

pub(super) fn up(t: &Arc<TableTarget>, values: Vec<Value>) -> RowChange {
    RowChange {
        target: t.clone(),
        op: RowOp::Upsert,
        values,
    }
}

fn text(rows: &[&[Option<&str>]]) -> Vec<Vec<Option<String>>> {
    rows.iter()
        .map(|r| r.iter().map(|c| c.map(str::to_string)).collect())
        .collect()
}

const EMP: &str = "CREATE TABLE emp (id int8 PRIMARY KEY, name text NOT NULL, \
     email text UNIQUE, age int4 CHECK (age >= 0), code varchar(3))";
const EMP_COLUMNS: &[&str] = &["name", "email", "age", "code"];
const EMP_ROWS: &str = "SELECT id::text, name, email, age::text, code FROM emp ORDER BY id";

#[test]
fn every_type_converts_from_strings_and_typed_json() {
    let db = database(
        "types",
        "CREATE TABLE types (k int4 PRIMARY KEY, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, \
         n numeric(10,2), b boolean, t text, v varchar(5), ts timestamp, tz timestamptz, d date, \
         j json, jb jsonb, u uuid, by bytea, tm time)",
    );
    let t = target(
        None,
        "types",
        &["k"],
        &[
            "i2", "i4", "i8", "f4", "f8", "n", "b", "t", "v", "ts", "tz", "d", "j", "jb", "u",
            "by", "tm",
        ],
    );
    let strings = [
        "1",
        "-32768",
        "2147483647",
        "9223372036854775807",
        "1.5",
        "2.25",
        "12345678.9",
        "YES",
        "hé",
        "abcde",
        "2024-01-02T03:04:05.5Z",
        "2024-01-02 05:04:05+02:00",
        "2024-02-29",
        "{\"a\":[1,2]}",
        "{\"b\": null}",
        "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
        "\\x00ff",
        "13:05",
    ];
    let typed = vec![
        json!(2),
        json!(-32768),
        json!(2147483647),
        json!(i64::MAX),
        json!(1.5),
        json!(2.25),
        json!(12345678.9),
        json!(true),
        json!("hé"),
        json!("abcde"),
        json!(1704164645),
        json!(1704164645),
        json!("2024-02-29"),
        json!({"a": [1, 2]}),
        json!({"b": null}),
        json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        json!("\\x00ff"),
        json!("13:05:00"),
    ];
    let mut writer = PostgresWriter::connect(&db).unwrap();
    let batch = [
        up(&t, strings.iter().map(|s| json!(s)).collect()),
        up(&t, typed),
        up(&t, vec![json!(3)]),
    ];
    assert_eq!(writer.write(&batch).unwrap(), WriteOutcome::default());
    let got = sql(&db, "SELECT k::text, i2::text, i4::text, i8::text, f4::text, f8::text, n::text, b::text, t, v, \
         ts::text, tz::text, d::text, j::text, jb::text, u::text, by::text, tm::text FROM types ORDER BY k");
    let common = |k: &'static str, ts: &'static str| {
        vec![
            Some(k),
            Some("-32768"),
            Some("2147483647"),
            Some("9223372036854775807"),
            Some("1.5"),
            Some("2.25"),
            Some("12345678.90"),
            Some("true"),
            Some("hé"),
            Some("abcde"),
            Some(ts),
            Some("2024-01-02 03:04:05+00"),
            Some("2024-02-29"),
            Some("{\"a\":[1,2]}"),
            Some("{\"b\": null}"),
            Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            Some("\\x00ff"),
            Some("13:05:00"),
        ]
    };
    let mut nulls = vec![None; 18];
    nulls[0] = Some("3");
    assert_eq!(
        got,
        text(&[
            &common("1", "2024-01-02 03:04:05.5"),
            &common("2", "2024-01-02 03:04:05"),
            &nulls
        ])
    );
}

fn harness(test: &str) -> Harness {
    let db = std::rc::Rc::new(database(test, EMP_DDL));
    let writer = Box::new(PostgresWriter::connect(&db).unwrap());
    let (again, outage) = (db.clone(), db.clone());
    let connect = move || Box::new(PostgresWriter::connect(&again).unwrap()) as Box<dyn Writer>;
    let read = move |query: &str| sql(&db, query);
    // An outage: the server ends the writer's session (as on a restart or failover).
    let outage = move |start: bool| {
        if start {
            sql(
                &outage,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            );
        }
    };
    Harness::table(writer, read, connect, "public.").with_outage(outage)
}

conformance_tests!(conformance, super::harness, relational);

#[test]
fn schema_qualified_targets_and_case_folded_columns() {
    let db = database(
        "qualified",
        &format!(
            "CREATE SCHEMA hr; {}",
            EMP.replace("TABLE emp", "TABLE hr.emp")
        ),
    );
    let t = target(
        Some("hr"),
        "emp",
        &["ID"],
        &["Name", "email", "AGE", "code"],
    );
    let mut writer = PostgresWriter::connect(&db).unwrap();
    writer.check(&t).unwrap();
    let batch = [up(
        &t,
        vec![
            json!("1"),
            json!("ann"),
            json!("a@x"),
            json!("30"),
            json!("abc"),
        ],
    )];
    assert_eq!(writer.write(&batch), Ok(WriteOutcome::default()));
    let rows = "SELECT id::text, name, email, age::text, code FROM hr.emp ORDER BY id";
    assert_eq!(
        sql(&db, rows),
        text(&[&[Some("1"), Some("ann"), Some("a@x"), Some("30"), Some("abc")]])
    );
}

#[test]
fn values_postgres_would_refuse_reject_their_row_only() {
    let db = database(
        "rejected",
        &format!("{EMP}; CREATE TABLE docs (id int4 PRIMARY KEY, doc jsonb)"),
    );
    let t = target(None, "emp", &["id"], EMP_COLUMNS);
    let docs = target(None, "docs", &["id"], &["doc"]);
    let mut writer = PostgresWriter::connect(&db).unwrap();
    let batch = [
        up(&t, vec![json!(1), json!("a")]),
        up(
            &t,
            vec![json!(2), json!("b"), json!(null), json!(99_999_999_999i64)],
        ),
        up(
            &t,
            vec![
                json!(3),
                json!("c"),
                json!(null),
                json!(1),
                json!("toolong"),
            ],
        ),
        up(&t, vec![json!(4), json!("nul\u{0}")]),
        up(&docs, vec![json!(5), json!({"k": "nul\u{0}"})]),
        up(&t, vec![json!(6), json!("f")]),
    ];
    let out = writer.write(&batch).unwrap();
    let reasons: Vec<_> = out.rejected.iter().map(|(i, r)| (*i, r.as_str())).collect();
    let nul = "cannot take a JSON string: PostgreSQL text cannot hold a NUL character";
    assert_eq!(
        reasons,
        [
            (1, "column `age` of type integer cannot take a JSON number: out of range"),
            (2, "column `code` of type character varying(3) cannot take a JSON string: longer than the column allows"),
            (3, &format!("column `name` of type text {nul}")),
            (4, "column `doc` of type jsonb cannot take a JSON object: PostgreSQL text cannot hold a NUL character"),
        ]
    );
    let ids: Vec<_> = sql(&db, EMP_ROWS)
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(ids, [Some("1".to_string()), Some("6".to_string())]);
}

#[test]
fn constraint_errors_name_the_constraint_and_sqlstate_but_no_value() {
    let db = database("constraint", EMP);
    let t = target(None, "emp", &["id"], EMP_COLUMNS);
    let mut writer = PostgresWriter::connect(&db).unwrap();
    let batch = [
        up(&t, vec![json!(1), json!("a"), json!("same@x")]),
        up(&t, vec![json!(2), json!("b"), json!("same@x")]),
    ];
    let err = writer.write(&batch).unwrap_err();
    let WriteError::Batch(message) = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("\"emp_email_key\"") && message.contains("23505"),
        "{message}"
    );
    assert!(!message.contains("same@x"), "a value leaked: {message}");
    // The two rows were one statement, sent without BEGIN/COMMIT: refused as a whole, nothing stays.
    assert!(sql(&db, EMP_ROWS).is_empty());
    let err = writer
        .write(&[up(&t, vec![json!(1), json!("a"), json!(null), json!(-1)])])
        .unwrap_err();
    assert!(
        matches!(&err, WriteError::Batch(m) if m.contains("emp_age_check") && m.contains("23514")),
        "{err:?}"
    );
}

#[test]
fn missing_table_column_or_unique_key_is_a_schema_error() {
    let db = database("schema", "CREATE TABLE plain (id int4, name text)");
    let mut writer = PostgresWriter::connect(&db).unwrap();
    let missing = target(None, "emp", &["id"], &[]);
    assert_eq!(
        writer.check(&missing),
        Err(WriteError::Schema("table public.emp does not exist".into()))
    );
    let err = writer.write(&[up(&missing, vec![json!(1)])]).unwrap_err();
    assert_eq!(
        err,
        WriteError::Schema("table public.emp does not exist".into())
    );
    let elsewhere = target(Some("nope"), "plain", &["id"], &[]);
    assert_eq!(
        writer.check(&elsewhere),
        Err(WriteError::Schema("table nope.plain does not exist".into()))
    );
    let no_column = target(None, "plain", &["id"], &["x"]);
    assert_eq!(
        writer.check(&no_column),
        Err(WriteError::Schema(
            "table plain has no column `x`; it has: id, name".into()
        ))
    );
    let no_unique = target(None, "plain", &["id"], &["name"]);
    let err = writer.check(&no_unique).unwrap_err();
    assert!(
        matches!(&err, WriteError::Schema(m) if m.contains("ON CONFLICT") && m.contains("42P10")),
        "{err:?}"
    );
    // Fixed by an operator: the next write sees it.
    sql(&db, "ALTER TABLE plain ADD PRIMARY KEY (id)");
    writer
        .write(&[up(&no_unique, vec![json!(1), json!("a")])])
        .unwrap();
    let view = target(None, "plain_view", &["id"], &["name"]);
    sql(
        &db,
        "CREATE VIEW plain_view AS SELECT DISTINCT id, name FROM plain",
    );
    let err = writer.check(&view).unwrap_err();
    assert!(
        matches!(&err, WriteError::Schema(m) if m.contains("55000")),
        "{err:?}"
    );
}

#[test]
fn missing_rights_are_a_schema_error_and_read_only_is_transient() {
    let db = database(
        "rights",
        "CREATE TABLE plain (id int4 PRIMARY KEY, name text)",
    );
    let role = format!("rdi_reader_{}", std::process::id());
    sql(&db, &format!("DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN PASSWORD 'pw'; GRANT SELECT ON plain TO {role}"));
    let t = target(None, "plain", &["id"], &["name"]);
    let reader = SqlServerConnection {
        user: role.clone(),
        password: Some("pw".into()),
        ..(*db).clone()
    };
    let err = PostgresWriter::connect(&reader)
        .unwrap()
        .check(&t)
        .unwrap_err();
    assert!(
        matches!(&err, WriteError::Schema(m) if m.contains("42501")),
        "{err:?}"
    );
    sql(
        &db,
        &format!("REVOKE ALL ON plain FROM {role}; DROP ROLE {role}"),
    );
    let mut read_only = (*db).clone();
    read_only.connect_args.insert(
        "options".into(),
        "-c default_transaction_read_only=on".into(),
    );
    let mut writer = PostgresWriter::connect(&read_only).unwrap();
    let err = writer
        .write(&[up(&t, vec![json!(1), json!("a")])])
        .unwrap_err();
    assert!(
        matches!(&err, WriteError::Transient(m) if m.contains("25006")),
        "{err:?}"
    );
}

#[test]
fn a_stopped_server_is_transient_and_the_writer_reconnects() {
    if !Path::new(PG_BIN).join("pg_ctl").exists() {
        eprintln!("skipped: no PostgreSQL 15 in {PG_BIN} to stop and start");
        return;
    }
    let server = PgServer::start();
    let db = database_on(&server.admin(), "reconnect");
    sql(&db, EMP);
    let t = target(None, "emp", &["id"], EMP_COLUMNS);
    let mut writer = PostgresWriter::connect(&db).unwrap();
    writer.write(&[up(&t, vec![json!(1), json!("a")])]).unwrap();
    server.stop();
    let err = writer
        .write(&[up(&t, vec![json!(2), json!("b")])])
        .unwrap_err();
    assert!(matches!(err, WriteError::Transient(_)), "{err:?}");
    let err = writer
        .write(&[up(&t, vec![json!(2), json!("b")])])
        .unwrap_err();
    assert!(
        matches!(&err, WriteError::Transient(m) if m.contains("cannot connect")),
        "{err:?}"
    );
    server.start_again();
    writer.write(&[up(&t, vec![json!(2), json!("b")])]).unwrap();
    assert_eq!(sql(&db, EMP_ROWS).len(), 2);
}

#[test]
fn an_unreachable_server_is_transient_at_connect() {
    let err = PostgresWriter::connect(&settings(
        "127.0.0.1",
        free_port(),
        "u",
        "d",
        Some("pw".into()),
    ))
    .err();
    // The cause is kept (not just "error connecting to server"); the password never is.
    assert!(
        matches!(&err, Some(WriteError::Transient(m)) if !m.contains("pw") && m.contains("refused")),
        "{err:?}"
    );
}

#[test]
fn a_login_refused_or_a_missing_database_is_a_schema_error_at_connect() {
    let db = database("logins", "SELECT 1");
    let nobody = SqlServerConnection {
        user: "rdi_no_such_role".into(),
        ..(*db).clone()
    };
    let err = PostgresWriter::connect(&nobody).err();
    assert!(
        matches!(&err, Some(WriteError::Schema(m)) if m.contains("28000")),
        "{err:?}"
    );
    let elsewhere = SqlServerConnection {
        database: "rdi_no_such_database".into(),
        ..(*db).clone()
    };
    let err = PostgresWriter::connect(&elsewhere).err();
    assert!(
        matches!(&err, Some(WriteError::Schema(m)) if m.contains("3D000")),
        "{err:?}"
    );
}

#[test]
fn sqlstates_map_to_error_kinds() {
    let kind = |code| match classify_sqlstate(code, "m", None) {
        WriteError::Transient(_) => "transient",
        WriteError::Batch(_) => "batch",
        WriteError::Schema(_) => "schema",
        WriteError::Unknown(_) => "unknown",
    };
    for code in [
        "08006", "08001", "40001", "40P01", "57P01", "57P02", "57P03", "53100", "53300", "25006",
        "55P03", "58030",
    ] {
        assert_eq!(kind(code), "transient", "{code}");
    }
    // Outside the known classes (an internal error, a foreign table's, a code a trigger made up):
    // retried, and probed for the row (applier/probe.rs).
    for code in ["72000", "26000", "HV00N"] {
        assert_eq!(kind(code), "transient", "{code}");
    }
    for code in ["XX000", "HV000", "Z0001"] {
        assert_eq!(kind(code), "unknown", "{code}");
    }
    for code in [
        "23505", "23502", "23514", "23503", "22P02", "22003", "22001", "P0001",
        // Raised by the target's own code about a row (triggers, routines).
        "21000", "09000", "27000", "2F005", "38001", "39001",
    ] {
        assert_eq!(kind(code), "batch", "{code}");
    }
    for code in ["42P01", "42703", "42501", "42P10", "55000"] {
        assert_eq!(kind(code), "schema", "{code}");
    }
}

#[test]
fn error_text_keeps_no_values() {
    let err = classify_sqlstate(
        "22P02",
        "invalid input syntax for type integer: \"secret\"",
        None,
    );
    assert_eq!(
        err,
        WriteError::Batch("postgresql: SQLSTATE 22P02 (invalid text representation)".into())
    );
    let err = classify_sqlstate(
        "23505",
        "duplicate key value violates unique constraint \"k\"\nmore",
        Some("k"),
    );
    assert_eq!(
        err,
        WriteError::Batch(
            "postgresql: duplicate key value violates unique constraint \"k\" (SQLSTATE 23505)"
                .into()
        )
    );
}

#[test]
fn type_modifiers_give_limits() {
    assert_eq!(
        postgres_kind("numeric", (10 << 16 | 2) + 4),
        ColumnKind::Numeric {
            precision_scale: Some((10, 2))
        }
    );
    assert_eq!(
        postgres_kind("numeric", -1),
        ColumnKind::Numeric {
            precision_scale: None
        }
    );
    assert_eq!(
        postgres_kind("varchar", 9),
        ColumnKind::Text { max_chars: Some(5) }
    );
    assert_eq!(
        postgres_kind("varchar", -1),
        ColumnKind::Text { max_chars: None }
    );
    assert_eq!(postgres_kind("int2", -1), ColumnKind::Integer { bits: 16 });
    assert_eq!(postgres_kind("inet", -1), ColumnKind::Other);
    assert_eq!(postgres_kind("_int4", -1), ColumnKind::Array);
}

#[test]
fn values_render_as_postgres_input_text() {
    assert_eq!(
        postgres_text(SqlValue::Float(f64::NEG_INFINITY)).as_deref(),
        Some("-Infinity")
    );
    assert_eq!(
        postgres_text(SqlValue::Float(1e300)).as_deref(),
        Some("1e300")
    );
    assert_eq!(
        postgres_text(SqlValue::Bytes(vec![0, 171])).as_deref(),
        Some("\\x00ab")
    );
    assert_eq!(postgres_text(SqlValue::Null), None);
}

#[test]
fn multi_row_statements_keep_per_key_order_and_fall_back_on_equal_keys() {
    let db = database(
        "multirow",
        "CREATE TABLE emp (id int8 PRIMARY KEY, name text); \
         CREATE TABLE num (id numeric PRIMARY KEY, name text)",
    );
    let t = target(None, "emp", &["id"], &["name"]);
    let n = target(None, "num", &["id"], &["name"]);
    let del = |t: &Arc<TableTarget>, id: Value| RowChange {
        target: t.clone(),
        op: RowOp::Delete,
        values: vec![id, Value::Null],
    };
    let mut writer = PostgresWriter::connect(&db).unwrap();
    let mut batch: Vec<RowChange> = (1..=50)
        .map(|i| up(&t, vec![json!(i), json!(format!("a{i}"))]))
        .collect();
    // The same row twice in a run, deletes in a run, a delete then an upsert of one key.
    batch.push(up(&t, vec![json!(7), json!("second")]));
    batch.extend([del(&t, json!(1)), del(&t, json!(2)), del(&t, json!(3))]);
    batch.push(up(&t, vec![json!(2), json!("back")]));
    // Keys equal as numbers but not as text: one multi-row upsert would meet its row twice.
    batch.push(up(&n, vec![json!("1.0"), json!("x")]));
    batch.push(up(&n, vec![json!("1.00"), json!("y")]));
    assert_eq!(writer.write(&batch), Ok(WriteOutcome::default()));
    let rows = sql(
        &db,
        "SELECT id::text, name FROM emp WHERE id IN (1, 2, 3, 4, 7, 50) ORDER BY id::text",
    );
    assert_eq!(
        rows,
        text(&[
            &[Some("2"), Some("back")],
            &[Some("4"), Some("a4")],
            &[Some("50"), Some("a50")],
            &[Some("7"), Some("second")],
        ])
    );
    assert_eq!(
        sql(&db, "SELECT count(*)::text FROM emp"),
        text(&[&[Some("48")]])
    );
    assert_eq!(sql(&db, "SELECT name FROM num"), text(&[&[Some("y")]]));
}
