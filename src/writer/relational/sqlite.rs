//! The SQLite writer: an embedded database file, column types from `PRAGMA table_info`, native binding
//! by column affinity.

use std::collections::HashMap;
use std::time::Duration;

use rusqlite::types::Value as SqliteValue;
use rusqlite::{ErrorCode, TransactionBehavior};

use super::checkpoint;
use super::lookup::{new_targets, tables_of};
use crate::writer::{Checkpoint, RowChange, RowOp, TableTarget, WriteError, WriteOutcome, Writer};

use super::convert::{Column, ColumnKind, SqlValue};
use super::dialect::{Dialect, SqliteDialect};
use super::table::TableSchema;

/// How long a statement waits for another connection's lock before failing with `SQLITE_BUSY`.
pub const BUSY_TIMEOUT_DEFAULT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection: two per table target.
const STATEMENT_CACHE_CAPACITY: usize = 64;

/// A checked table and its statements' text (the statements themselves live in the connection's cache).
struct SqliteTable {
    schema: TableSchema,
    upsert: String,
    insert: String,
    delete: String,
}

/// Writes to one SQLite database file.
pub struct SqliteWriter {
    conn: rusqlite::Connection,
    tables: HashMap<TableTarget, SqliteTable>,
    /// The file as opened, absolute (a relative path is relative to the server's `dir`), for messages.
    file: String,
}

impl SqliteWriter {
    /// Opens the database file in WAL mode with a 5 s busy timeout. The file must exist (its tables
    /// must, so a file made here would only hide a wrong path).
    pub fn open(path: &str) -> Result<Self, WriteError> {
        let file = match std::env::current_dir() {
            Ok(dir) if path != ":memory:" => dir.join(path).display().to_string(),
            _ => path.to_string(),
        };
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
            | rusqlite::OpenFlags::SQLITE_OPEN_URI
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = rusqlite::Connection::open_with_flags(path, flags).map_err(|e| {
            if path != ":memory:" && !std::path::Path::new(&file).exists() {
                WriteError::Schema(format!(
                    "sqlite database {file} does not exist (a relative path is relative to the \
                     Redis server's dir); create it with its tables"
                ))
            } else {
                WriteError::Transient(format!("cannot open sqlite database {file}: {e}"))
            }
        })?;
        let setup = |conn: &rusqlite::Connection| -> rusqlite::Result<()> {
            // journal_mode answers with the mode it settled on, so it is a query, not an update.
            conn.query_row("PRAGMA journal_mode = WAL", [], |row| {
                row.get::<_, String>(0)
            })?;
            // FULL keeps a commit durable across power loss in WAL mode; the queue entry is acknowledged
            // right after the commit.
            conn.pragma_update(None, "synchronous", "FULL")?;
            conn.busy_timeout(BUSY_TIMEOUT_DEFAULT)
        };
        setup(&conn).map_err(|e| classify(&e))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        Ok(SqliteWriter {
            conn,
            tables: HashMap::new(),
            file,
        })
    }

    /// Changes how long a write waits for another connection's lock.
    pub fn set_busy_timeout(&mut self, timeout: Duration) -> Result<(), WriteError> {
        self.conn.busy_timeout(timeout).map_err(|e| classify(&e))
    }

    fn load(&mut self, target: &TableTarget) -> Result<(), WriteError> {
        let display = target.display_name();
        let catalog = self.catalog(target).map_err(|e| classify(&e))?;
        let schema = TableSchema::resolve(target, &display, &catalog).map_err(|e| match e {
            WriteError::Schema(m) => WriteError::Schema(format!("{m} (in {})", self.file)),
            other => other,
        })?;
        let upsert = SqliteDialect.upsert_sql(&schema);
        let insert = SqliteDialect.insert_sql(&schema);
        let delete = SqliteDialect.delete_sql(&schema);
        // Preparing checks what the catalog does not show, such as keys without a unique index.
        self.conn
            .prepare_cached(&upsert)
            .map_err(|e| classify(&e))?;
        if schema.keys > 0 {
            self.conn
                .prepare_cached(&delete)
                .map_err(|e| classify(&e))?;
        }
        self.tables.insert(
            target.clone(),
            SqliteTable {
                schema,
                upsert,
                insert,
                delete,
            },
        );
        Ok(())
    }

    fn catalog(&self, target: &TableTarget) -> rusqlite::Result<Vec<Column>> {
        let to_column = |row: &rusqlite::Row<'_>| -> rusqlite::Result<Column> {
            let name: String = row.get(0)?;
            let sql_type: String = row.get(1)?;
            Ok(Column {
                kind: sqlite_kind(&sql_type),
                name,
                sql_type,
            })
        };
        // Without a schema, pragma_table_info searches like an unqualified name does (temp, main,
        // attached databases).
        match &target.schema {
            Some(schema) => {
                let mut stmt = self
                    .conn
                    .prepare("SELECT name, type FROM pragma_table_info(?1, ?2) ORDER BY cid")?;
                let rows = stmt.query_map([&target.table, schema], to_column)?;
                rows.collect()
            }
            None => {
                let mut stmt = self
                    .conn
                    .prepare("SELECT name, type FROM pragma_table_info(?1) ORDER BY cid")?;
                let rows = stmt.query_map([&target.table], to_column)?;
                rows.collect()
            }
        }
    }

    fn try_write(
        &mut self,
        rows: &[RowChange],
        cp: Option<&Checkpoint>,
    ) -> Result<WriteOutcome, WriteError> {
        for target in new_targets(rows) {
            if !self.tables.contains_key(&**target) {
                self.load(target)?;
            }
        }
        let mut outcome = WriteOutcome::default();
        let mut work: Vec<(&str, Vec<SqliteValue>)> = Vec::with_capacity(rows.len());
        let tables = tables_of(&self.tables, rows)?;
        for (i, (row, table)) in rows.iter().zip(tables).enumerate() {
            match table.schema.row_values(row) {
                Ok(values) => {
                    let sql = match row.op {
                        RowOp::Upsert => table.upsert.as_str(),
                        RowOp::Insert => table.insert.as_str(),
                        RowOp::Delete => table.delete.as_str(),
                    };
                    work.push((sql, values.into_iter().map(to_sqlite).collect()));
                }
                Err(reason) => outcome.rejected.push((i, reason)),
            }
        }
        if work.is_empty() && cp.is_none() {
            return Ok(outcome);
        }
        // IMMEDIATE takes the write lock up front, so a busy database fails here rather than on a
        // deadlocked lock upgrade half-way through the batch.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| classify(&e))?;
        for (sql, values) in &work {
            let mut stmt = tx.prepare_cached(sql).map_err(|e| classify(&e))?;
            stmt.execute(rusqlite::params_from_iter(values.iter()))
                .map_err(|e| executed(&e))?;
        }
        if let Some(cp) = cp {
            let sql = checkpoint::upsert_sql(&cp.table, "?1", "?2", "CURRENT_TIMESTAMP");
            tx.execute(&sql, [&cp.stream, &cp.position])
                .map_err(|e| classify(&e))?;
        }
        // The lock may have been waited for: the server may have been demoted meanwhile.
        crate::writer::fence::check()?;
        tx.commit().map_err(|e| classify(&e))?;
        Ok(outcome)
    }
}

impl Writer for SqliteWriter {
    fn check(&mut self, target: &TableTarget) -> Result<(), WriteError> {
        self.load(target)
    }

    fn write(&mut self, rows: &[RowChange]) -> Result<WriteOutcome, WriteError> {
        let result = self.try_write(rows, None);
        if let Err(WriteError::Schema(_)) = &result {
            // The operator may fix the table: look at the catalog again next time.
            self.tables.clear();
        }
        result
    }

    fn statement(&self, row: &RowChange) -> String {
        self.tables
            .get(&*row.target)
            .map(|t| match row.op {
                RowOp::Upsert => t.upsert.clone(),
                RowOp::Insert => t.insert.clone(),
                RowOp::Delete => t.delete.clone(),
            })
            .unwrap_or_default()
    }

    fn supports_checkpoints(&self) -> bool {
        true
    }

    fn read_checkpoint(&mut self, table: &str, stream: &str) -> Result<Option<String>, WriteError> {
        self.conn
            .execute_batch(&checkpoint::create_sql(table, "TEXT", "CURRENT_TIMESTAMP"))
            .map_err(|e| classify(&e))?;
        let mut stmt = self
            .conn
            .prepare(&checkpoint::select_sql(table, "?1"))
            .map_err(|e| classify(&e))?;
        let mut rows = stmt.query([stream]).map_err(|e| classify(&e))?;
        match rows.next().map_err(|e| classify(&e))? {
            Some(row) => row.get::<_, String>(0).map(Some).map_err(|e| classify(&e)),
            None => Ok(None),
        }
    }

    fn write_checkpointed(
        &mut self,
        rows: &[RowChange],
        cp: &Checkpoint,
    ) -> Result<WriteOutcome, WriteError> {
        let result = self.try_write(rows, Some(cp));
        if let Err(WriteError::Schema(_)) = &result {
            self.tables.clear();
        }
        result
    }
}

/// The category of a SQLite declared type: a few well-known names first (BOOLEAN, DATETIME, JSON...),
/// then SQLite's own affinity rules.
pub fn sqlite_kind(declared: &str) -> ColumnKind {
    let t = declared.trim().to_ascii_uppercase();
    let has = |s: &str| t.contains(s);
    if has("BOOL") {
        ColumnKind::Boolean
    } else if has("TIMESTAMPTZ") || (has("TIMESTAMP") && has("WITH TIME ZONE")) {
        ColumnKind::TimestampTz
    } else if has("DATETIME") || has("TIMESTAMP") {
        ColumnKind::Timestamp
    } else if t == "DATE" {
        ColumnKind::Date
    } else if t == "TIME" {
        ColumnKind::Time
    } else if has("JSON") {
        ColumnKind::Json
    } else if t == "UUID" {
        ColumnKind::Uuid
    } else if has("INT") {
        ColumnKind::Integer { bits: 64 }
    } else if has("CHAR") || has("CLOB") || has("TEXT") {
        ColumnKind::Text { max_chars: None }
    } else if has("BLOB") {
        ColumnKind::Bytes
    } else if t.is_empty() || t == "ANY" {
        ColumnKind::Any
    } else if has("REAL") || has("FLOA") || has("DOUB") {
        ColumnKind::Float { bits: 64 }
    } else {
        ColumnKind::Numeric {
            precision_scale: None,
        }
    }
}

/// Binds a converted value natively: booleans as 0/1, dates and times as ISO text in UTC (the form
/// SQLite's date functions read), JSON as its text.
pub(super) fn to_sqlite(value: SqlValue) -> SqliteValue {
    match value {
        SqlValue::Null => SqliteValue::Null,
        SqlValue::Int(i) => SqliteValue::Integer(i),
        // SQLite stores a NaN real as NULL: keep the value as the text it came as.
        SqlValue::Float(f) if f.is_nan() => SqliteValue::Text("NaN".into()),
        SqlValue::Float(f) => SqliteValue::Real(f),
        SqlValue::Bool(b) => SqliteValue::Integer(i64::from(b)),
        SqlValue::Numeric(s) | SqlValue::Text(s) | SqlValue::Uuid(s) => SqliteValue::Text(s),
        SqlValue::Timestamp(t) => SqliteValue::Text(t.format("%Y-%m-%d %H:%M:%S%.f").to_string()),
        SqlValue::TimestampTz(t) => {
            SqliteValue::Text(t.naive_utc().format("%Y-%m-%d %H:%M:%S%.f").to_string())
        }
        SqlValue::Date(d) => SqliteValue::Text(d.format("%Y-%m-%d").to_string()),
        SqlValue::Time(t) => SqliteValue::Text(t.format("%H:%M:%S%.f").to_string()),
        SqlValue::Json(v) => SqliteValue::Text(v.to_string()),
        SqlValue::Bytes(b) => SqliteValue::Blob(b),
    }
}

/// Sorts a SQLite error into the writer's kinds. SQLite's messages name tables, columns and
/// constraints, not values.
pub fn classify(err: &rusqlite::Error) -> WriteError {
    match err {
        rusqlite::Error::SqliteFailure(e, message) => {
            let text = match message {
                Some(m) => format!("sqlite: {m}"),
                None => format!("sqlite: {e}"),
            };
            classify_code(e.code, text)
        }
        // Anything else is the writer misusing the driver: loud, and retried in case it passes.
        other => WriteError::Schema(format!("sqlite driver: {other}")),
    }
}

/// An error of a statement that prepared: the table and columns exist, so a plain SQLITE_ERROR then
/// comes from a value (malformed JSON in a CHECK, a generated column or a trigger; an integer
/// overflow in `abs()`), not from the schema.
fn executed(err: &rusqlite::Error) -> WriteError {
    match (err.sqlite_error_code(), classify(err)) {
        (Some(ErrorCode::Unknown), WriteError::Schema(text)) => WriteError::Batch(text),
        (_, other) => other,
    }
}

/// Sorts a SQLite result code into the writer's kinds, with `text` as the message.
pub fn classify_code(code: ErrorCode, text: String) -> WriteError {
    match code {
        ErrorCode::ConstraintViolation | ErrorCode::TypeMismatch | ErrorCode::TooBig => {
            WriteError::Batch(text)
        }
        // SQLITE_ERROR: no such table or column, ON CONFLICT without a matching unique index...
        ErrorCode::Unknown
        | ErrorCode::PermissionDenied
        | ErrorCode::AuthorizationForStatementDenied
        | ErrorCode::NotADatabase
        | ErrorCode::DatabaseCorrupt => WriteError::Schema(text),
        // Busy, locked, I/O, disk full, read-only, out of memory...: may pass.
        _ => WriteError::Transient(text),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
