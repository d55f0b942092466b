//! The PostgreSQL writer: column types from the catalog, every value validated in Rust, bound as text
//! and cast in SQL (integer columns of many-row statements as integer arrays: `arrays`); error
//! classification by SQLSTATE; reconnection after a lost connection.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use ::tokio_postgres::error::SqlState;
use ::tokio_postgres::{Config, Statement};

use super::checkpoint;
use super::lookup::{new_targets, tables_of};
use crate::config::SqlServerConnection;
use crate::writer::{Checkpoint, RowChange, RowOp, TableTarget, WriteError, WriteOutcome, Writer};

use super::convert::{json_type, Column, ColumnKind, SqlValue};
use super::dialect::{Dialect, PostgresDialect};
use super::table::TableSchema;
use ::tokio_postgres::types::Type;
pub use errors::{classify, classify_sqlstate};
pub use options::client_config;
use runs::{prepare, prepare_arrays, prepare_many, unnest_delete_sql, unnest_upsert_sql};
use runs::{write_rows, write_runs, RunError};
use session::Session;
use tls::{is_handshake_failure, tls, Tls};

mod arrays;
mod errors;
mod options;
mod pipeline;
mod runs;
mod session;
mod tls;

/// Columns of a table (or view) in order: name, type as SQL spells it, base type name and type modifier
/// (domains are seen through to their base type). `$1` is the table name quoted as a statement would
/// write it, so that it resolves through `search_path` exactly as the statements do.
const CATALOG_SQL: &str = "\
SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), bt.typname::text, \
       CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END \
FROM pg_catalog.pg_attribute a \
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
JOIN pg_catalog.pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END \
WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
  AND c.relkind IN ('r', 'p', 'v', 'f') \
ORDER BY a.attnum";

/// A checked table and its statements, prepared on the current connection.
struct PgTable {
    schema: TableSchema,
    upsert: Statements,
    insert: Statements,
    /// `None` when the target has no keys.
    delete: Option<Statements>,
}

/// The statements of one operation on a table: one row at a time, many rows at a time through
/// `unnest` of one text array per column, and of integer arrays for the integer columns when the
/// table has any (`arrays`).
struct Statements {
    one: Statement,
    many: Statement,
    /// The many-row statement with integer arrays, and its parameters' types.
    typed: Option<(Statement, Vec<Type>)>,
}

impl Statements {
    /// Prepares `one_sql` (of `params` parameters) and the many-row statement `many_sql` makes for
    /// array types (text arrays for `None`), twice when the operation's columns include integers.
    fn prepare(
        client: &Session,
        schema: &TableSchema,
        params: usize,
        one_sql: &str,
        many_sql: &dyn Fn(Option<&[Type]>) -> String,
    ) -> Result<Statements, WriteError> {
        let one = prepare(client, one_sql, params)?;
        let many = prepare_many(client, &many_sql(None), params)?;
        let typed = match arrays::typed_arrays(schema, params) {
            Some(types) => Some((
                prepare_arrays(client, &many_sql(Some(&types)), &types)?,
                types,
            )),
            None => None,
        };
        Ok(Statements { one, many, typed })
    }
}

/// One row to write, with the statements that write it alone or in a run of its kind.
struct Item<'a> {
    table: &'a PgTable,
    op: RowOp,
    statements: &'a Statements,
    params: Vec<Option<Cow<'a, str>>>,
}

/// Writes to one PostgreSQL database; reconnects on the next call after the connection is lost.
pub struct PostgresWriter {
    config: Config,
    tls: Tls,
    /// How long each call may wait for the server (`connect_args.read_timeout`).
    read_timeout: Duration,
    client: Option<Session>,
    /// Tables checked on the current connection; emptied when it is replaced.
    tables: HashMap<TableTarget, PgTable>,
}

impl PostgresWriter {
    /// Connects; fails with [`WriteError::Transient`] when the server cannot be reached and with
    /// [`WriteError::Schema`] when the settings cannot work.
    pub fn connect(settings: &SqlServerConnection) -> Result<Self, WriteError> {
        let config = client_config(settings)?;
        let tls = tls(settings)?;
        let read_timeout = options::read_timeout(settings)?;
        let client = open(&config, &tls, read_timeout)?;
        Ok(PostgresWriter {
            config,
            tls,
            read_timeout,
            client: Some(client),
            tables: HashMap::new(),
        })
    }

    /// The live client, reconnecting first if there is none or it was closed.
    fn client(&mut self) -> Result<&mut Session, WriteError> {
        let client = match self.client.take() {
            Some(client) if !client.is_closed() => client,
            _ => {
                // Statements belong to the old connection.
                self.tables.clear();
                open(&self.config, &self.tls, self.read_timeout)?
            }
        };
        Ok(self.client.insert(client))
    }

    /// Checks a table on the current connection (never reconnecting, so that tables checked earlier
    /// in the same call stay valid) and keeps its statements.
    fn load(&mut self, target: &TableTarget) -> Result<(), WriteError> {
        let client = self.client.as_mut().ok_or_else(not_connected)?;
        let probe = TableSchema {
            schema: target.schema.clone(),
            table: target.table.clone(),
            columns: vec![],
            keys: 0,
        };
        let quoted = PostgresDialect.table_name(&probe);
        let rows = client
            .query(CATALOG_SQL, &[&quoted])
            .map_err(|e| classify(&e))?;
        let catalog: Vec<Column> = rows
            .iter()
            .map(|row| {
                let (name, sql_type, base, typmod): (String, String, String, i32) = (
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                );
                Ok(Column {
                    name,
                    sql_type,
                    kind: postgres_kind(&base, typmod),
                })
            })
            .collect::<Result<_, ::tokio_postgres::Error>>()
            .map_err(|e| classify(&e))?;
        let display = match &target.schema {
            Some(schema) => format!("{schema}.{}", target.table),
            None if catalog.is_empty() => {
                let row = client
                    .query_one("SELECT current_schema()::text", &[])
                    .map_err(|e| classify(&e))?;
                let current: Option<String> = row.try_get(0).map_err(|e| classify(&e))?;
                format!(
                    "{}.{}",
                    current.unwrap_or_else(|| "(no schema)".into()),
                    target.table
                )
            }
            None => target.table.clone(),
        };
        let schema = TableSchema::resolve(target, &display, &catalog)?;
        let d = PostgresDialect;
        let n = schema.columns.len();
        let upsert = Statements::prepare(client, &schema, n, &d.upsert_sql(&schema), &|t| {
            unnest_upsert_sql(&schema, true, t)
        })?;
        let insert = Statements::prepare(client, &schema, n, &d.insert_sql(&schema), &|t| {
            unnest_upsert_sql(&schema, false, t)
        })?;
        let delete = match schema.keys {
            0 => None,
            keys => Some(Statements::prepare(
                client,
                &schema,
                keys,
                &d.delete_sql(&schema),
                &|t| unnest_delete_sql(&schema, t),
            )?),
        };
        self.tables.insert(
            target.clone(),
            PgTable {
                schema,
                upsert,
                insert,
                delete,
            },
        );
        Ok(())
    }

    /// Connects if needed and checks the tables of `rows` not checked yet.
    fn ready(&mut self, rows: &[RowChange]) -> Result<(), WriteError> {
        self.client()?;
        for target in new_targets(rows) {
            if !self.tables.contains_key(&**target) {
                self.load(target)?;
            }
        }
        Ok(())
    }

    fn try_write(
        &mut self,
        rows: &[RowChange],
        cp: Option<&Checkpoint>,
    ) -> Result<WriteOutcome, WriteError> {
        self.ready(rows)?;
        let (outcome, work) = work_of(&self.tables, rows)?;
        if work.is_empty() && cp.is_none() {
            return Ok(outcome);
        }
        let client = self.client.as_mut().ok_or_else(not_connected)?;
        match write_runs(client, &work, cp) {
            // Two rows of one upsert with keys equal as values though not as text (`citext`, say):
            // written again one row at a time.
            Err(e) if e.pg().and_then(|e| e.code()) == Some(&SqlState::CARDINALITY_VIOLATION) => {
                write_rows(client, &work, cp).map_err(RunError::into_write_error)?
            }
            other => other.map_err(RunError::into_write_error)?,
        }
        Ok(outcome)
    }

    /// Forgets what an error made stale: the connection after a transient error (it may be half
    /// dead, and a new one is cheap next to the back-off), the checked tables after a schema error.
    fn after_error(&mut self, err: &mut WriteError) {
        if let Some(limit) = self.client.as_ref().and_then(Session::timed_out) {
            *err = WriteError::Transient(format!(
                "postgresql: no answer within {} s (read_timeout); the connection was dropped",
                limit.as_secs()
            ));
        }
        super::forget_stale(err, &mut self.client, &mut self.tables);
    }
}

impl Writer for PostgresWriter {
    fn check(&mut self, target: &TableTarget) -> Result<(), WriteError> {
        let mut result = match self.client() {
            Ok(_) => self.load(target),
            Err(err) => Err(err),
        };
        if let Err(err) = &mut result {
            self.after_error(err);
        }
        result
    }

    fn write(&mut self, rows: &[RowChange]) -> Result<WriteOutcome, WriteError> {
        let mut result = self.try_write(rows, None);
        if let Err(err) = &mut result {
            self.after_error(err);
        }
        result
    }

    fn write_many(&mut self, batches: &[&[RowChange]]) -> Vec<Result<WriteOutcome, WriteError>> {
        let mut results = pipeline::write_pipelined(self, batches);
        if let Some(Err(err)) = results.last_mut() {
            self.after_error(err);
        }
        results
    }

    fn statement(&self, row: &RowChange) -> String {
        self.tables
            .get(&*row.target)
            .map(|t| match row.op {
                RowOp::Upsert => PostgresDialect.upsert_sql(&t.schema),
                RowOp::Insert => PostgresDialect.insert_sql(&t.schema),
                RowOp::Delete => PostgresDialect.delete_sql(&t.schema),
            })
            .unwrap_or_default()
    }

    fn supports_checkpoints(&self) -> bool {
        true
    }

    fn read_checkpoint(&mut self, table: &str, stream: &str) -> Result<Option<String>, WriteError> {
        let mut result = (|| {
            let client = self.client()?;
            client
                .batch_execute(&checkpoint::create_sql(table, "timestamptz", "now()"))
                .map_err(|e| classify(&e))?;
            let row = client
                .query_opt(checkpoint::select_sql(table, "$1").as_str(), &[&stream])
                .map_err(|e| classify(&e))?;
            Ok(row.map(|r| r.get::<_, String>(0)))
        })();
        if let Err(err) = &mut result {
            self.after_error(err);
        }
        result
    }

    fn write_checkpointed(
        &mut self,
        rows: &[RowChange],
        cp: &Checkpoint,
    ) -> Result<WriteOutcome, WriteError> {
        let mut result = self.try_write(rows, Some(cp));
        if let Err(err) = &mut result {
            self.after_error(err);
        }
        result
    }
}

/// The rows of a batch that convert, in batch order, with their table and statements; the others
/// are in the outcome's rejected rows.
fn work_of<'a>(
    tables: &'a HashMap<TableTarget, PgTable>,
    rows: &'a [RowChange],
) -> Result<(WriteOutcome, Vec<Item<'a>>), WriteError> {
    let mut outcome = WriteOutcome::default();
    let mut work: Vec<Item> = Vec::with_capacity(rows.len());
    for (i, (row, table)) in rows.iter().zip(tables_of(tables, rows)?).enumerate() {
        let statements = match row.op {
            RowOp::Upsert => Some(&table.upsert),
            RowOp::Insert => Some(&table.insert),
            RowOp::Delete => table.delete.as_ref(),
        };
        // A delete without keys has no statement; `parameters` rejects it first.
        match (parameters(&table.schema, row), statements) {
            (Ok(params), Some(statements)) => work.push(Item {
                table,
                op: row.op,
                statements,
                params,
            }),
            (Err(reason), _) => outcome.rejected.push((i, reason)),
            (Ok(_), None) => outcome.rejected.push((i, "the target has no keys".into())),
        }
    }
    Ok((outcome, work))
}

fn not_connected() -> WriteError {
    WriteError::Transient("postgresql: not connected".into())
}

/// Connects. A failed TLS handshake (an unknown CA, a wrong host name) is a setting to fix, not a
/// passing outage: [`WriteError::Schema`].
/// The whole attempt (TCP, TLS, login) is bounded by `connect_timeout`: a server that accepts the
/// connection and never answers would otherwise hold the writer thread.
fn open(config: &Config, tls: &Tls, read_timeout: Duration) -> Result<Session, WriteError> {
    let runtime = session::runtime()?;
    let limit = options::connect_limit(config);
    let connected = runtime
        .block_on(async { tokio::time::timeout(limit, tls.connect(config)).await })
        .map_err(|_| {
            WriteError::Transient(format!(
                "cannot connect: postgresql: no answer within {} s (connect_timeout)",
                limit.as_secs()
            ))
        })?;
    let (client, connection) = connected.map_err(|e| match classify(&e) {
        _ if is_handshake_failure(&e) => {
            // The handshake error says only that it failed; its source says why (an unknown CA).
            let why = std::error::Error::source(&e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            WriteError::Schema(format!("cannot connect: {e}{why}"))
        }
        // Refused credentials (SQLSTATE 28) or a database that does not exist (3D000): the settings
        // are wrong, so a deploy is refused rather than retried without end.
        WriteError::Schema(m) => WriteError::Schema(format!("cannot connect: {m}")),
        WriteError::Transient(m) | WriteError::Batch(m) | WriteError::Unknown(m) => {
            WriteError::Transient(format!("cannot connect: {m}"))
        }
    })?;
    Ok(Session::new(
        runtime,
        client,
        connection,
        read_timeout,
        tls.clone(),
    ))
}

/// Converts a row into its text parameters, or the reason it is rejected. A string that is already
/// the text PostgreSQL is sent (a text column's, mostly: every field of a hash is a string) is
/// borrowed from the row rather than converted and copied.
fn parameters<'r>(
    schema: &TableSchema,
    row: &'r RowChange,
) -> Result<Vec<Option<Cow<'r, str>>>, String> {
    static NULL: serde_json::Value = serde_json::Value::Null;
    let columns = schema.bound_columns(row.op)?;
    let mut params = Vec::with_capacity(columns.len());
    for (i, column) in columns.iter().enumerate() {
        // A short row is a row whose trailing fields are missing: NULL.
        let value = row.values.get(i).unwrap_or(&NULL);
        let text = match column.text_as_is(value) {
            Some(text) => Some(Cow::Borrowed(text)),
            None => match column.convert(value)? {
                SqlValue::Null if i < schema.keys => return Err(schema.null_key(i)),
                converted => postgres_text(converted).map(Cow::Owned),
            },
        };
        let nul = text.as_deref().is_some_and(|t| {
            t.contains('\0') || (column.sql_type == "jsonb" && t.contains("\\u0000"))
        });
        if nul {
            return Err(format!(
                "column `{}` of type {} cannot take a JSON {}: PostgreSQL text cannot hold a NUL character",
                column.name,
                column.sql_type,
                json_type(value)
            ));
        }
        params.push(text);
    }
    Ok(params)
}

/// A converted value in the text form PostgreSQL's input functions read back exactly.
pub fn postgres_text(value: SqlValue) -> Option<String> {
    Some(match value {
        SqlValue::Null => return None,
        SqlValue::Int(i) => i.to_string(),
        SqlValue::Float(f) if f.is_nan() => "NaN".into(),
        SqlValue::Float(f) if f.is_infinite() => {
            if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
        }
        // Debug prints the shortest text that reads back to the same f64, with an exponent when long.
        SqlValue::Float(f) => format!("{f:?}"),
        SqlValue::Bool(b) => b.to_string(),
        SqlValue::Numeric(s) | SqlValue::Text(s) | SqlValue::Uuid(s) => s,
        SqlValue::Timestamp(t) => t.format("%Y-%m-%d %H:%M:%S%.f").to_string(),
        SqlValue::TimestampTz(t) => t.naive_utc().format("%Y-%m-%d %H:%M:%S%.f+00").to_string(),
        SqlValue::Date(d) => d.format("%Y-%m-%d").to_string(),
        SqlValue::Time(t) => t.format("%H:%M:%S%.f").to_string(),
        SqlValue::Json(v) => v.to_string(),
        SqlValue::Bytes(b) => {
            let mut hex = String::with_capacity(2 + 2 * b.len());
            hex.push_str("\\x");
            for byte in b {
                hex.push_str(&format!("{byte:02x}"));
            }
            hex
        }
    })
}

/// The category of a PostgreSQL base type (`pg_type.typname`) with its type modifier.
pub fn postgres_kind(typname: &str, typmod: i32) -> ColumnKind {
    // Type modifiers carry a 4-byte header offset (VARHDRSZ).
    let modifier = (typmod >= 4).then(|| typmod - 4);
    match typname {
        "int2" => ColumnKind::Integer { bits: 16 },
        "int4" => ColumnKind::Integer { bits: 32 },
        "int8" => ColumnKind::Integer { bits: 64 },
        "float4" => ColumnKind::Float { bits: 32 },
        "float8" => ColumnKind::Float { bits: 64 },
        "numeric" => ColumnKind::Numeric {
            precision_scale: modifier.and_then(|m| {
                let precision = (m >> 16) & 0xffff;
                // PostgreSQL 15 stores the scale as an 11-bit signed number (negative scales round left
                // of the point; no check for those).
                let scale = ((m & 0x7ff) ^ 1024) - 1024;
                (0..=precision)
                    .contains(&scale)
                    .then_some((precision as u32, scale as u32))
            }),
        },
        "bool" => ColumnKind::Boolean,
        "varchar" | "bpchar" => ColumnKind::Text {
            max_chars: modifier.map(|m| m as usize),
        },
        "text" | "name" | "citext" => ColumnKind::Text { max_chars: None },
        "timestamp" => ColumnKind::Timestamp,
        "timestamptz" => ColumnKind::TimestampTz,
        "date" => ColumnKind::Date,
        "time" => ColumnKind::Time,
        "json" | "jsonb" => ColumnKind::Json,
        "uuid" => ColumnKind::Uuid,
        "bytea" => ColumnKind::Bytes,
        // An array type is named after its element type with a leading underscore (`_int4`).
        array if array.starts_with('_') => ColumnKind::Array,
        _ => ColumnKind::Other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod array_columns_tests;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod arrays_tests;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod pipeline_tests;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod stall_tests;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod test_server;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tls_tests;
