//! Tests of the Cassandra writer: its pure parts always, and the conformance cases that apply to
//! Cassandra (no transactions, no unique or check constraints) against the cluster that
//! `RDI_TEST_CASSANDRA` names (`host:port`), skipped otherwise.
//! Test-only: its `mod` line carries #[cfg(test)].

use super::*;
use crate::writer::conformance::{self as suite, Harness};
use scylla::errors::DbError;
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
    // A table or column dropped under a prepared statement refuses every row: the schema, so the
    // rows are retried, not sent to the dead-letter queue one by one.
    for message in [
        "unconfigured table emp",
        "Undefined column name nick in table hr.emp",
    ] {
        assert!(matches!(
            classify_db(&DbError::Invalid, message),
            WriteError::Schema(_)
        ));
    }
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
    let key =
        |id: i64, day: &str| vec![Some(CqlValue::BigInt(id)), Some(CqlValue::Text(day.into()))];
    let with = |mut values: Vec<Option<CqlValue>>, name: Option<&str>| {
        values.push(name.map(|n| CqlValue::Text(n.into())));
        values
    };
    let upsert = with(key(1, "mon"), Some("ann"));
    let delete = key(1, "mon");
    let other_day = with(key(1, "tue"), None);
    let other_id = with(key(2, "mon"), None);
    let up = item(&schema, &partition, false, 0, &upsert);
    let del = item(&schema, &partition, true, 0, &delete);
    assert_eq!(
        (up.row.clone(), up.partition.clone()),
        (del.row, del.partition)
    );
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

/// A session of its own on the cluster, for setting up and reading back.
struct Reader {
    runtime: Runtime,
    session: Session,
}

impl Reader {
    fn open(s: &CassandraConnection) -> Reader {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let session = runtime
            .block_on(session_builder(s).unwrap().build())
            .unwrap();
        Reader { runtime, session }
    }

    /// Runs `cql`; for a query, its rows' first `width` columns as text.
    fn run(&self, cql: &str, width: usize) -> suite::Rows {
        let result = self
            .runtime
            .block_on(self.session.query_unpaged(cql.to_string(), &[]))
            .unwrap();
        let Ok(rows) = result.into_rows_result() else {
            return Vec::new();
        };
        rows.rows::<scylla::value::Row>()
            .unwrap()
            .map(|r| {
                r.unwrap()
                    .columns
                    .into_iter()
                    .take(width)
                    .map(text)
                    .collect()
            })
            .collect()
    }
}

fn harness(s: &CassandraConnection, keyspace: &str) -> Harness {
    let reader = Reader::open(s);
    for cql in [
        format!("CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"),
        format!("DROP TABLE IF EXISTS {keyspace}.emp"),
        format!("CREATE TABLE {keyspace}.emp (id bigint PRIMARY KEY, name text, email text, age int)"),
    ] {
        reader.run(&cql, 0);
    }
    let ks = keyspace.to_string();
    // The suite writes to `emp` without a schema: the keyspace comes from the writer's default.
    let open = {
        let (s, ks) = (s.clone(), ks.clone());
        move || {
            let mut writer = CassandraWriter::connect(&s).unwrap();
            writer.default_keyspace = Some(ks.clone());
            Box::new(writer) as Box<dyn Writer>
        }
    };
    let read = move |_q: &str| reader.run(&format!("SELECT id, name, email, age FROM {ks}.emp"), 4);
    Harness::table(open(), read, open, "")
}

#[test]
#[ignore = "needs a server named by RDI_TEST_CASSANDRA: `make test` runs it when the variable is set"]
fn conformance_against_a_real_cassandra_when_one_is_named() {
    let Some(s) = cluster() else { return };
    // Cassandra has no unique or check constraints and no transactions: those cases do not apply.
    let cases: [fn(Harness); 6] = [
        suite::upsert_inserts_then_updates,
        suite::delete_removes_and_per_key_order_holds,
        suite::replaying_a_batch_gives_the_types_documented_state,
        suite::a_refused_record_is_rejected_alone_and_the_rest_written,
        suite::relational::values_convert_from_text_typed_json_and_missing_fields,
        suite::relational::a_null_key_rejects_only_its_row,
    ];
    for case in cases {
        case(harness(&s, "rdi_test"));
    }
}

#[test]
#[ignore = "needs a server named by RDI_TEST_CASSANDRA: `make test` runs it when the variable is set"]
fn partition_batches_keep_per_key_order_against_a_real_cassandra_when_one_is_named() {
    let Some(mut s) = cluster() else { return };
    s.connect_args.insert("batch_statements".into(), "3".into());
    let reader = Reader::open(&s);
    for cql in [
        "CREATE KEYSPACE IF NOT EXISTS rdi_test WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
        "DROP TABLE IF EXISTS rdi_test.shift",
        "CREATE TABLE rdi_test.shift (region text, day text, name text, PRIMARY KEY (region, day))",
    ] {
        reader.run(cql, 0);
    }
    let t = Arc::new(TableTarget {
        schema: Some("rdi_test".into()),
        table: "shift".into(),
        keys: vec!["region".into(), "day".into()],
        columns: vec!["region".into(), "day".into(), "name".into()],
        redis: None,
    });
    let row = |op: RowOp, values: &[&str]| RowChange {
        target: t.clone(),
        op,
        values: values.iter().map(|v| serde_json::json!(v)).collect(),
    };
    let batch = [
        row(RowOp::Upsert, &["eu", "mon", "a"]),
        row(RowOp::Upsert, &["us", "mon", "b"]),
        row(RowOp::Upsert, &["eu", "tue", "c"]),
        row(RowOp::Delete, &["eu", "mon"]),
        // Re-created after its delete: must land, although a batch gives one timestamp.
        row(RowOp::Upsert, &["eu", "mon", "a2"]),
        // An empty partition key: the server refuses this row only.
        row(RowOp::Upsert, &["", "mon", "x"]),
        row(RowOp::Upsert, &["eu", "wed", "d"]),
        row(RowOp::Upsert, &["eu", "tue", "c2"]),
        row(RowOp::Upsert, &["us", "tue", "e"]),
        row(RowOp::Delete, &["us", "mon"]),
    ];
    let mut writer = CassandraWriter::connect(&s).unwrap();
    writer.check(&t).unwrap();
    for _replay in 0..2 {
        let outcome = writer.write(&batch).unwrap();
        assert_eq!(
            outcome.rejected,
            [(
                5,
                "cassandra: the server refused a value (invalid request)".to_string()
            )]
        );
        let mut got = reader.run("SELECT region, day, name FROM rdi_test.shift", 3);
        got.sort();
        let want: suite::Rows = [
            ["eu", "mon", "a2"],
            ["eu", "tue", "c2"],
            ["eu", "wed", "d"],
            ["us", "tue", "e"],
        ]
        .iter()
        .map(|r| r.iter().map(|v| Some(v.to_string())).collect())
        .collect();
        assert_eq!(got, want);
    }
}
