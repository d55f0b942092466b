//! Tests of the MySQL/MariaDB writer against a real MariaDB (see `test_server`).
//! Test-only: its `mod` line carries #[cfg(test)].

use super::test_server::{admin_opts, database, database_on, sql, MariaServer};
use super::*;
use crate::writer::conformance::{conformance_tests, Harness, EMP_DDL};
use crate::writer::relational::test_certs;
use serde_json::{json, Value as Json};
use std::sync::Arc;

fn target(table: &str, keys: &[&str], others: &[&str]) -> Arc<TableTarget> {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Arc::new(TableTarget {
        redis: None,
        schema: None,
        table: table.into(),
        keys: strings(keys),
        columns: strings(&[keys, others].concat()),
    })
}

fn up(t: &Arc<TableTarget>, values: Vec<Json>) -> RowChange {
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

fn harness(test: &str) -> Harness {
    let db = std::rc::Rc::new(database(test, EMP_DDL));
    let writer = Box::new(MysqlWriter::connect(&db, "mariadb").unwrap());
    let (again, outage) = (db.clone(), db.clone());
    let connect =
        move || Box::new(MysqlWriter::connect(&again, "mariadb").unwrap()) as Box<dyn Writer>;
    let read = move |query: &str| sql(&db, query);
    // An outage: the server kills the writer's session (as on a restart or failover).
    let outage = move |start: bool| {
        if !start {
            return;
        }
        let sessions = sql(
            &outage,
            "SELECT id FROM information_schema.processlist \
             WHERE db = DATABASE() AND id <> CONNECTION_ID()",
        );
        for id in sessions.into_iter().flatten().flatten() {
            sql(&outage, &format!("KILL {id}"));
        }
    };
    Harness::table(writer, read, connect, "").with_outage(outage)
}

conformance_tests!(conformance, super::harness, relational);

#[test]
fn every_type_converts_from_strings_and_typed_json() {
    let db = database(
        "types",
        "CREATE TABLE types (k int PRIMARY KEY, b tinyint(1), i2 smallint, i8 bigint, \
         u8 bigint unsigned, f float, d double, n decimal(10,2), v varchar(5), t text, \
         dt datetime(6), ts timestamp(3) NULL, dd date, tm time, j json, bin varbinary(4))",
    );
    let t = target(
        "types",
        &["k"],
        &[
            "b", "i2", "i8", "u8", "f", "d", "n", "v", "t", "dt", "ts", "dd", "tm", "j", "bin",
        ],
    );
    let strings = [
        "1",
        "yes",
        "-32768",
        "9223372036854775807",
        "18446744073709551615",
        "1.5",
        "2.25",
        "12345678.9",
        "héllo",
        "long text",
        "2024-01-02T03:04:05.5Z",
        "2024-01-02 05:04:05+02:00",
        "2024-02-29",
        "13:05",
        "{\"a\":[1,2]}",
        "\\x00ff",
    ];
    let typed = vec![
        json!(2),
        json!(true),
        json!(-32768),
        json!(i64::MAX),
        json!(18446744073709551615u64),
        json!(1.5),
        json!(2.25),
        json!(12345678.9),
        json!("héllo"),
        json!("long text"),
        json!(1704164645),
        json!(1704164645),
        json!("2024-02-29"),
        json!("13:05:00"),
        json!({"a": [1, 2]}),
        json!("\\x00ff"),
    ];
    let mut writer = MysqlWriter::connect(&db, "mariadb").unwrap();
    let batch = [
        up(&t, strings.iter().map(|s| json!(s)).collect()),
        up(&t, typed),
        up(&t, vec![json!(3)]),
    ];
    assert_eq!(writer.write(&batch).unwrap(), WriteOutcome::default());
    let got = sql(
        &db,
        "SELECT k, b, i2, i8, u8, f, d, n, v, t, dt, ts, dd, tm, j, HEX(bin) FROM types ORDER BY k",
    );
    let common = |k: &'static str, dt: &'static str| {
        vec![
            Some(k),
            Some("1"),
            Some("-32768"),
            Some("9223372036854775807"),
            Some("18446744073709551615"),
            Some("1.5"),
            Some("2.25"),
            Some("12345678.90"),
            Some("héllo"),
            Some("long text"),
            Some(dt),
            Some("2024-01-02 03:04:05.000"),
            Some("2024-02-29"),
            Some("13:05:00"),
            Some("{\"a\":[1,2]}"),
            Some("00FF"),
        ]
    };
    let mut nulls = vec![None; 16];
    nulls[0] = Some("3");
    assert_eq!(
        got,
        text(&[
            &common("1", "2024-01-02 03:04:05.500000"),
            &common("2", "2024-01-02 03:04:05.000000"),
            &nulls
        ])
    );
}

#[test]
fn values_mysql_cannot_hold_reject_their_row_only() {
    let db = database(
        "rejected",
        "CREATE TABLE m (id int PRIMARY KEY, d double, v varchar(3))",
    );
    let t = target("m", &["id"], &["d", "v"]);
    let mut writer = MysqlWriter::connect(&db, "mysql").unwrap();
    let batch = [
        up(&t, vec![json!(1), json!("NaN")]),
        up(&t, vec![json!(2), json!(1), json!("abcd")]),
        up(&t, vec![json!(3), json!(1), json!("abc")]),
    ];
    let out = writer.write(&batch).unwrap();
    assert_eq!(
        out.rejected,
        [
            (
                0,
                "column `d` of type double cannot take a JSON string: MySQL numbers cannot be NaN or infinite"
                    .to_string()
            ),
            (
                1,
                "column `v` of type varchar(3) cannot take a JSON string: longer than the column allows"
                    .to_string()
            ),
        ]
    );
    assert_eq!(sql(&db, "SELECT id FROM m"), text(&[&[Some("3")]]));
}

#[test]
fn keys_without_a_unique_index_are_a_schema_error() {
    let db = database("nokey", "CREATE TABLE n (id int, v text)");
    let mut writer = MysqlWriter::connect(&db, "mysql").unwrap();
    let err = writer.check(&target("n", &["id"], &["v"])).unwrap_err();
    assert_eq!(
        err,
        WriteError::Schema(
            "table n: the keys (id) are not a primary key or unique index, so upserts cannot find their rows"
                .into()
        )
    );
    // Without keys (an append-only target) no index is needed.
    writer.check(&target("n", &[], &["id", "v"])).unwrap();
}

#[test]
fn append_inserts_every_change_and_schema_qualified_tables_resolve() {
    let db = database("append", "CREATE TABLE log (id int, v text)");
    let t = Arc::new(TableTarget {
        redis: None,
        schema: Some(db.database.clone()),
        ..(*target("log", &[], &["id", "v"])).clone()
    });
    let mut writer = MysqlWriter::connect(&db, "mysql").unwrap();
    let row = |v: &str| RowChange {
        target: t.clone(),
        op: RowOp::Insert,
        values: vec![json!(1), json!(v)],
    };
    writer.write(&[row("a"), row("a"), row("b")]).unwrap();
    assert_eq!(
        sql(&db, "SELECT v FROM log ORDER BY v"),
        text(&[&[Some("a")], &[Some("a")], &[Some("b")]])
    );
}

#[test]
fn a_lost_server_is_transient_and_the_writer_recovers() {
    let mut server = MariaServer::start(&[]);
    let db = database_on(&server.admin(), "recover");
    let mut conn = ::mysql::Conn::new(admin_opts(&db)).unwrap();
    conn.query_drop(EMP_DDL).unwrap();
    drop(conn);
    let t = target("emp", &["id"], &["name"]);
    let mut writer = MysqlWriter::connect(&db, "mariadb").unwrap();
    writer.write(&[up(&t, vec![json!(1), json!("a")])]).unwrap();
    server.stop();
    let err = writer
        .write(&[up(&t, vec![json!(2), json!("b")])])
        .unwrap_err();
    assert!(matches!(err, WriteError::Transient(_)), "{err:?}");
    assert!(err.is_retryable());
    server.start_again();
    writer.write(&[up(&t, vec![json!(2), json!("b")])]).unwrap();
    assert_eq!(
        sql(&db, "SELECT id, name FROM emp ORDER BY id"),
        text(&[&[Some("1"), Some("a")], &[Some("2"), Some("b")]])
    );
}

#[test]
fn tls_with_generated_certificates_and_a_wrong_ca_fails_clearly() {
    let certs = test_certs::generate();
    let server = MariaServer::start(&[
        format!("--ssl-ca={}", certs.path("ca.pem")),
        format!("--ssl-cert={}", certs.path("server.pem")),
        format!("--ssl-key={}", certs.path("server.key")),
        "--require-secure-transport=ON".into(),
    ]);
    let mut db = server.admin();
    db.connect_args
        .insert("ssl_ca".into(), certs.path("ca.pem"));
    db.connect_args
        .insert("ssl_cert".into(), certs.path("client.pem"));
    db.connect_args
        .insert("ssl_key".into(), certs.path("client.key"));
    let mut writer = MysqlWriter::connect(&db, "mariadb").unwrap();
    let conn = writer.conn().unwrap();
    let cipher: Option<(String, String)> =
        conn.query_first("SHOW STATUS LIKE 'Ssl_cipher'").unwrap();
    assert!(cipher.is_some_and(|(_, c)| !c.is_empty()));
    let mut wrong = db.clone();
    wrong
        .connect_args
        .insert("ssl_ca".into(), certs.path("other-ca.pem"));
    let err = MysqlWriter::connect(&wrong, "mariadb").err().unwrap();
    assert!(
        matches!(&err, WriteError::Schema(m) if m.starts_with("cannot connect") && m.contains("certificate")),
        "{err:?}"
    );
    // Without TLS the server refuses: secure transport is required.
    let plain = server.admin();
    assert!(MysqlWriter::connect(&plain, "mariadb").is_err());
}

#[test]
fn a_lock_wait_timeout_is_transient_and_the_batch_goes_through_after() {
    let db = database("lockwait", EMP_DDL);
    let mut locker = ::mysql::Conn::new(admin_opts(&db)).unwrap();
    locker
        .query_drop("INSERT INTO emp (id, name) VALUES (1, 'a')")
        .unwrap();
    locker.query_drop("BEGIN").unwrap();
    locker
        .query_drop("SELECT * FROM emp WHERE id = 1 FOR UPDATE")
        .unwrap();
    let mut writer = MysqlWriter::connect(&db, "mariadb").unwrap();
    // Only this writer's session waits 1 s instead of the server's 50 s.
    writer
        .conn()
        .unwrap()
        .query_drop("SET SESSION innodb_lock_wait_timeout = 1")
        .unwrap();
    let t = target("emp", &["id"], &["name"]);
    let err = writer
        .write(&[up(&t, vec![json!(1), json!("b")])])
        .unwrap_err();
    assert_eq!(
        err,
        WriteError::Transient("mysql: error 1205 (lock wait timeout exceeded)".into())
    );
    locker.query_drop("COMMIT").unwrap();
    writer.write(&[up(&t, vec![json!(1), json!("b")])]).unwrap();
    assert_eq!(
        sql(&db, "SELECT id, name FROM emp"),
        text(&[&[Some("1"), Some("b")]])
    );
}

#[test]
fn plain_inserts_that_clash_are_refused_as_a_batch() {
    let db = database("append_dup", "CREATE TABLE log (id int PRIMARY KEY)");
    let t = target("log", &[], &["id"]);
    let mut writer = MysqlWriter::connect(&db, "mysql").unwrap();
    let row = RowChange {
        target: t.clone(),
        op: RowOp::Insert,
        values: vec![json!(1)],
    };
    let err = writer.write(&[row.clone(), row]).unwrap_err();
    assert_eq!(
        err,
        WriteError::Batch("mysql: error 1062 (duplicate entry for a unique key)".into())
    );
    assert!(sql(&db, "SELECT id FROM log").is_empty());
}

#[test]
fn runs_of_upserts_are_multi_row_statements_that_keep_per_key_order() {
    let db = database(
        "runs",
        "CREATE TABLE runs (k int PRIMARY KEY, v varchar(20))",
    );
    let t = target("runs", &["k"], &["v"]);
    let mut writer = MysqlWriter::connect(&db, "mariadb").unwrap();
    // 1,201 upserts: statements of 500, 500 and 201 rows, key 1 written first and last in the first
    // statement; then a delete of key 2 on its own.
    let mut batch: Vec<RowChange> = (1..=1200)
        .map(|k| up(&t, vec![json!(k), json!(format!("v{k}"))]))
        .collect();
    batch.insert(499, up(&t, vec![json!(1), json!("second")]));
    batch.push(RowChange {
        target: t.clone(),
        op: RowOp::Delete,
        values: vec![json!(2)],
    });
    assert_eq!(writer.write(&batch).unwrap(), WriteOutcome::default());
    let got = sql(
        &db,
        "SELECT count(*), (SELECT v FROM runs WHERE k = 1), (SELECT count(*) FROM runs WHERE k = 2) FROM runs",
    );
    assert_eq!(got, text(&[&[Some("1199"), Some("second"), Some("0")]]));
}

#[test]
fn mariadb_json_columns_take_json_strings_and_numbers_as_json() {
    let db = database(
        "json_check",
        "CREATE TABLE docs (k int PRIMARY KEY, j json, t longtext)",
    );
    let t = target("docs", &["k"], &["j", "t"]);
    let mut writer = MysqlWriter::connect(&db, "mariadb").unwrap();
    let batch = [
        up(&t, vec![json!(1), json!("active"), json!("active")]),
        up(&t, vec![json!(2), json!(7), json!(7)]),
        up(&t, vec![json!(3), json!("{\"a\":1}"), json!("{\"a\":1}")]),
    ];
    assert_eq!(writer.write(&batch).unwrap(), WriteOutcome::default());
    let got = sql(&db, "SELECT k, j, t FROM docs ORDER BY k");
    assert_eq!(
        got,
        text(&[
            &[Some("1"), Some("\"active\""), Some("active")],
            &[Some("2"), Some("7"), Some("7")],
            &[Some("3"), Some("{\"a\":1}"), Some("{\"a\":1}")],
        ])
    );
}

#[test]
fn bit_columns_take_booleans_and_numbers() {
    let db = database(
        "bits",
        "CREATE TABLE bits (k int PRIMARY KEY, flag bit(1), mask bit(8))",
    );
    let t = target("bits", &["k"], &["flag", "mask"]);
    let mut writer = MysqlWriter::connect(&db, "mariadb").unwrap();
    let batch = [
        up(&t, vec![json!(1), json!("1"), json!("5")]),
        up(&t, vec![json!(2), json!(false), json!(255)]),
        up(&t, vec![json!(3), json!("yes"), json!("0")]),
    ];
    assert_eq!(writer.write(&batch).unwrap(), WriteOutcome::default());
    let got = sql(&db, "SELECT k, flag + 0, mask + 0 FROM bits ORDER BY k");
    assert_eq!(
        got,
        text(&[
            &[Some("1"), Some("1"), Some("5")],
            &[Some("2"), Some("0"), Some("255")],
            &[Some("3"), Some("1"), Some("0")],
        ])
    );
}

#[test]
fn boolean_columns_take_booleans_and_small_integers() {
    let db = database(
        "tiny",
        "CREATE TABLE tiny (k int PRIMARY KEY, b BOOLEAN, t tinyint(1))",
    );
    let t = target("tiny", &["k"], &["b", "t"]);
    let mut writer = MysqlWriter::connect(&db, "mariadb").unwrap();
    let batch = [
        up(&t, vec![json!(1), json!("yes"), json!(true)]),
        up(&t, vec![json!(2), json!(false), json!("5")]),
        up(&t, vec![json!(3), json!(-128), json!("127")]),
        up(&t, vec![json!(4), json!("128"), json!(0)]),
        up(&t, vec![json!(5), json!("maybe"), json!(0)]),
    ];
    let out = writer.write(&batch).unwrap();
    let reason = "column `b` of type tinyint(1) cannot take a JSON string: neither a boolean nor \
                  an integer from -128 to 127";
    assert_eq!(
        out.rejected,
        [(3, reason.to_string()), (4, reason.to_string())]
    );
    let got = sql(&db, "SELECT k, b, t FROM tiny ORDER BY k");
    assert_eq!(
        got,
        text(&[
            &[Some("1"), Some("1"), Some("1")],
            &[Some("2"), Some("0"), Some("5")],
            &[Some("3"), Some("-128"), Some("127")],
        ])
    );
}

#[test]
fn a_checkpoint_moves_with_each_batch_even_one_with_no_rows() {
    let db = database("cp_moves", "CREATE TABLE t (k int PRIMARY KEY, v text)");
    let t = target("t", &["k"], &["v"]);
    let mut writer = MysqlWriter::connect(&db, "mariadb").unwrap();
    let cp = |position: &str| Checkpoint {
        table: "rdi_cp".into(),
        stream: "job:{tag}".into(),
        position: position.into(),
    };
    assert_eq!(writer.read_checkpoint("rdi_cp", "job:{tag}"), Ok(None));
    // A single row (otherwise written without a transaction) and a run, each with its checkpoint.
    let one = [up(&t, vec![json!(1), json!("a")])];
    assert_eq!(
        writer.write_checkpointed(&one, &cp("1-0")),
        Ok(WriteOutcome::default())
    );
    let run = [
        up(&t, vec![json!(2), json!("b")]),
        up(&t, vec![json!(3), json!("c")]),
    ];
    assert_eq!(
        writer.write_checkpointed(&run, &cp("2-5")),
        Ok(WriteOutcome::default())
    );
    assert_eq!(
        writer.read_checkpoint("rdi_cp", "job:{tag}"),
        Ok(Some("2-5".into()))
    );
    // Every row refused before the statement: the position still moves past them.
    let refused = [up(&t, vec![json!("x"), json!("d")])];
    let out = writer.write_checkpointed(&refused, &cp("3-0")).unwrap();
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(
        writer.read_checkpoint("rdi_cp", "job:{tag}"),
        Ok(Some("3-0".into()))
    );
    assert_eq!(sql(&db, "SELECT count(*) FROM t"), text(&[&[Some("3")]]));
    assert_eq!(
        sql(&db, "SELECT stream, position FROM rdi_cp"),
        text(&[&[Some("job:{tag}"), Some("3-0")]])
    );
    // A name the key cannot hold is a schema error before anything is written, not a refused batch.
    let long = Checkpoint {
        stream: "j".repeat(513),
        ..cp("4-0")
    };
    assert!(matches!(
        writer.read_checkpoint("rdi_cp", &long.stream),
        Err(WriteError::Schema(_))
    ));
    let four = [up(&t, vec![json!(4), json!("e")])];
    assert!(matches!(
        writer.write_checkpointed(&four, &long),
        Err(WriteError::Schema(_))
    ));
    assert_eq!(sql(&db, "SELECT count(*) FROM t"), text(&[&[Some("3")]]));
}
