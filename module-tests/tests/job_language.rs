//! The job language end to end on Redis 7.4 + RedisJSON + PostgreSQL: transforms, SQL and JMESPath
//! expressions, foreach, exclude_commands, row_format full, and the example pipelines of `examples/`.

use module_tests::env::repo_root;
use module_tests::yaml::PG_PASSWORD;
use module_tests::{call, deploy_ok, row, PgPipeline, PgServer, RedisOpts};
use redis::Value;

/// An example folder's config.yaml with its `${env:PG_*}` references pointed at the test database, its
/// jobs and its schema.
fn example(name: &str, pg: &PgServer, db: &str) -> (String, Vec<(String, String)>, String) {
    let dir = repo_root().join("examples").join(name);
    let read = |p: std::path::PathBuf| {
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    let config = read(dir.join("config.yaml"))
        .replace("${env:PG_HOST}", "127.0.0.1")
        .replace("${env:PG_PORT}", &pg.port().to_string())
        .replace("${env:PG_DATABASE}", db)
        .replace("${env:PG_USER}", "postgres")
        .replace("${env:PG_PASSWORD}", PG_PASSWORD);
    let mut jobs = Vec::new();
    for file in std::fs::read_dir(dir.join("jobs")).expect("jobs folder") {
        let file = file.expect("job file").path();
        let name = file
            .file_stem()
            .expect("file name")
            .to_string_lossy()
            .to_string();
        jobs.push((name, read(file)));
    }
    (config, jobs, read(dir.join("schema.sql")))
}

/// Redis with an example pipeline deployed on a fresh database `db`.
fn start_example(name: &str, db: &str) -> PgPipeline<'static> {
    let pg = PgServer::shared();
    let (_, _, ddl) = example(name, pg, db);
    let p = PgPipeline::start(pg, RedisOpts::redis74(), db, &ddl, &[]);
    let (config, jobs, _) = example(name, pg, &p.db);
    let jobs: Vec<(&str, &str)> = jobs.iter().map(|(n, y)| (n.as_str(), y.as_str())).collect();
    deploy_ok(&mut p.redis(), &config, &jobs);
    p
}

/// Redis with one job (YAML written against connection `pg`) on a fresh database `db`.
fn start_job(db: &str, ddl: &str, job: &str) -> PgPipeline<'static> {
    PgPipeline::start(
        PgServer::shared(),
        RedisOpts::redis74(),
        db,
        ddl,
        &[("j", job)],
    )
}

/// The `filtered` counter of the only deployed job, read from `RDI.STATUS`.
fn filtered(p: &PgPipeline) -> i64 {
    fn flatten(v: &Value, out: &mut Vec<Value>) {
        match v {
            Value::Array(items) | Value::Set(items) => items.iter().for_each(|i| flatten(i, out)),
            Value::Map(pairs) => pairs.iter().for_each(|(k, v)| {
                flatten(k, out);
                flatten(v, out);
            }),
            other => out.push(other.clone()),
        }
    }
    let reply: Value = redis::cmd("RDI.STATUS")
        .query(&mut p.redis())
        .expect("RDI.STATUS");
    let mut tokens = Vec::new();
    flatten(&reply, &mut tokens);
    let at = tokens
        .iter()
        .position(|t| {
            matches!(t, Value::BulkString(b) if b == b"filtered")
                || matches!(t, Value::SimpleString(s) if s == "filtered")
        })
        .expect("a filtered field");
    match &tokens[at + 1] {
        Value::Int(n) => *n,
        other => panic!("filtered is not an integer: {other:?}"),
    }
}

#[test]
fn a_filter_drops_records_and_counts_them_and_add_field_computes_with_sql() {
    let p = start_example("filters-and-sql", "lang_filters");
    let mut r = p.redis();
    let customer = |id: &str, first: &str, age: &str, status: &str| {
        vec![
            "HSET", "", "id", id, "first", first, "last", "Doe", "age", age, "status", status,
            "email", "X@Y.ORG",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>()
    };
    for (id, first, age, status) in [
        ("1", "Ann", "70", "active"),
        ("2", "Bob", "16", "active"),
        ("3", "Cy", "40", "deleted"),
        ("4", "Di", "25", "active"),
    ] {
        let mut words = customer(id, first, age, status);
        words[1] = format!("customer:{id}");
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        call(&mut r, &words);
    }
    p.drain();
    assert_eq!(
        p.rows("SELECT id::text, full_name, tier, email FROM customers ORDER BY id"),
        vec![
            row(&["1", "Ann Doe", "senior", "x@y.org"]),
            row(&["4", "Di Doe", "young", "x@y.org"])
        ]
    );
    let status = p.status();
    assert_eq!(
        (
            status.job("customers").inserted,
            status.job("customers").rejected
        ),
        (2, 0),
        "{}",
        status.raw
    );
    assert_eq!(filtered(&p), 2, "{}", status.raw);
}

#[test]
fn foreach_writes_one_detail_row_per_array_element() {
    let ddl = "CREATE TABLE orders (id integer PRIMARY KEY, customer text, line_count integer);\n\
               CREATE TABLE order_lines (order_id integer, line_no integer, sku text, qty integer, \
               PRIMARY KEY (order_id, line_no));";
    let job = "source:\n  redis: {key_pattern: 'ord:*', trigger: write-behind}\n\
               transform:\n  - uses: add_field\n    with: {field: lines, expression: json_parse(lines), language: jmespath}\n\
               output:\n  - uses: relational.write\n    with: {connection: pg, table: orders, keys: [id], \
               mapping: [customer, {line_count: length(lines)}]}\n\
               \x20 - uses: relational.write\n    with:\n      connection: pg\n      table: order_lines\n      \
               foreach: 'l: lines'\n      keys: [{order_id: id}, {line_no: l.no}]\n      mapping: [{sku: l.sku}, {qty: l.qty}]\n";
    let p = start_job("lang_foreach", ddl, job);
    let mut r = p.redis();
    let lines = r#"[{"no": 1, "sku": "A-1", "qty": 2}, {"no": 2, "sku": "B-9", "qty": 1}]"#;
    call(
        &mut r,
        &[
            "HSET", "ord:7", "id", "7", "customer", "ada", "lines", lines,
        ],
    );
    p.drain();
    assert_eq!(
        p.rows("SELECT id::text, customer, line_count::text FROM orders"),
        vec![row(&["7", "ada", "2"])]
    );
    assert_eq!(
        p.rows("SELECT order_id::text, line_no::text, sku, qty::text FROM order_lines ORDER BY line_no"),
        vec![row(&["7", "1", "A-1", "2"]), row(&["7", "2", "B-9", "1"])]
    );
    call(&mut r, &["DEL", "ord:7"]);
    p.drain();
    assert!(p.rows("SELECT sku FROM order_lines").is_empty());
    assert!(p.rows("SELECT id FROM orders").is_empty());
}

#[test]
fn excluded_hdel_keeps_the_field_in_the_table() {
    let ddl = "CREATE TABLE emp (id integer PRIMARY KEY, name text, note text)";
    let job = "source:\n  redis: {key_pattern: 'emp:*', trigger: write-behind, exclude_commands: [HDEL]}\n\
               output:\n  - uses: relational.write\n    with: {connection: pg, table: emp, keys: [id], mapping: [name, note]}\n";
    let p = start_job("lang_exclude", ddl, job);
    let mut r = p.redis();
    call(
        &mut r,
        &["HSET", "emp:1", "id", "1", "name", "Ann", "note", "keep me"],
    );
    p.drain();
    call(&mut r, &["HDEL", "emp:1", "note"]);
    p.drain();
    assert_eq!(
        p.rows("SELECT id::text, name, note FROM emp"),
        vec![row(&["1", "Ann", "keep me"])]
    );
    assert_eq!(p.status().job("j").updated, 0);
    // HDEL of the last fields removes the key: that is a `del` (SPEC 3.1), which the job captures.
    call(&mut r, &["HDEL", "emp:1", "id", "name", "note"]);
    p.drain();
    assert!(p.rows("SELECT id FROM emp").is_empty());
    let status = p.status();
    assert_eq!(
        (status.job("j").deleted, status.job("j").rejected),
        (1, 0),
        "{}",
        status.raw
    );
}

#[test]
fn row_format_full_exposes_the_key_and_the_opcode_to_expressions() {
    let ddl = "CREATE TABLE emp (id integer PRIMARY KEY, redis_key text, op text, name text)";
    let job = "source:\n  redis: {key_pattern: 'emp:*', trigger: write-behind, row_format: full}\n\
               transform:\n  - uses: add_field\n    with:\n      fields:\n        \
               - {field: after.redis_key, expression: key.key, language: jmespath}\n        \
               - {field: after.op, expression: \"CASE opcode WHEN 'c' THEN 'created' ELSE 'updated' END\", language: sql}\n\
               output:\n  - uses: relational.write\n    with: {connection: pg, table: emp, keys: [id], \
               mapping: [redis_key, op, {name: upper(name)}]}\n";
    let p = start_job("lang_full", ddl, job);
    let mut r = p.redis();
    call(&mut r, &["HSET", "emp:1", "id", "1", "name", "ann"]);
    p.drain();
    let all = "SELECT id::text, redis_key, op, name FROM emp";
    assert_eq!(p.rows(all), vec![row(&["1", "emp:1", "created", "ANN"])]);
    call(&mut r, &["HSET", "emp:1", "name", "bea"]);
    p.drain();
    assert_eq!(p.rows(all), vec![row(&["1", "emp:1", "updated", "BEA"])]);
    call(&mut r, &["DEL", "emp:1"]);
    p.drain();
    assert!(p.rows(all).is_empty());
}

/// Needs JSON capture (RedisJSON keys read as their documents).
#[test]
fn a_json_document_with_nested_fields_maps_to_columns() {
    let p = start_example("json-documents", "lang_json");
    let mut r = p.redis();
    let doc = r#"{"id": 1, "profile": {"name": "Ada", "address": {"city": "London"}}, "tags": ["admin", "ops"], "active": true}"#;
    call(&mut r, &["JSON.SET", "user:1", "$", doc]);
    p.drain();
    assert_eq!(
        p.rows("SELECT id::text, name, city, tags, active::text FROM users"),
        vec![row(&["1", "Ada", "London", "admin,ops", "true"])],
        "{}",
        p.status().raw
    );
    call(
        &mut r,
        &["JSON.SET", "user:1", "$.profile.address.city", "\"Paris\""],
    );
    p.drain();
    assert_eq!(p.rows("SELECT city FROM users"), vec![row(&["Paris"])]);
}

/// Needs JSON capture (RedisJSON keys read as their documents).
#[test]
fn the_order_lines_example_normalises_a_json_document_into_two_tables() {
    let p = start_example("order-lines", "lang_orders");
    let mut r = p.redis();
    let doc = r#"{"id": 7, "customer": "ada", "lines": [{"no": 1, "sku": "A-1", "qty": 2}, {"no": 2, "sku": "B-9", "qty": 1}]}"#;
    call(&mut r, &["JSON.SET", "order:7", "$", doc]);
    p.drain();
    assert_eq!(
        p.rows("SELECT order_id::text, line_no::text, sku, qty::text FROM order_lines ORDER BY line_no"),
        vec![row(&["7", "1", "A-1", "2"]), row(&["7", "2", "B-9", "1"])],
        "{}",
        p.status().raw
    );
    assert_eq!(
        p.rows("SELECT line_count::text FROM orders"),
        vec![row(&["2"])]
    );
}
