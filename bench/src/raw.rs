//! The baselines: the same rows upserted by a plain Rust client, the best way we know.

use std::time::Instant;

use crate::load::row_fields;

/// The target table of the throughput figures (same in PostgreSQL and SQLite).
pub fn emp_ddl(table: &str, pg: bool) -> String {
    let int = if pg { "bigint" } else { "INTEGER" };
    format!(
        "CREATE TABLE {table} (id {int} PRIMARY KEY, name text, email text, city text, age integer)"
    )
}

const UPDATE_SET: &str =
    "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email, \
     city = EXCLUDED.city, age = EXCLUDED.age";

/// Rows per second of `n` upserts into a fresh PostgreSQL table with `unnest` arrays, `batch` rows per
/// statement, each statement its own transaction.
pub fn pg_unnest(client: &mut postgres::Client, table: &str, n: u64, batch: usize) -> f64 {
    fresh_pg(client, table);
    let sql = format!(
        "INSERT INTO {table} (id, name, email, city, age) SELECT * FROM \
         unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::int4[]) {UPDATE_SET}"
    );
    let stmt = client.prepare(&sql).expect("prepare unnest");
    let start = Instant::now();
    let mut i = 0;
    while i < n {
        let end = (i + batch as u64).min(n);
        let (ids, names, emails, cities, ages) = unnest_columns(i..end);
        client
            .execute(&stmt, &[&ids, &names, &emails, &cities, &ages])
            .expect("unnest upsert");
        i = end;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// The `unnest` arrays of rows `rows`: one per column.
type Columns = (Vec<i64>, Vec<String>, Vec<String>, Vec<String>, Vec<i32>);

fn unnest_columns(rows: std::ops::Range<u64>) -> Columns {
    let mut c: Columns = Default::default();
    for r in rows {
        let [id, name, email, city, age] = row_fields(r);
        c.0.push(id.parse::<i64>().unwrap_or_default());
        c.1.push(name);
        c.2.push(email);
        c.3.push(city);
        c.4.push(age.parse::<i32>().unwrap_or_default());
    }
    c
}

/// Like [`pg_unnest`] with the asynchronous client keeping two statements in flight (pipelining): the
/// server starts on a batch as soon as the previous one commits, while the client prepares the next.
pub fn pg_unnest_pipelined(connection_string: &str, table: &str, n: u64, batch: usize) -> f64 {
    use futures::stream::{FuturesOrdered, StreamExt};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (client, connection) =
            tokio_postgres::connect(connection_string, tokio_postgres::NoTls)
                .await
                .expect("connect (async client)");
        tokio::spawn(connection);
        client
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS {table}; {}",
                emp_ddl(table, true)
            ))
            .await
            .expect("create raw table");
        let sql = format!(
            "INSERT INTO {table} (id, name, email, city, age) SELECT * FROM \
             unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::int4[]) {UPDATE_SET}"
        );
        let stmt = client.prepare(&sql).await.expect("prepare unnest");
        let start = Instant::now();
        let mut inflight = FuturesOrdered::new();
        let mut i = 0;
        while i < n || !inflight.is_empty() {
            while i < n && inflight.len() < 2 {
                let end = (i + batch as u64).min(n);
                let (ids, names, emails, cities, ages) = unnest_columns(i..end);
                let (client, stmt) = (&client, &stmt);
                inflight.push_back(async move {
                    client
                        .execute(stmt, &[&ids, &names, &emails, &cities, &ages])
                        .await
                });
                i = end;
            }
            if let Some(result) = inflight.next().await {
                result.expect("unnest upsert (pipelined)");
            }
        }
        n as f64 / start.elapsed().as_secs_f64()
    })
}

/// Like [`pg_unnest`] with one multi-row `VALUES` statement per batch.
pub fn pg_values(client: &mut postgres::Client, table: &str, n: u64, batch: usize) -> f64 {
    fresh_pg(client, table);
    let prepare = |client: &mut postgres::Client, rows: usize| {
        let tuples: Vec<String> = (0..rows)
            .map(|r| {
                let b = r * 5;
                format!(
                    "(${}::int8, ${}, ${}, ${}, ${}::int4)",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO {table} (id, name, email, city, age) VALUES {} {UPDATE_SET}",
            tuples.join(",")
        );
        client.prepare(&sql).expect("prepare values")
    };
    let full = prepare(client, batch);
    let start = Instant::now();
    let mut i = 0;
    while i < n {
        let end = (i + batch as u64).min(n);
        let stmt = if end - i == batch as u64 {
            full.clone()
        } else {
            prepare(client, (end - i) as usize)
        };
        let mut ints: Vec<(i64, i32)> = Vec::new();
        let mut texts: Vec<[String; 3]> = Vec::new();
        for r in i..end {
            let [id, name, email, city, age] = row_fields(r);
            ints.push((
                id.parse().unwrap_or_default(),
                age.parse().unwrap_or_default(),
            ));
            texts.push([name, email, city]);
        }
        let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = Vec::new();
        for (k, t) in ints.iter().zip(&texts) {
            params.push(&k.0);
            params.push(&t[0]);
            params.push(&t[1]);
            params.push(&t[2]);
            params.push(&k.1);
        }
        client.execute(&stmt, &params).expect("values upsert");
        i = end;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// CPU time (user + system, in clock ticks of 10 ms) of the PostgreSQL backend `pid` so far, read
/// from `/proc` (the bench's server runs on this machine); `None` if it cannot be read.
pub fn backend_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// CPU ticks so far of the client backends connected to database `db` but `client`'s own (the
/// module's writers); a backend that starts later counts from zero.
pub fn writer_ticks(client: &mut postgres::Client, db: &str) -> Option<u64> {
    let rows = client
        .query(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 \
             AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
            &[&db],
        )
        .ok()?;
    rows.iter().map(|r| backend_ticks(r.get(0))).sum()
}

/// Microseconds of PostgreSQL backend CPU per row between two readings of [`backend_ticks`].
pub fn cpu_per_row(before: Option<u64>, after: Option<u64>, rows: u64) -> Option<f64> {
    let ticks = after?.checked_sub(before?)?;
    Some(ticks as f64 * 10_000.0 / rows.max(1) as f64)
}

/// Like [`pg_unnest`], and the backend's CPU per row (µs) when it can be read.
pub fn pg_unnest_cpu(
    client: &mut postgres::Client,
    table: &str,
    n: u64,
    batch: usize,
) -> (f64, Option<f64>) {
    let pid: Option<i32> = client
        .query_one("SELECT pg_backend_pid()", &[])
        .ok()
        .map(|r| r.get(0));
    let before = pid.and_then(backend_ticks);
    let rate = pg_unnest(client, table, n, batch);
    (rate, cpu_per_row(before, pid.and_then(backend_ticks), n))
}

fn fresh_pg(client: &mut postgres::Client, table: &str) {
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {table}; {}",
            emp_ddl(table, true)
        ))
        .expect("create raw table");
}

/// Rows per second of `n` upserts into a fresh SQLite table (WAL, synchronous FULL, as the module
/// opens it) with one prepared statement, `batch` rows per transaction.
pub fn sqlite(path: &std::path::Path, n: u64, batch: usize) -> f64 {
    let _ = std::fs::remove_file(path);
    let mut conn = rusqlite::Connection::open(path).expect("open sqlite");
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("synchronous");
    conn.execute_batch(&emp_ddl("emp", false)).expect("table");
    let sql = format!(
        "INSERT INTO emp (id, name, email, city, age) VALUES (?1, ?2, ?3, ?4, ?5) {UPDATE_SET}"
    );
    let start = Instant::now();
    let mut i = 0;
    while i < n {
        let end = (i + batch as u64).min(n);
        let tx = conn.transaction().expect("begin");
        {
            let mut stmt = tx.prepare_cached(&sql).expect("prepare");
            for r in i..end {
                let [id, name, email, city, age] = row_fields(r);
                let id: i64 = id.parse().unwrap_or_default();
                let age: i64 = age.parse().unwrap_or_default();
                stmt.execute(rusqlite::params![id, name, email, city, age])
                    .expect("sqlite upsert");
            }
        }
        tx.commit().expect("commit");
        i = end;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Latencies (µs) of single-row upsert round trips (each its own transaction), `count` of them.
pub fn pg_single_row_latency(client: &mut postgres::Client, table: &str, count: u64) -> Vec<u64> {
    fresh_pg(client, table);
    let sql = format!(
        "INSERT INTO {table} (id, name, email, city, age) VALUES ($1, $2, $3, $4, $5) {UPDATE_SET}"
    );
    let stmt = client.prepare(&sql).expect("prepare single");
    (0..count)
        .map(|r| {
            let [_, name, email, city, _] = row_fields(r);
            let t = Instant::now();
            client
                .execute(
                    &stmt,
                    &[&(r as i64), &name, &email, &city, &(r as i32 % 100)],
                )
                .expect("single upsert");
            t.elapsed().as_micros() as u64
        })
        .collect()
}

/// Rows per second of `n` upserts into a fresh MariaDB table by the plain `mysql` client: one prepared
/// multi-row `INSERT ... VALUES (...), ... ON DUPLICATE KEY UPDATE` per `batch` rows, each statement its
/// own transaction (autocommit).
pub fn maria_values(conn: &mut mysql::Conn, table: &str, n: u64, batch: usize) -> f64 {
    use mysql::prelude::Queryable;
    conn.query_drop(format!(
        "DROP TABLE IF EXISTS {table}; {}",
        emp_ddl(table, false).replace("INTEGER", "bigint")
    ))
    .expect("create raw table");
    let prepare = |conn: &mut mysql::Conn, rows: usize| {
        let tuples = vec!["(?, ?, ?, ?, ?)"; rows].join(",");
        conn.prep(format!(
            "INSERT INTO {table} (id, name, email, city, age) VALUES {tuples} \
             ON DUPLICATE KEY UPDATE name = VALUES(name), email = VALUES(email), \
             city = VALUES(city), age = VALUES(age)"
        ))
        .expect("prepare values")
    };
    let full = prepare(conn, batch);
    let start = Instant::now();
    let mut i = 0;
    while i < n {
        let end = (i + batch as u64).min(n);
        let stmt = if end - i == batch as u64 {
            full.clone()
        } else {
            prepare(conn, (end - i) as usize)
        };
        let mut params: Vec<mysql::Value> = Vec::with_capacity((end - i) as usize * 5);
        for r in i..end {
            let [id, name, email, city, age] = row_fields(r);
            params.push(id.parse::<i64>().unwrap_or_default().into());
            params.push(name.into());
            params.push(email.into());
            params.push(city.into());
            params.push(age.parse::<i32>().unwrap_or_default().into());
        }
        conn.exec_drop(&stmt, params).expect("values upsert");
        i = end;
    }
    n as f64 / start.elapsed().as_secs_f64()
}
