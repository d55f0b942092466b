//! Tests of the Oracle writer: its pure parts always, and the conformance suite against the database
//! that `RDI_TEST_ORACLE` names (`user/password@host:port/service`), skipped otherwise.
//! Test-only: its `mod` line carries #[cfg(test)].

use super::*;
use crate::writer::conformance::{self as suite, Harness};
use std::collections::BTreeMap;

#[test]
fn values_bind_by_category_and_unholdable_values_are_rejected() {
    assert!(oracle_value(SqlValue::Int(1), ColumnKind::Integer { bits: 64 }).is_ok());
    assert!(oracle_value(SqlValue::Null, ColumnKind::Bytes).is_ok());
    assert_eq!(
        oracle_value(
            SqlValue::Float(f64::INFINITY),
            ColumnKind::Float { bits: 64 }
        )
        .err(),
        Some("Oracle numbers here cannot be NaN or infinite")
    );
    assert_eq!(
        oracle_value(SqlValue::Time(chrono::NaiveTime::MIN), ColumnKind::Other).err(),
        Some("Oracle has no time-of-day type")
    );
}

/// Settings for the database named by `RDI_TEST_ORACLE`, or `None` after saying the suite is skipped.
fn server() -> Option<SqlServerConnection> {
    let Ok(spec) = std::env::var("RDI_TEST_ORACLE") else {
        eprintln!("skipped: RDI_TEST_ORACLE not set");
        return None;
    };
    let (credentials, address) = spec.split_once('@').unwrap();
    let (user, password) = credentials.split_once('/').unwrap();
    let (host_port, service) = address.split_once('/').unwrap();
    let (host, port) = host_port.split_once(':').unwrap_or((host_port, "1521"));
    Some(SqlServerConnection {
        host: host.into(),
        port: port.parse().unwrap(),
        database: service.into(),
        user: user.into(),
        password: Some(password.into()),
        connect_args: BTreeMap::new(),
        query_args: BTreeMap::new(),
    })
}

/// Runs one statement; for a query, returns its rows as text.
fn run(s: &SqlServerConnection, sql: &str) -> suite::Rows {
    let conn = Connector::new(
        &s.user,
        s.password.as_deref().unwrap_or(""),
        connect_descriptor(s).unwrap(),
    )
    .connect()
    .unwrap();
    if !sql.trim_start().to_uppercase().starts_with("SELECT") {
        conn.execute(sql, &[]).unwrap();
        conn.commit().unwrap();
        return Vec::new();
    }
    let rows = conn.query(sql, &[]).unwrap();
    rows.map(|row| {
        let row = row.unwrap();
        (0..row.sql_values().len())
            .map(|i| row.get::<usize, Option<String>>(i).unwrap())
            .collect()
    })
    .collect()
}

fn harness(_test: &str) -> Option<Harness> {
    let s = server()?;
    run(
        &s,
        "BEGIN EXECUTE IMMEDIATE 'DROP TABLE emp PURGE'; EXCEPTION WHEN OTHERS THEN NULL; END;",
    );
    run(
        &s,
        "CREATE TABLE emp (id NUMBER(18) PRIMARY KEY, name VARCHAR2(200) NOT NULL, \
         email VARCHAR2(200) UNIQUE, age NUMBER(9) CHECK (age >= 0))",
    );
    let writer = Box::new(OracleWriter::connect(&s).unwrap());
    let again = s.clone();
    let connect = move || Box::new(OracleWriter::connect(&again).unwrap()) as Box<dyn Writer>;
    let read = move |q: &str| run(&s, q);
    Some(Harness::table(writer, read, connect, ""))
}

#[test]
#[ignore = "needs a server named by RDI_TEST_ORACLE: `make test` runs it when the variable is set"]
fn conformance_against_a_real_oracle_when_one_is_named() {
    // One table name for every case: they run one after the other on a shared schema.
    let cases: [fn(Harness); 8] = [
        suite::upsert_inserts_then_updates,
        suite::delete_removes_and_per_key_order_holds,
        suite::replaying_a_batch_gives_the_types_documented_state,
        suite::a_refused_record_is_rejected_alone_and_the_rest_written,
        suite::relational::values_convert_from_text_typed_json_and_missing_fields,
        suite::relational::a_null_key_rejects_only_its_row,
        suite::relational::a_constraint_violation_commits_nothing,
        suite::relational::missing_table_and_column_are_schema_errors,
    ];
    for case in cases {
        let Some(h) = harness("emp") else { return };
        case(h);
    }
}
