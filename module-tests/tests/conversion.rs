//! Hash field strings are converted to each PostgreSQL column's type; values that do not convert are
//! rejected one record at a time while the rest of the burst is written.

use module_tests::yaml::pg_job;
use module_tests::{call, PgPipeline, PgServer, RedisOpts};

const DDL: &str = "CREATE TABLE typed (
    id integer PRIMARY KEY,
    i integer, b bigint, d double precision, n numeric(12,3), flag boolean, t text,
    ts timestamp, tstz timestamptz, dt date, j json, jb jsonb)";
const COLUMNS: [&str; 11] = [
    "i", "b", "d", "n", "flag", "t", "ts", "tstz", "dt", "j", "jb",
];

fn start(db: &str) -> PgPipeline<'static> {
    let job = pg_job("typed:*", "typed", &["id"], &COLUMNS);
    PgPipeline::start(
        PgServer::shared(),
        RedisOpts::redis74(),
        db,
        DDL,
        &[("typed", &job)],
    )
}

fn hset(p: &PgPipeline, key: &str, fields: &[(&str, &str)]) {
    let mut words = vec!["HSET", key];
    for (field, value) in fields {
        words.extend([*field, *value]);
    }
    call(&mut p.redis(), &words);
}

/// Columns i, b, d, flag and t of a row, read with their Rust types.
type Scalars = (
    Option<i32>,
    Option<i64>,
    Option<f64>,
    Option<bool>,
    Option<String>,
);

/// The typed columns of row `id`, read with their Rust types.
fn typed_row(p: &PgPipeline, id: i32) -> Scalars {
    let r = p
        .pg_client()
        .query_one("SELECT i, b, d, flag, t FROM typed WHERE id = $1", &[&id])
        .unwrap_or_else(|e| panic!("row {id}: {e}"));
    (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))
}

/// Whether every SQL comparison in `checks` holds for row `id` (each names itself in a failure).
fn assert_holds(p: &PgPipeline, id: i32, checks: &[&str]) {
    let mut client = p.pg_client();
    for check in checks {
        let sql = format!("SELECT coalesce(({check}), false) FROM typed WHERE id = $1");
        let holds: bool = client
            .query_one(&sql, &[&id])
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .get(0);
        assert!(holds, "row {id}: {check} does not hold");
    }
}

#[test]
fn hash_strings_arrive_as_each_columns_type() {
    let p = start("conv_types");
    hset(
        &p,
        "typed:1",
        &[
            ("id", "1"),
            ("i", "42"),
            ("b", "9000000000"),
            ("d", "3.5"),
            ("n", "12.345"),
            ("flag", "true"),
            ("t", "hello"),
            ("ts", "2024-01-02T03:04:05"),
            ("tstz", "2024-01-02T03:04:05Z"),
            ("dt", "2024-01-02"),
            ("j", r#"{"a":1}"#),
            ("jb", r#"{"b":[1,2]}"#),
        ],
    );
    hset(
        &p,
        "typed:2",
        &[
            ("id", "2"),
            ("i", "-7"),
            ("b", "-1"),
            ("d", "1e3"),
            ("n", "0.5"),
            ("flag", "false"),
            ("t", ""),
            ("ts", "2024-02-29T23:59:59.250"),
            ("tstz", "2024-06-30T12:00:00+02:00"),
            ("dt", "1999-12-31"),
            ("j", r#"[1,"x"]"#),
            ("jb", r#"{"nested":{"k":true}}"#),
        ],
    );
    hset(&p, "typed:3", &[("id", "3")]);
    p.drain();

    assert_eq!(
        typed_row(&p, 1),
        (
            Some(42),
            Some(9_000_000_000),
            Some(3.5),
            Some(true),
            Some("hello".into())
        )
    );
    assert_holds(
        &p,
        1,
        &[
            "n = 12.345",
            "ts = timestamp '2024-01-02 03:04:05'",
            "tstz = timestamptz '2024-01-02 03:04:05+00'",
            "dt = date '2024-01-02'",
            r#"j::jsonb = '{"a":1}'::jsonb"#,
            r#"jb = '{"b":[1,2]}'::jsonb"#,
        ],
    );
    assert_eq!(
        typed_row(&p, 2),
        (
            Some(-7),
            Some(-1),
            Some(1000.0),
            Some(false),
            Some(String::new())
        )
    );
    assert_holds(
        &p,
        2,
        &[
            "n = 0.5",
            "ts = timestamp '2024-02-29 23:59:59.25'",
            "tstz = timestamptz '2024-06-30 10:00:00+00'",
            "dt = date '1999-12-31'",
            r#"j::jsonb = '[1,"x"]'::jsonb"#,
            r#"jb = '{"nested":{"k":true}}'::jsonb"#,
        ],
    );
    // Fields absent from the hash are NULL.
    assert_eq!(typed_row(&p, 3), (None, None, None, None, None));
    assert_holds(&p, 3, &["num_nulls(n, ts, tstz, dt, j, jb) = 6"]);

    let status = p.status();
    let job = status.job("typed");
    assert_eq!(
        (job.inserted, job.rejected, job.pending),
        (3, 0, 0),
        "{}",
        status.raw
    );
}

#[test]
fn a_value_that_does_not_convert_rejects_only_its_record() {
    let p = start("conv_reject");
    let mut burst = redis::pipe();
    burst.cmd("HSET").arg(&["typed:10", "id", "10", "i", "abc"]);
    burst
        .cmd("HSET")
        .arg(&["typed:11", "id", "11", "i", "11", "flag", "true"]);
    burst
        .cmd("HSET")
        .arg(&["typed:12", "id", "12", "flag", "maybe"]);
    burst
        .cmd("HSET")
        .arg(&["typed:13", "id", "13", "dt", "not-a-date"]);
    burst.cmd("HSET").arg(&["typed:14", "id", "14", "i", "14"]);
    burst
        .cmd("HSET")
        .arg(&["typed:15", "id", "15", "i", "99999999999"]);
    burst.exec(&mut p.redis()).expect("the burst of HSETs");
    p.drain();

    let ids: Vec<i32> = p
        .pg_client()
        .query("SELECT id FROM typed ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        ids,
        vec![11, 14],
        "only the records whose values convert are written"
    );
    let status = p.status();
    let job = status.job("typed");
    assert_eq!(
        (job.inserted, job.rejected, job.pending),
        (2, 4, 0),
        "{}",
        status.raw
    );
    assert!(
        !status.raw.contains("abc"),
        "a rejected value appears in RDI.STATUS: {}",
        status.raw
    );

    // The queue is not blocked: later writes go through.
    hset(&p, "typed:16", &[("id", "16"), ("i", "16")]);
    p.drain();
    assert_eq!(typed_row(&p, 16).0, Some(16));
}
