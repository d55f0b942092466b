//! The MySQL/MariaDB writer: column types from `information_schema`, values converted in Rust and bound
//! natively, `ON DUPLICATE KEY UPDATE` upserts, error classification by server error number, and
//! reconnection after a lost connection.

mod catalog;
mod errors;
mod killer;
mod options;
mod runs;

use std::collections::HashMap;

use ::mysql::prelude::Queryable;
use ::mysql::{Conn, Opts, Statement, TxOpts, Value};
use chrono::{Datelike, Timelike};

use crate::config::SqlServerConnection;
use crate::writer::{Checkpoint, RowChange, RowOp, TableTarget, WriteError, WriteOutcome, Writer};

use super::checkpoint::mysql as checkpoint;
use super::convert::{json_type, Column, ColumnKind, SqlValue};
use super::dialect::{Dialect, MysqlDialect};
use super::lookup::{new_targets, tables_of};
use super::table::TableSchema;
use catalog::{
    checked_as_json, has_unique_index, mysql_kind, CatalogType, CATALOG_SQL, CHECKS_SQL, UNIQUE_SQL,
};
pub use errors::{classify, classify_code};
pub use options::options;
use runs::{one_statement, write_runs, Item, MultiRow};

/// One row of [`CATALOG_SQL`]: name, column type, data type, length, precision, scale.
type CatalogRow = (
    String,
    String,
    String,
    Option<u64>,
    Option<u64>,
    Option<u64>,
);

/// A checked table and its statements, prepared on the current connection.
struct MyTable {
    schema: TableSchema,
    upsert: Statement,
    insert: Statement,
    delete: Option<Statement>,
    /// Multi-row forms of the upsert and the insert (see `runs`).
    upsert_many: Option<MultiRow>,
    insert_many: Option<MultiRow>,
}

/// Writes to one MySQL or MariaDB database; reconnects on the next call after the connection is lost.
pub struct MysqlWriter {
    opts: Opts,
    conn: Option<Conn>,
    /// Tables checked on the current connection; emptied when it is replaced.
    tables: HashMap<TableTarget, MyTable>,
    /// Interrupts a write the writer thread must give up: `Some(None)` outside writer threads,
    /// `None` until the first write.
    killer: Option<Option<killer::Killer>>,
}

impl MysqlWriter {
    /// Connects; fails with [`WriteError::Transient`] when the server cannot be reached and with
    /// [`WriteError::Schema`] when the settings (or the TLS certificates) cannot work. `kind` is the
    /// connection type, `mysql` or `mariadb`.
    pub fn connect(settings: &SqlServerConnection, kind: &str) -> Result<Self, WriteError> {
        let opts: Opts = options(settings, kind)?.into();
        let conn = open(&opts)?;
        Ok(MysqlWriter {
            killer: None,
            opts,
            conn: Some(conn),
            tables: HashMap::new(),
        })
    }

    /// The live connection, reconnecting first if there is none.
    fn conn(&mut self) -> Result<&mut Conn, WriteError> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => {
                // Statements belong to the old connection.
                self.tables.clear();
                open(&self.opts)?
            }
        };
        Ok(self.conn.insert(conn))
    }

    /// Checks a table on the current connection and keeps its statements.
    fn load(&mut self, target: &TableTarget) -> Result<(), WriteError> {
        let conn = self.conn.as_mut().ok_or_else(not_connected)?;
        let params = (target.schema.clone(), target.table.clone());
        let rows: Vec<CatalogRow> = conn
            .exec(CATALOG_SQL, params.clone())
            .map_err(|e| classify(&e))?;
        // Refused by MySQL (see CHECKS_SQL): no checks to read there.
        let checks: Vec<String> = conn.exec(CHECKS_SQL, params.clone()).unwrap_or_default();
        let catalog: Vec<Column> = rows
            .into_iter()
            .map(
                |(name, column_type, data_type, max_chars, precision, scale)| {
                    let t = CatalogType {
                        column_type,
                        data_type,
                        max_chars,
                        precision,
                        scale,
                    };
                    let kind = match mysql_kind(&t) {
                        ColumnKind::Text { max_chars: None } if checked_as_json(&checks, &name) => {
                            ColumnKind::Json
                        }
                        kind => kind,
                    };
                    Column {
                        name,
                        sql_type: t.column_type.clone(),
                        kind,
                    }
                },
            )
            .collect();
        let schema = TableSchema::resolve(target, &target.display_name(), &catalog)?;
        if schema.keys > 0 {
            let indexes: Vec<String> = conn.exec(UNIQUE_SQL, params).map_err(|e| classify(&e))?;
            let keys: Vec<&str> = schema
                .key_columns()
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            if !has_unique_index(&indexes, &keys) {
                return Err(WriteError::Schema(format!(
                    "table {}: the keys ({}) are not a primary key or unique index, so upserts cannot find their rows",
                    target.display_name(),
                    keys.join(", ")
                )));
            }
        }
        let prep = |conn: &mut Conn, sql: &str| conn.prep(sql).map_err(|e| classify(&e));
        let (upsert_sql, insert_sql) = (
            MysqlDialect.upsert_sql(&schema),
            MysqlDialect.insert_sql(&schema),
        );
        let upsert = prep(conn, &upsert_sql)?;
        let insert = prep(conn, &insert_sql)?;
        let columns = schema.columns.len();
        let upsert_many = MultiRow::new(&upsert_sql, &insert_sql, columns);
        let insert_many = MultiRow::new(&insert_sql, &insert_sql, columns);
        let delete = match schema.keys {
            0 => None,
            _ => Some(prep(conn, &MysqlDialect.delete_sql(&schema))?),
        };
        self.tables.insert(
            target.clone(),
            MyTable {
                schema,
                upsert,
                insert,
                delete,
                upsert_many,
                insert_many,
            },
        );
        Ok(())
    }

    /// Writes `rows` in one transaction, with `cp` recorded in it when given.
    fn try_write(
        &mut self,
        rows: &[RowChange],
        cp: Option<&Checkpoint>,
    ) -> Result<WriteOutcome, WriteError> {
        self.conn()?;
        for target in new_targets(rows) {
            if !self.tables.contains_key(&**target) {
                self.load(target)?;
            }
        }
        let mut outcome = WriteOutcome::default();
        let mut work: Vec<Item> = Vec::with_capacity(rows.len());
        let tables = tables_of(&self.tables, rows)?;
        for (i, (row, table)) in rows.iter().zip(tables).enumerate() {
            let statement = match row.op {
                RowOp::Upsert => Some((&table.upsert, table.upsert_many.as_ref())),
                RowOp::Insert => Some((&table.insert, table.insert_many.as_ref())),
                RowOp::Delete => table.delete.as_ref().map(|d| (d, None)),
            };
            match (parameters(&table.schema, row), statement) {
                (Ok(params), Some((one, many))) => work.push(Item {
                    table: std::ptr::from_ref(table) as usize,
                    op: row.op,
                    one,
                    many,
                    params,
                }),
                (Err(reason), _) => outcome.rejected.push((i, reason)),
                (Ok(_), None) => outcome.rejected.push((i, "the target has no keys".into())),
            }
        }
        if work.is_empty() && cp.is_none() {
            return Ok(outcome);
        }
        let conn = self.conn.as_mut().ok_or_else(not_connected)?;
        // Interrupted (`KILL QUERY`) if the writer must give it up while it waits on a lock. The
        // helper starts at the first write, in the writer's thread (it connects in another one).
        let killer = self
            .killer
            .get_or_insert_with(|| killer::Killer::start(&self.opts));
        let id = conn.connection_id();
        let _call = killer::in_flight(killer.as_ref(), id);
        let opts = &self.opts;
        let failed = |e: ::mysql::Error| {
            if errors::is_timeout(&e) {
                killer::kill_query(opts, id);
            }
            classify(&e)
        };
        if cp.is_none() && one_statement(&work) {
            write_runs(conn, work).map_err(failed)?;
            return Ok(outcome);
        }
        let mut tx = conn.start_transaction(TxOpts::default()).map_err(failed)?;
        // A failed statement leaves the transaction open: dropping `tx` rolls it back.
        write_runs(&mut tx, work).map_err(failed)?;
        if let Some(cp) = cp {
            tx.exec_drop(
                checkpoint::upsert_sql(&cp.table),
                (&cp.stream, &cp.position),
            )
            .map_err(failed)?;
        }
        // Row locks may have been waited for: the server may have been demoted meanwhile.
        crate::writer::fence::check()?;
        tx.commit().map_err(failed)?;
        Ok(outcome)
    }

    /// Forgets what an error made stale: the connection after a transient error, the checked tables
    /// after a schema error.
    fn after_error(&mut self, err: &WriteError) {
        super::forget_stale(err, &mut self.conn, &mut self.tables);
    }

    /// `result`, after forgetting what its error made stale.
    fn forget_after<T>(&mut self, result: Result<T, WriteError>) -> Result<T, WriteError> {
        if let Err(err) = &result {
            self.after_error(err);
        }
        result
    }
}

impl Writer for MysqlWriter {
    fn check(&mut self, target: &TableTarget) -> Result<(), WriteError> {
        let result = match self.conn() {
            Ok(_) => self.load(target),
            Err(err) => Err(err),
        };
        self.forget_after(result)
    }

    fn write(&mut self, rows: &[RowChange]) -> Result<WriteOutcome, WriteError> {
        let result = self.try_write(rows, None);
        self.forget_after(result)
    }

    fn supports_checkpoints(&self) -> bool {
        true
    }

    fn read_checkpoint(&mut self, table: &str, stream: &str) -> Result<Option<String>, WriteError> {
        fits_checkpoint(stream)?;
        let result = self.conn().and_then(|conn| {
            conn.query_drop(checkpoint::create_sql(table))
                .and_then(|()| {
                    conn.exec_first::<String, _, _>(checkpoint::select_sql(table), (stream,))
                })
                .map_err(|e| classify(&e))
        });
        self.forget_after(result)
    }

    fn write_checkpointed(
        &mut self,
        rows: &[RowChange],
        cp: &Checkpoint,
    ) -> Result<WriteOutcome, WriteError> {
        let result = fits_checkpoint(&cp.stream).and_then(|()| self.try_write(rows, Some(cp)));
        self.forget_after(result)
    }
}

/// A checkpoint row is keyed by its queue's name in a `VARCHAR(512)`: a longer name is refused before
/// anything is written (a schema error the job shows and waits on), never as a refused batch.
fn fits_checkpoint(stream: &str) -> Result<(), WriteError> {
    if stream.chars().count() <= checkpoint::STREAM_CHARS {
        return Ok(());
    }
    Err(WriteError::Schema(format!(
        "mysql: the job's name is too long for the checkpoint table's key ({} characters at most with \
         applier.exactly_once): shorten the job's name, or turn exactly_once off",
        checkpoint::STREAM_CHARS
    )))
}

fn not_connected() -> WriteError {
    WriteError::Transient("mysql: not connected".into())
}

/// Connects. A TLS failure (an unknown CA, a bad client certificate) is a setting to fix, not a
/// passing outage: [`WriteError::Schema`].
fn open(opts: &Opts) -> Result<Conn, WriteError> {
    Conn::new(opts.clone()).map_err(|e| match (&e, classify(&e)) {
        _ if is_tls_failure(&e) => WriteError::Schema(format!("cannot connect: mysql TLS: {e}")),
        (::mysql::Error::MySqlError(m), _) if matches!(m.code, 1044 | 1045 | 1049) => {
            WriteError::Schema(format!(
                "cannot connect: mysql: {} (error {})",
                m.message, m.code
            ))
        }
        (
            _,
            WriteError::Transient(m)
            | WriteError::Batch(m)
            | WriteError::Schema(m)
            | WriteError::Unknown(m),
        ) => WriteError::Transient(format!("cannot connect: {m}")),
    })
}

/// Whether a connect error is a failed TLS handshake. rustls reports a certificate it does not trust
/// as an I/O error inside the packet codec, so the text is looked at too.
fn is_tls_failure(err: &::mysql::Error) -> bool {
    match err {
        ::mysql::Error::TlsError(_) => true,
        ::mysql::Error::IoError(_) | ::mysql::Error::CodecError(_) => {
            let text = err.to_string();
            text.contains("certificate") || text.contains("peer") || text.contains("TLS")
        }
        _ => false,
    }
}

/// Converts a row into its bound values, or the reason it is rejected.
fn parameters(schema: &TableSchema, row: &RowChange) -> Result<Vec<Value>, String> {
    let values = schema.row_values(row)?;
    values
        .into_iter()
        .zip(&schema.columns)
        .enumerate()
        .map(|(i, (value, column))| {
            mysql_value(value).map_err(|why| {
                let json = row.values.get(i).map_or("null", json_type);
                format!(
                    "column `{}` of type {} cannot take a JSON {json}: {why}",
                    column.name, column.sql_type
                )
            })
        })
        .collect()
}

/// A converted value as the driver binds it; MySQL has no NaN or infinity.
pub fn mysql_value(value: SqlValue) -> Result<Value, &'static str> {
    const NOT_FINITE: &str = "MySQL numbers cannot be NaN or infinite";
    Ok(match value {
        SqlValue::Null => Value::NULL,
        SqlValue::Int(i) => Value::Int(i),
        SqlValue::Float(f) if !f.is_finite() => return Err(NOT_FINITE),
        SqlValue::Float(f) => Value::Double(f),
        SqlValue::Numeric(s) if s.contains(['N', 'I']) => return Err(NOT_FINITE),
        SqlValue::Bool(b) => Value::Int(i64::from(b)),
        SqlValue::Numeric(s) | SqlValue::Text(s) | SqlValue::Uuid(s) => {
            Value::Bytes(s.into_bytes())
        }
        SqlValue::Timestamp(t) => datetime(t)?,
        SqlValue::TimestampTz(t) => datetime(t.naive_utc())?,
        SqlValue::Date(d) => Value::Date(
            u16::try_from(d.year()).map_err(|_| "year out of range")?,
            d.month() as u8,
            d.day() as u8,
            0,
            0,
            0,
            0,
        ),
        SqlValue::Time(t) => Value::Time(
            false,
            0,
            t.hour() as u8,
            t.minute() as u8,
            t.second() as u8,
            t.nanosecond() / 1000,
        ),
        SqlValue::Json(v) => Value::Bytes(v.to_string().into_bytes()),
        SqlValue::Bytes(b) => Value::Bytes(b),
    })
}

fn datetime(t: chrono::NaiveDateTime) -> Result<Value, &'static str> {
    Ok(Value::Date(
        u16::try_from(t.year()).map_err(|_| "year out of range")?,
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
        // A leap second's nanoseconds go past 999 999 999: keep within a second.
        (t.nanosecond() / 1000).min(999_999),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod test_server;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
