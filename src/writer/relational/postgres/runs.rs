//! PostgreSQL statements for many rows at once: each run of consecutive rows of one table and operation
//! becomes one `unnest` statement (one text array per column), in one transaction with the checkpoint.

use std::borrow::Cow;
use std::collections::HashSet;

use ::tokio_postgres::types::{ToSql, Type};
use ::tokio_postgres::{Error, GenericClient, Statement, Transaction};

use super::super::checkpoint;
use super::super::dialect::{Dialect, PostgresDialect};
use super::super::table::TableSchema;
use super::arrays::{self, Array};
use super::session::Session;
use super::{classify, Item};
use crate::writer::{Checkpoint, RowOp, WriteError};

/// Writes the rows in one transaction, each run of consecutive rows of one table and operation as one
/// `unnest` statement. A run ends before a row whose keys (as text) it already holds, so that an upsert
/// never meets its own row twice and the order of changes to one row is kept.
///
/// When the rows make a single statement and no checkpoint goes with them, that statement is sent
/// alone: one statement is a transaction of its own (atomic, committed when it returns), and
/// `BEGIN` and `COMMIT` would cost two more round trips to the server per batch.
pub(super) fn write_runs(
    session: &mut Session,
    work: &[Item],
    cp: Option<&Checkpoint>,
) -> Result<(), RunError> {
    if cp.is_none() && is_one_statement(work) {
        return session
            .block_on(execute_run(session.client(), work))
            .map_err(RunError::Pg);
    }
    in_transaction(session, work, cp, run_end)
}

/// Why a batch was not written: PostgreSQL's error, or the server was demoted before the commit
/// (`writer::fence`; the transaction was rolled back).
#[derive(Debug)]
pub(super) enum RunError {
    Pg(Error),
    Fenced(WriteError),
}

impl RunError {
    /// PostgreSQL's error, if it was one.
    pub(super) fn pg(&self) -> Option<&Error> {
        match self {
            RunError::Pg(e) => Some(e),
            RunError::Fenced(_) => None,
        }
    }

    /// As the writer reports it.
    pub(super) fn into_write_error(self) -> WriteError {
        match self {
            RunError::Pg(e) => classify(&e),
            RunError::Fenced(e) => e,
        }
    }
}

/// Executes `work` in one transaction with the checkpoint, as consecutive runs, each ending where
/// `end_of(work, start)` says (always past `start`).
fn in_transaction(
    session: &mut Session,
    work: &[Item],
    cp: Option<&Checkpoint>,
    end_of: fn(&[Item], usize) -> usize,
) -> Result<(), RunError> {
    let (runtime, client, watchdog) = session.parts();
    runtime.block_on(watchdog.guard(async {
        let tx = client.transaction().await.map_err(RunError::Pg)?;
        let mut start = 0;
        while start < work.len() {
            let end = end_of(work, start).max(start + 1);
            execute_run(&tx, &work[start..end])
                .await
                .map_err(RunError::Pg)?;
            start = end;
        }
        record_checkpoint(&tx, cp).await.map_err(RunError::Pg)?;
        // A lock may have been waited for: the server may have been demoted meanwhile. Dropping
        // the transaction rolls it back.
        crate::writer::fence::check().map_err(RunError::Fenced)?;
        tx.commit().await.map_err(RunError::Pg)
    }))
}

/// Whether the rows make one statement (or none), so that they can be sent without a transaction.
pub(super) fn is_one_statement(work: &[Item]) -> bool {
    run_end(work, 0) == work.len()
}

/// Where the run that starts at `start` ends: at the first row of another statement, or (but for
/// plain inserts) at the first row whose keys the run already holds.
fn run_end(work: &[Item], start: usize) -> usize {
    let Some(first) = work.get(start) else {
        return start;
    };
    let keys = first.table.schema.keys;
    let mut seen: HashSet<&[Option<Cow<'_, str>>]> = HashSet::new();
    let mut end = start;
    while let Some(item) = work.get(end) {
        let same = std::ptr::eq(item.statements, first.statements);
        let key = item.params.get(..keys).unwrap_or_default();
        if !same || (first.op != RowOp::Insert && keys > 0 && !seen.insert(key)) {
            break;
        }
        end += 1;
    }
    end
}

/// Executes one run: its row alone, or all of its rows as one `unnest` statement.
pub(super) async fn execute_run(
    client: &impl GenericClient,
    run: &[Item<'_>],
) -> Result<(), Error> {
    let Some(first) = run.first() else {
        return Ok(());
    };
    if run.len() == 1 {
        return execute_one(client, first).await;
    }
    let width = first.params.len();
    let columns: Vec<Vec<Option<&str>>> = (0..width)
        .map(|c| {
            run.iter()
                .map(|item| item.params.get(c).and_then(|p| p.as_deref()))
                .collect()
        })
        .collect();
    // Integer columns as integer arrays when every value of the run is a plain integer (`arrays`).
    if let Some((statement, types)) = &first.statements.typed {
        if let Some(arrays) = arrays::typed(&columns, types) {
            let refs: Vec<&(dyn ToSql + Sync)> = arrays.iter().map(Array::as_sql).collect();
            return client.execute(statement, &refs).await.map(|_| ());
        }
    }
    let refs: Vec<&(dyn ToSql + Sync)> = columns.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
    client
        .execute(&first.statements.many, &refs)
        .await
        .map(|_| ())
}

/// Writes the rows in one transaction, one statement per row.
pub(super) fn write_rows(
    session: &mut Session,
    work: &[Item],
    cp: Option<&Checkpoint>,
) -> Result<(), RunError> {
    in_transaction(session, work, cp, |_, start| start + 1)
}

/// Records the batch's queue position in the same transaction (applier.exactly_once).
async fn record_checkpoint(tx: &Transaction<'_>, cp: Option<&Checkpoint>) -> Result<(), Error> {
    if let Some(cp) = cp {
        let sql = checkpoint::upsert_sql(&cp.table, "$1", "$2", "now()");
        tx.execute(sql.as_str(), &[&cp.stream, &cp.position])
            .await?;
    }
    Ok(())
}

async fn execute_one(client: &impl GenericClient, item: &Item<'_>) -> Result<(), Error> {
    let refs: Vec<&(dyn ToSql + Sync)> = item
        .params
        .iter()
        .map(|p| p as &(dyn ToSql + Sync))
        .collect();
    client
        .execute(&item.statements.one, &refs)
        .await
        .map(|_| ())
}

/// The upsert (or plain insert) of many rows: one array per column (of `types`, text arrays where
/// `None`), cast per column like the single-row statement, with the same `ON CONFLICT` clause.
pub(super) fn unnest_upsert_sql(
    schema: &TableSchema,
    upsert: bool,
    types: Option<&[Type]>,
) -> String {
    let d = PostgresDialect;
    let n = schema.columns.len();
    let names: Vec<String> = schema.columns.iter().map(|c| d.quote(&c.name)).collect();
    let casts: Vec<String> = schema
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("CAST(u.c{i} AS {})", c.sql_type))
        .collect();
    let single = d.insert_sql(schema);
    let tail = if upsert {
        d.upsert_sql(schema)
            .get(single.len()..)
            .unwrap_or_default()
            .to_string()
    } else {
        String::new()
    };
    format!(
        "INSERT INTO {} ({}) SELECT {} FROM {}{tail}",
        d.table_name(schema),
        names.join(", "),
        casts.join(", "),
        unnest_from(n, types),
    )
}

/// The delete of many rows by their keys (arrays of `types`, text arrays where `None`).
pub(super) fn unnest_delete_sql(schema: &TableSchema, types: Option<&[Type]>) -> String {
    let d = PostgresDialect;
    let keys = schema.key_columns();
    let names: Vec<String> = keys.iter().map(|c| d.quote(&c.name)).collect();
    let casts: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(i, c)| format!("CAST(u.c{i} AS {})", c.sql_type))
        .collect();
    format!(
        "DELETE FROM {} WHERE ({}) IN (SELECT {} FROM {})",
        d.table_name(schema),
        names.join(", "),
        casts.join(", "),
        unnest_from(keys.len(), types),
    )
}

/// `unnest` of `n` array parameters, of `types` (text arrays where `None`).
pub(super) fn unnest_from(n: usize, types: Option<&[Type]>) -> String {
    let arrays: Vec<String> = (0..n)
        .map(|i| {
            let t = types
                .and_then(|t| t.get(i))
                .map_or("text[]", arrays::sql_name);
            format!("${}::{t}", i + 1)
        })
        .collect();
    let aliases: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
    format!("unnest({}) AS u({})", arrays.join(", "), aliases.join(", "))
}

/// Prepares a statement of `params` text-array parameters (checked like [`prepare`]).
pub(super) fn prepare_many(
    client: &Session,
    sql: &str,
    params: usize,
) -> Result<Statement, WriteError> {
    prepare_arrays(client, sql, &vec![Type::TEXT_ARRAY; params])
}

/// Prepares a statement of array parameters of `types` (checked like [`prepare`]).
pub(super) fn prepare_arrays(
    client: &Session,
    sql: &str,
    types: &[Type],
) -> Result<Statement, WriteError> {
    // Empty columns always make arrays.
    let empty = arrays::typed(&vec![Vec::new(); types.len()], types).unwrap_or_default();
    let refs: Vec<&(dyn ToSql + Sync)> = empty.iter().map(Array::as_sql).collect();
    explained(client, sql, types, &refs)
}

/// Prepares a statement of `params` text parameters, after planning it once with `EXPLAIN`: planning
/// checks what the catalog and the parser do not (keys without a unique index for `ON CONFLICT`,
/// table rights), so that `check` finds it rather than the first write.
pub(super) fn prepare(client: &Session, sql: &str, params: usize) -> Result<Statement, WriteError> {
    let nulls: Vec<Option<&str>> = vec![None; params];
    let refs: Vec<&(dyn ToSql + Sync)> = nulls.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    explained(client, sql, &vec![Type::TEXT; params], &refs)
}

/// Plans `sql` with `EXPLAIN` for `empty` parameters of `types`, then prepares it.
fn explained(
    client: &Session,
    sql: &str,
    types: &[Type],
    empty: &[&(dyn ToSql + Sync)],
) -> Result<Statement, WriteError> {
    let explain = client
        .prepare_typed(&format!("EXPLAIN {sql}"), types)
        .map_err(|e| classify(&e))?;
    client.query(&explain, empty).map_err(|e| classify(&e))?;
    client.prepare_typed(sql, types).map_err(|e| classify(&e))
}
