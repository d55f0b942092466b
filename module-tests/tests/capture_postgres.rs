//! Hash changes on matching keys reach PostgreSQL: upsert, update, HDEL, DEL, UNLINK, RENAME, mapping.

use module_tests::yaml::{pg_job, PG_PASSWORD};
use module_tests::{call, row, PgPipeline, PgServer, RedisOpts};

const DDL: &str = "CREATE TABLE emp (id integer PRIMARY KEY, name text, age integer, note text)";
const ALL: &str = "SELECT id::text, name, age::text, note FROM emp ORDER BY emp.id";

/// Redis with the `emp` job (`emp:*` → public.emp, key `id`) deployed on a fresh database `db`.
fn start(db: &str) -> PgPipeline<'static> {
    let job = pg_job("emp:*", "emp", &["id"], &["name", "age", "note"]);
    PgPipeline::start(
        PgServer::shared(),
        RedisOpts::redis74(),
        db,
        DDL,
        &[("emp", &job)],
    )
}

#[test]
fn hset_hmset_and_hsetnx_of_new_keys_insert_rows() {
    let p = start("cap_insert");
    let mut r = p.redis();
    call(
        &mut r,
        &["HSET", "emp:1", "id", "1", "name", "Alice", "age", "30"],
    );
    call(
        &mut r,
        &[
            "HMSET", "emp:2", "id", "2", "name", "Bob", "age", "40", "note", "x",
        ],
    );
    call(&mut r, &["HSETNX", "emp:3", "id", "3"]);
    p.drain();
    assert_eq!(
        p.rows(ALL),
        vec![
            row(&["1", "Alice", "30", "NULL"]),
            row(&["2", "Bob", "40", "x"]),
            row(&["3", "NULL", "NULL", "NULL"])
        ]
    );
    let status = p.status();
    let job = status.job("emp");
    assert_eq!(job.key_pattern, "emp:*");
    assert_eq!(
        (job.pending, job.inserted, job.deleted, job.rejected),
        (0, 3, 0, 0),
        "{}",
        status.raw
    );
    assert_eq!(job.last_error, None, "{}", status.raw);
    assert_eq!(status.engine, "RUNNING");
    assert_eq!(status.role, "primary");
    let pg = status.connection("pg");
    assert_eq!(
        (pg.kind.as_str(), pg.health.as_str()),
        ("postgresql", "ok"),
        "{}",
        status.raw
    );
    assert_eq!(pg.database.as_deref(), Some(p.db.as_str()));
    assert!(
        pg.location.contains(&p.pg.port().to_string()),
        "{}",
        status.raw
    );
    assert_eq!(pg.host.as_deref(), Some("127.0.0.1"), "{}", status.raw);
    assert_eq!(pg.port, Some(i64::from(p.pg.port())), "{}", status.raw);
    assert!(
        !status.raw.contains(PG_PASSWORD),
        "RDI.STATUS shows the password: {}",
        status.raw
    );
}

#[test]
fn hset_hincrby_hincrbyfloat_and_hsetnx_on_an_existing_key_update_its_row() {
    let p = start("cap_update");
    let mut r = p.redis();
    call(
        &mut r,
        &["HSET", "emp:1", "id", "1", "name", "Alice", "age", "30"],
    );
    p.drain();
    call(&mut r, &["HSET", "emp:1", "name", "Alicia"]);
    p.drain();
    assert_eq!(p.rows(ALL), vec![row(&["1", "Alicia", "30", "NULL"])]);
    call(&mut r, &["HINCRBY", "emp:1", "age", "5"]);
    p.drain();
    assert_eq!(p.rows(ALL), vec![row(&["1", "Alicia", "35", "NULL"])]);
    call(&mut r, &["HINCRBYFLOAT", "emp:1", "age", "1"]);
    p.drain();
    assert_eq!(p.rows(ALL), vec![row(&["1", "Alicia", "36", "NULL"])]);
    call(&mut r, &["HSETNX", "emp:1", "note", "hello"]);
    p.drain();
    assert_eq!(p.rows(ALL), vec![row(&["1", "Alicia", "36", "hello"])]);
    let status = p.status();
    let job = status.job("emp");
    assert_eq!(
        (job.inserted, job.updated, job.pending),
        (1, 4, 0),
        "{}",
        status.raw
    );
}

#[test]
fn hdel_of_a_non_key_field_updates_the_row_and_clears_that_column() {
    let p = start("cap_hdel");
    let mut r = p.redis();
    call(
        &mut r,
        &[
            "HSET", "emp:4", "id", "4", "name", "Dan", "age", "50", "note", "temp",
        ],
    );
    p.drain();
    call(&mut r, &["HDEL", "emp:4", "note", "age"]);
    p.drain();
    assert_eq!(p.rows(ALL), vec![row(&["4", "Dan", "NULL", "NULL"])]);
}

#[test]
fn del_and_unlink_delete_the_rows_of_their_keys() {
    let p = start("cap_delete");
    let mut r = p.redis();
    for i in ["5", "6", "7"] {
        call(&mut r, &["HSET", &format!("emp:{i}"), "id", i, "name", "n"]);
    }
    p.drain();
    call(&mut r, &["DEL", "emp:5"]);
    call(&mut r, &["UNLINK", "emp:6"]);
    p.drain();
    assert_eq!(p.rows(ALL), vec![row(&["7", "n", "NULL", "NULL"])]);
    let status = p.status();
    assert_eq!(status.job("emp").deleted, 2, "{}", status.raw);
}

#[test]
fn delete_then_recreate_with_another_id_removes_the_old_row_and_writes_the_new() {
    let p = start("cap_del_recreate");
    let mut r = p.redis();
    call(&mut r, &["HSET", "emp:1", "id", "1", "name", "old"]);
    p.drain();
    // Queued together: the delete carries the old value (id 1), the upsert reads the new one (id 2).
    call(&mut r, &["DEL", "emp:1"]);
    call(&mut r, &["HSET", "emp:1", "id", "2", "name", "new"]);
    p.drain();
    assert_eq!(p.rows(ALL), vec![row(&["2", "new", "NULL", "NULL"])]);
}

#[test]
fn rename_within_the_pattern_deletes_then_upserts_so_the_row_stays() {
    let p = start("cap_rename_within");
    let mut r = p.redis();
    call(&mut r, &["HSET", "emp:8", "id", "8", "name", "Eve"]);
    p.drain();
    call(&mut r, &["RENAME", "emp:8", "emp:9"]);
    p.drain();
    assert_eq!(p.rows(ALL), vec![row(&["8", "Eve", "NULL", "NULL"])]);
    call(&mut r, &["HSET", "emp:9", "name", "Eva"]);
    p.drain();
    assert_eq!(p.rows(ALL), vec![row(&["8", "Eva", "NULL", "NULL"])]);
}

#[test]
fn rename_out_of_the_pattern_deletes_and_rename_into_it_inserts() {
    let p = start("cap_rename_in_out");
    let mut r = p.redis();
    call(&mut r, &["HSET", "emp:10", "id", "10", "name", "Out"]);
    call(&mut r, &["HSET", "tmp:11", "id", "11", "name", "In"]);
    p.drain();
    assert_eq!(p.rows(ALL), vec![row(&["10", "Out", "NULL", "NULL"])]);
    call(&mut r, &["RENAME", "emp:10", "gone:10"]);
    call(&mut r, &["RENAME", "tmp:11", "emp:11"]);
    p.drain();
    assert_eq!(p.rows(ALL), vec![row(&["11", "In", "NULL", "NULL"])]);
}

#[test]
fn rename_over_an_existing_key_deletes_the_overwritten_row() {
    let p = start("cap_rename_over");
    let mut r = p.redis();
    call(&mut r, &["HSET", "emp:12", "id", "12", "name", "A"]);
    call(&mut r, &["HSET", "emp:13", "id", "13", "name", "B"]);
    p.drain();
    call(&mut r, &["RENAME", "emp:12", "emp:13"]);
    p.drain();
    assert_eq!(p.rows(ALL), vec![row(&["12", "A", "NULL", "NULL"])]);
}

#[test]
fn column_field_mapping_writes_a_field_into_a_differently_named_column() {
    let job = pg_job(
        "person:*",
        "person",
        &["id"],
        &["full_name: name", "years: age"],
    );
    let ddl = "CREATE TABLE person (id integer PRIMARY KEY, full_name text, years integer)";
    let p = PgPipeline::start(
        PgServer::shared(),
        RedisOpts::redis74(),
        "cap_mapping",
        ddl,
        &[("person", &job)],
    );
    call(
        &mut p.redis(),
        &[
            "HSET", "person:1", "id", "1", "name", "Zoe", "age", "22", "extra", "ignored",
        ],
    );
    p.drain();
    let rows = p.rows("SELECT id::text, full_name, years::text FROM person");
    assert_eq!(rows, vec![row(&["1", "Zoe", "22"])]);
}

#[test]
fn keys_not_matching_the_pattern_are_not_written() {
    let p = start("cap_no_match");
    let mut r = p.redis();
    call(&mut r, &["HSET", "other:1", "id", "100", "name", "X"]);
    call(&mut r, &["HSET", "employee:2", "id", "200", "name", "Y"]);
    call(&mut r, &["HSET", "EMP:3", "id", "300", "name", "Z"]);
    call(&mut r, &["HSET", "emp:1", "id", "1", "name", "Yes"]);
    p.drain();
    assert_eq!(p.rows(ALL), vec![row(&["1", "Yes", "NULL", "NULL"])]);
    let status = p.status();
    assert_eq!(status.job("emp").written(), 1, "{}", status.raw);
}
