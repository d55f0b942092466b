//! Tests of the Cassandra writer: its pure parts always, and the conformance cases that apply to
//! Cassandra (no transactions, no unique or check constraints) against the cluster that
//! `RDI_TEST_CASSANDRA` names (`host:port`), skipped otherwise.
//! Test-only: its `mod` line carries #[cfg(test)].

use super::*;
use scylla::errors::DbError;
use crate::writer::relational::conformance::{self as suite, Harness};
use std::collections::BTreeMap;

fn settings(args: &[(&str, &str)]) -> CassandraConnection {
    CassandraConnection {
        hosts: vec!["127.0.0.1".into()],
        port: 9042,
        user: None,
        password: None,
        connect_args: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    }
}

#[test]
fn session_settings_are_checked() {
    assert!(session_builder(&settings(&[
        ("consistency", "ONE"),
        ("local_datacenter", "dc1")
    ]))
    .is_ok());
    assert!(session_builder(&settings(&[("request_timeout", "soon")])).is_err());
}

#[test]
fn server_errors_sort_into_kinds_without_values() {
    assert!(matches!(
        classify_db(&DbError::Invalid, "value 'secret' is invalid"),
        WriteError::Batch(m) if !m.contains("secret")
    ));
    assert!(matches!(
        classify_db(&DbError::Overloaded, ""),
        WriteError::Transient(_)
    ));
    assert!(matches!(
        classify_db(&DbError::Unauthorized, "no rights on hr.emp"),
        WriteError::Schema(_)
    ));
}

#[test]
fn batch_statements_is_read_and_bounded() {
    assert_eq!(limits(&settings(&[])).unwrap(), Limits::default());
    let limits_of = |v: &str| limits(&settings(&[("batch_statements", v)]));
    assert_eq!(limits_of(" 7").unwrap().statements, 7);
    for bad in ["0", "1001", "many", "-1"] {
        assert!(
            matches!(limits_of(bad), Err(WriteError::Schema(m)) if m.contains("batch_statements")),
            "{bad}"
        );
    }
}

/// `hr.shift (id, day, name)`, primary key `(id, day)` of which `id` is the partition key.
fn shift() -> TableSchema {
    let column = |name: &str, cql: &str| Column {
        name: name.into(),
        sql_type: cql.into(),
        kind: cql_kind(cql),
    };
    TableSchema {
        schema: Some("hr".into()),
        table: "shift".into(),
        columns: vec![
            column("id", "bigint"),
            column("day", "text"),
            column("name", "text"),
        ],
        keys: 2,
    }
}

#[test]
fn statements_of_one_row_share_its_row_and_partition_whatever_their_kind() {
    let schema = shift();
    let partition = batches::partition_positions(
        &["id", "day"],
        &[("id", "partition_key"), ("day", "clustering")],
    );
    let v = |id: i64, day: &str| Some(CqlValue::BigInt(id)).into_iter().chain([Some(CqlValue::Text(day.into()))]);
    let upsert: Vec<_> = v(1, "mon").chain([Some(CqlValue::Text("ann".into()))]).collect();
    let delete: Vec<_> = v(1, "mon").collect();
    let other_day: Vec<_> = v(1, "tue").chain([None]).collect();
    let other_id: Vec<_> = v(2, "mon").chain([None]).collect();
    let up = item(&schema, &partition, false, 0, &upsert);
    let del = item(&schema, &partition, true, 0, &delete);
    assert_eq!((up.row.clone(), up.partition.clone()), (del.row, del.partition));
    assert!(!up.delete);
    assert_eq!(up.bytes, 16 + 3 + 3);
    let day = item(&schema, &partition, false, 0, &other_day);
    assert_eq!(day.partition, up.partition);
    assert_ne!(day.row, up.row);
    let id = item(&schema, &partition, false, 0, &other_id);
    assert_ne!(id.partition, up.partition);
    // The same values in another table are another partition.
    let mut elsewhere = shift();
    elsewhere.table = "shift2".into();
    assert_ne!(
        item(&elsewhere, &partition, false, 0, &upsert).partition,
        up.partition
    );
}

/// The cluster named by `RDI_TEST_CASSANDRA`, or `None` after saying that the suite is skipped.
fn cluster() -> Option<CassandraConnection> {
    let Ok(spec) = std::env::var("RDI_TEST_CASSANDRA") else {
        eprintln!("skipped: RDI_TEST_CASSANDRA not set");
        return None;
    };
    let (host, port) = spec.split_once(':').unwrap_or((&spec, "9042"));
    let mut s = settings(&[("consistency", "ONE")]);
    s.hosts = vec![host.into()];
    s.port = port.parse().unwrap();
    Some(s)
}

fn text(v: Option<CqlValue>) -> Option<String> {
    v.map(|v| match v {
        CqlValue::Text(s) | CqlValue::Ascii(s) => s,
        CqlValue::BigInt(i) => i.to_string(),
        CqlValue::Int(i) => i.to_string(),
        other => format!("{other:?}"),
    })
}

fn harness(s: &CassandraConnection, keyspace: &str) -> Harness {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let session = Arc::new(
        runtime
            .block_on(session_builder(s).unwrap().build())
            .unwrap(),
    );
    for cql in [
        format!("CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"),
        format!("DROP TABLE IF EXISTS {keyspace}.emp"),
        format!("CREATE TABLE {keyspace}.emp (id bigint PRIMARY KEY, name text, email text, age int)"),
    ] {
        runtime.block_on(session.query_unpaged(cql, &[])).unwrap();
    }
    let mut writer = CassandraWriter::connect(s).unwrap();
    let ks = keyspace.to_string();
    let read = move |_q: &str| {
        let query = format!("SELECT id, name, email, age FROM {ks}.emp");
        let result = runtime.block_on(session.query_unpaged(query, &[])).unwrap();
        let rows = result.into_rows_result().unwrap();
        let mut out: suite::Rows = rows
            .rows::<(
                Option<CqlValue>,
                Option<CqlValue>,
                Option<CqlValue>,
                Option<CqlValue>,
            )>()
            .unwrap()
            .map(|r| {
                let (a, b, c, d) = r.unwrap();
                vec![text(a), text(b), text(c), text(d)]
            })
            .collect();
        out.sort_by_key(|r| r[0].as_deref().and_then(|id| id.parse::<i64>().ok()));
        out
    };
    // The suite writes to `emp` without a schema: the keyspace comes from the writer's default.
    writer.default_keyspace = Some(keyspace.to_string());
    Harness {
        writer: Box::new(writer),
        read: Box::new(read),
        default_schema_prefix: "",
    }
}

#[test]
#[ignore = "needs a server named by RDI_TEST_CASSANDRA: `make test` runs it when the variable is set"]
fn conformance_against_a_real_cassandra_when_one_is_named() {
    let Some(s) = cluster() else { return };
    let cases: [fn(Harness); 4] = [
        suite::upsert_inserts_then_updates,
        suite::delete_removes_and_per_key_order_holds,
        suite::replaying_a_batch_gives_the_same_state,
        suite::a_bad_value_rejects_only_its_row,
    ];
    for case in cases {
        case(harness(&s, "rdi_test"));
    }
}
