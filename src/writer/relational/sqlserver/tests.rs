//! Tests of the SQL Server writer: its pure parts always, and the conformance suite against the server
//! that `RDI_TEST_SQLSERVER` names (`host:port:user:password`), skipped otherwise.
//! Test-only: its `mod` line carries #[cfg(test)].

use super::*;
use crate::writer::conformance::{self as suite, Harness, EMP_DDL};
use std::collections::BTreeMap;

fn settings(user: &str, args: &[(&str, &str)]) -> SqlServerConnection {
    SqlServerConnection {
        host: "db".into(),
        port: 1433,
        database: "app".into(),
        user: user.into(),
        password: Some("pw".into()),
        connect_args: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        query_args: BTreeMap::new(),
    }
}

#[test]
fn connection_settings_build_a_driver_config() {
    let (config, timeout) = client_config(&settings(
        "ann",
        &[("connect_timeout", "3"), ("encrypt", "off")],
    ))
    .unwrap();
    assert_eq!(config.get_addr(), "db:1433");
    assert_eq!(timeout, Duration::from_secs(3));
    assert!(client_config(&settings("sa", &[("bogus", "1")])).is_err());
    assert!(client_config(&settings("CORP\\ann", &[])).is_ok());
    assert!(client_config(&settings("sa", &[("connect_timeout", "soon")])).is_err());
}

#[test]
fn a_domain_user_logs_in_with_windows_authentication() {
    assert!(is_windows_login("CORP\\ann"));
    assert!(!is_windows_login("ann"));
    assert!(!is_windows_login("\\ann"));
    assert!(!is_windows_login("CORP\\"));
    let text = |user: &str| format!("{:?}", auth(user, "pw".into()).unwrap());
    assert!(
        text("CORP\\ann").starts_with("Windows"),
        "{}",
        text("CORP\\ann")
    );
    assert!(text("ann").starts_with("SqlServer"), "{}", text("ann"));
}

#[test]
fn values_bind_natively_and_nan_is_rejected() {
    assert!(matches!(
        sqlserver_value(SqlValue::Int(5), ColumnKind::Integer { bits: 32 }),
        Ok(ColumnData::I64(Some(5)))
    ));
    assert!(matches!(
        sqlserver_value(SqlValue::Null, ColumnKind::Bytes),
        Ok(ColumnData::Binary(None))
    ));
    assert!(matches!(
        sqlserver_value(SqlValue::Null, ColumnKind::Integer { bits: 32 }),
        Ok(ColumnData::String(None))
    ));
    assert!(sqlserver_value(SqlValue::Float(f64::NAN), ColumnKind::Float { bits: 64 }).is_err());
    assert!(sqlserver_value(SqlValue::Numeric("NaN".into()), ColumnKind::Other).is_err());
}

/// The server named by `RDI_TEST_SQLSERVER`, or `None` after saying that the suite is skipped.
fn server() -> Option<SqlServerConnection> {
    let Ok(spec) = std::env::var("RDI_TEST_SQLSERVER") else {
        eprintln!("skipped: RDI_TEST_SQLSERVER not set");
        return None;
    };
    let parts: Vec<&str> = spec.splitn(4, ':').collect();
    let mut s = settings(
        parts.get(2).copied().unwrap_or("sa"),
        &[("trust_server_certificate", "true")],
    );
    s.host = parts[0].into();
    s.port = parts.get(1).and_then(|p| p.parse().ok()).unwrap_or(1433);
    s.password = parts.get(3).map(|p| p.to_string());
    s.database = "master".into();
    Some(s)
}

/// Runs a batch of statements on the server and returns the rows of the last as text.
fn run(s: &SqlServerConnection, sql: &str) -> suite::Rows {
    let (config, timeout) = client_config(s).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut client = open(config, timeout).await.unwrap();
        let rows = client
            .simple_query(sql)
            .await
            .unwrap()
            .into_results()
            .await
            .unwrap();
        rows.last()
            .map(|rows| {
                rows.iter()
                    .map(|row| {
                        (0..row.len())
                            .map(|i| {
                                row.try_get::<&str, _>(i)
                                    .ok()
                                    .flatten()
                                    .map(str::to_string)
                                    .or_else(|| {
                                        row.try_get::<i64, _>(i)
                                            .ok()
                                            .flatten()
                                            .map(|n| n.to_string())
                                    })
                                    .or_else(|| {
                                        row.try_get::<i32, _>(i)
                                            .ok()
                                            .flatten()
                                            .map(|n| n.to_string())
                                    })
                            })
                            .collect()
                    })
                    .collect()
            })
            .unwrap_or_default()
    })
}

fn harness(test: &str) -> Option<Harness> {
    let admin = server()?;
    let name = format!("rdi_{test}_{}", std::process::id());
    run(
        &admin,
        &format!("IF DB_ID('{name}') IS NOT NULL DROP DATABASE [{name}]; CREATE DATABASE [{name}]"),
    );
    let db = SqlServerConnection {
        database: name,
        ..admin
    };
    run(&db, &EMP_DDL.replace(" text", " nvarchar(200)"));
    let writer = Box::new(SqlServerWriter::connect(&db).unwrap());
    let again = db.clone();
    let connect = move || Box::new(SqlServerWriter::connect(&again).unwrap()) as Box<dyn Writer>;
    let read = move |q: &str| {
        run(
            &db,
            &q.replace(
                "SELECT id, name, email, age",
                "SELECT CAST(id AS nvarchar), name, email, CAST(age AS nvarchar)",
            ),
        )
    };
    Some(Harness::table(writer, read, connect, ""))
}

#[test]
#[ignore = "needs a server named by RDI_TEST_SQLSERVER: `make test` runs it when the variable is set"]
fn conformance_against_a_real_sqlserver_when_one_is_named() {
    type Case = (&'static str, fn(Harness));
    let cases: [Case; 8] = [
        ("c_upsert", suite::upsert_inserts_then_updates),
        ("c_delete", suite::delete_removes_and_per_key_order_holds),
        (
            "c_replay",
            suite::replaying_a_batch_gives_the_types_documented_state,
        ),
        (
            "c_poison",
            suite::a_refused_record_is_rejected_alone_and_the_rest_written,
        ),
        (
            "c_convert",
            suite::relational::values_convert_from_text_typed_json_and_missing_fields,
        ),
        (
            "c_nullkey",
            suite::relational::a_null_key_rejects_only_its_row,
        ),
        (
            "c_constraint",
            suite::relational::a_constraint_violation_commits_nothing,
        ),
        (
            "c_schema",
            suite::relational::missing_table_and_column_are_schema_errors,
        ),
    ];
    for (name, case) in cases {
        let Some(h) = harness(name) else { return };
        case(h);
    }
}

#[test]
fn every_argument_the_config_accepts_is_understood() {
    for (key, value) in crate::config::accepted_args("sqlserver") {
        if let Err(e) = client_config(&settings("sa", &[(key, value)])) {
            panic!("`{key}: {value}` is accepted by the config but not by the writer: {e:?}");
        }
    }
}

#[test]
fn a_call_without_an_answer_ends_after_read_timeout_as_transient() {
    let s = |args: &[(&str, &str)]| {
        crate::writer::relational::read_timeout("sqlserver", &settings("sa", args))
    };
    assert_eq!(s(&[]), Ok(Duration::from_secs(120)));
    assert_eq!(s(&[("read_timeout", "7")]), Ok(Duration::from_secs(7)));
    assert_eq!(s(&[("read_timeout", "0")]), Ok(Duration::from_secs(120)));
    assert!(matches!(
        s(&[("read_timeout", "soon")]),
        Err(WriteError::Schema(_))
    ));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let hung = within(
        Duration::from_millis(50),
        std::future::pending::<Result<(), WriteError>>(),
    );
    assert_eq!(
        runtime.block_on(hung),
        Err(WriteError::Transient(
            "sqlserver: no answer within 50ms (the connection's `read_timeout`)".into()
        ))
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let answered = within(Duration::from_secs(5), async { Ok::<_, WriteError>(3) });
    assert_eq!(runtime.block_on(answered), Ok(3));
}
