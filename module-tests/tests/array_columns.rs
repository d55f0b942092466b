//! PostgreSQL array columns are written from a RedisJSON document's arrays and from hash fields that
//! hold a JSON array or an array literal.

use module_tests::yaml::pg_job;
use module_tests::{call, PgPipeline, PgServer, RedisOpts};

const DDL: &str =
    "CREATE TABLE lists (id integer PRIMARY KEY, tags text[], scores int4[], grid int8[][])";

/// A row: id, then tags, scores and grid as PostgreSQL prints them.
type Row = (i32, Option<String>, Option<String>, Option<String>);

#[test]
fn json_arrays_and_array_text_arrive_as_postgres_arrays() {
    let job = pg_job("lists:*", "lists", &["id"], &["tags", "scores", "grid"]);
    let p = PgPipeline::start(
        PgServer::shared(),
        RedisOpts::redis74(),
        "array_columns",
        DDL,
        &[("lists", &job)],
    );
    let mut r = p.redis();
    call(
        &mut r,
        &[
            "JSON.SET",
            "lists:1",
            "$",
            r#"{"id": 1, "tags": ["a b", "c\"d", null], "scores": [3, 1], "grid": [[1, 2], [3, 4]]}"#,
        ],
    );
    call(
        &mut r,
        &[
            "HSET", "lists:2", "id", "2", "tags", r#"["x"]"#, "scores", "{5,6}", "grid", "[]",
        ],
    );
    // Not an integer array: this record goes to the dead-letter queue, the others are written.
    call(
        &mut r,
        &["HSET", "lists:3", "id", "3", "scores", r#"["many"]"#],
    );
    p.drain();
    let rows: Vec<Row> = p
        .pg_client()
        .query(
            "SELECT id, tags::text, scores::text, grid::text FROM lists ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
        .collect();
    let s = |t: &str| Some(t.to_string());
    assert_eq!(
        rows,
        [
            (
                1,
                s(r#"{"a b","c\"d",NULL}"#),
                s("{3,1}"),
                s("{{1,2},{3,4}}")
            ),
            (2, s("{x}"), s("{5,6}"), s("{}")),
        ]
    );
    let dead: i64 = redis::cmd("XLEN")
        .arg("__rdi__:dlq:lists")
        .query(&mut r)
        .unwrap();
    assert_eq!(dead, 1, "the record whose array does not convert");
}
