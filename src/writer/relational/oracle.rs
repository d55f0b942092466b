//! The Oracle writer: the `oracle` crate (ODPI-C; the Oracle client libraries are loaded at connect
//! time), `MERGE` upserts, column types from `ALL_TAB_COLUMNS`, error classification by ORA- number.

mod catalog;

use std::collections::HashMap;

use ::oracle::sql_type::ToSql;
use ::oracle::{Connection, Connector, ErrorKind};

use crate::config::SqlServerConnection;
use crate::writer::{RowChange, RowOp, TableTarget, WriteError, WriteOutcome, Writer};

use super::convert::{json_type, Column, ColumnKind, SqlValue};
use super::dialect::Dialect;
use super::dialect_merge::OracleDialect;
use super::lookup::{new_targets, tables_of};
use super::table::TableSchema;
pub use catalog::{
    classify_code, connect_descriptor, oracle_kind, stmt_cache_size, CATALOG_SQL, SESSION_INIT,
};

/// A checked table and its statements.
struct OraTable {
    schema: TableSchema,
    upsert: String,
    insert: String,
    delete: Option<String>,
}

/// Writes to one Oracle database; reconnects on the next call after the connection is lost.
pub struct OracleWriter {
    user: String,
    password: String,
    descriptor: String,
    /// `connect_args.stmt_cache_size`.
    stmt_cache_size: Option<u32>,
    /// How long each round trip may wait for the server (`connect_args.read_timeout`).
    read_timeout: std::time::Duration,
    conn: Option<Connection>,
    tables: HashMap<TableTarget, OraTable>,
}

impl OracleWriter {
    /// Connects; [`WriteError::Transient`] when the database cannot be reached (or the Oracle client
    /// libraries are missing), [`WriteError::Schema`] when the settings cannot work.
    pub fn connect(settings: &SqlServerConnection) -> Result<Self, WriteError> {
        let mut writer = OracleWriter {
            user: settings.user.clone(),
            password: settings.password.clone().unwrap_or_default(),
            descriptor: connect_descriptor(settings)?,
            stmt_cache_size: stmt_cache_size(settings)?,
            read_timeout: super::read_timeout("oracle", settings)?,
            conn: None,
            tables: HashMap::new(),
        };
        writer.conn()?;
        Ok(writer)
    }

    fn conn(&mut self) -> Result<&Connection, WriteError> {
        if self.conn.is_none() {
            self.tables.clear();
            let mut connector = Connector::new(&self.user, &self.password, &self.descriptor);
            if let Some(size) = self.stmt_cache_size {
                connector.stmt_cache_size(size);
            }
            let conn = connector.connect().map_err(|e| match classify(&e) {
                WriteError::Schema(m) => WriteError::Schema(format!("cannot connect: {m}")),
                WriteError::Transient(m) | WriteError::Batch(m) | WriteError::Unknown(m) => {
                    WriteError::Transient(format!("cannot connect: {m}"))
                }
            })?;
            // Each round trip then ends with DPI-1067 after the timeout (transient: the session is
            // dropped and the batch retried). Oracle client libraries before 18.1 cannot bound a call:
            // the session is then used without a bound, as the README says.
            let _ = conn.set_call_timeout(Some(self.read_timeout));
            for statement in SESSION_INIT {
                conn.execute(statement, &[]).map_err(|e| classify(&e))?;
            }
            self.conn = Some(conn);
        }
        self.conn.as_ref().ok_or_else(not_connected)
    }

    /// Checks a table and keeps its statements. Unquoted Oracle names are upper case, so a table or
    /// owner not found as written is looked up again in upper case.
    fn load(&mut self, target: &TableTarget) -> Result<(), WriteError> {
        let conn = self.conn()?;
        let mut found = None;
        for upper in [false, true] {
            let fold = |s: &str| {
                if upper {
                    s.to_uppercase()
                } else {
                    s.to_string()
                }
            };
            let owner = target.schema.as_deref().map(fold);
            let table = fold(&target.table);
            let rows = conn
                .query(CATALOG_SQL, &[&owner, &table])
                .map_err(|e| classify(&e))?;
            let mut catalog = Vec::new();
            for row in rows {
                let row = row.map_err(|e| classify(&e))?;
                let get_text = |i: usize| row.get::<usize, Option<String>>(i);
                let get_int = |i: usize| row.get::<usize, Option<i64>>(i);
                let (name, data_type) = (get_text(0), get_text(1));
                let (precision, scale, chars) = (get_int(2), get_int(3), get_int(4));
                let (Ok(Some(name)), Ok(Some(data_type))) = (name, data_type) else {
                    continue;
                };
                catalog.push(Column {
                    kind: oracle_kind(
                        &data_type,
                        precision.ok().flatten(),
                        scale.ok().flatten(),
                        chars.ok().flatten(),
                    ),
                    name,
                    sql_type: data_type,
                });
            }
            if !catalog.is_empty() {
                found = Some((owner, table, catalog));
                break;
            }
        }
        let (owner, table, catalog) = found.unwrap_or((None, target.table.clone(), Vec::new()));
        let mut schema = TableSchema::resolve(target, &target.display_name(), &catalog)?;
        schema.schema = owner;
        schema.table = table;
        let entry = OraTable {
            upsert: OracleDialect.upsert_sql(&schema),
            insert: OracleDialect.insert_sql(&schema),
            delete: (schema.keys > 0).then(|| OracleDialect.delete_sql(&schema)),
            schema,
        };
        self.tables.insert(target.clone(), entry);
        Ok(())
    }

    fn try_write(&mut self, rows: &[RowChange]) -> Result<WriteOutcome, WriteError> {
        self.conn()?;
        for target in new_targets(rows) {
            if !self.tables.contains_key(&**target) {
                self.load(target)?;
            }
        }
        let mut outcome = WriteOutcome::default();
        let mut work: Vec<(&str, Vec<Box<dyn ToSql>>)> = Vec::with_capacity(rows.len());
        let tables = tables_of(&self.tables, rows)?;
        for (i, (row, table)) in rows.iter().zip(tables).enumerate() {
            let statement = match row.op {
                RowOp::Upsert => Some(table.upsert.as_str()),
                RowOp::Insert => Some(table.insert.as_str()),
                RowOp::Delete => table.delete.as_deref(),
            };
            match (parameters(&table.schema, row), statement) {
                (Ok(params), Some(sql)) => work.push((sql, params)),
                (Err(reason), _) => outcome.rejected.push((i, reason)),
                (Ok(_), None) => outcome.rejected.push((i, "the target has no keys".into())),
            }
        }
        if work.is_empty() {
            return Ok(outcome);
        }
        let conn = self.conn.as_ref().ok_or_else(not_connected)?;
        // Autocommit is off: the statements form one transaction until commit or rollback.
        for (sql, params) in &work {
            let refs: Vec<&dyn ToSql> = params.iter().map(|p| p.as_ref()).collect();
            if let Err(e) = conn.execute(sql, &refs) {
                let _ = conn.rollback();
                return Err(classify(&e));
            }
        }
        conn.commit().map_err(|e| classify(&e))?;
        Ok(outcome)
    }

    fn after_error(&mut self, err: &WriteError) {
        super::forget_stale(err, &mut self.conn, &mut self.tables);
    }
}

impl Writer for OracleWriter {
    fn check(&mut self, target: &TableTarget) -> Result<(), WriteError> {
        let result = self.load(target);
        if let Err(err) = &result {
            self.after_error(err);
        }
        result
    }

    fn write(&mut self, rows: &[RowChange]) -> Result<WriteOutcome, WriteError> {
        let result = self.try_write(rows);
        if let Err(err) = &result {
            self.after_error(err);
        }
        result
    }
}

fn not_connected() -> WriteError {
    WriteError::Transient("oracle: not connected".into())
}

/// Sorts a driver error: ORA- errors by number, conversion failures as the row's, the rest (ODPI-C:
/// closed connections, missing client libraries) transient.
pub fn classify(err: &::oracle::Error) -> WriteError {
    if let Some(db) = err.db_error() {
        if err.kind() == ErrorKind::OciError {
            return classify_code(db.code(), db.message());
        }
        return WriteError::Transient(format!("oracle: {}", db.message()));
    }
    match err.kind() {
        ErrorKind::ParseError | ErrorKind::OutOfRange | ErrorKind::InvalidTypeConversion => {
            WriteError::Batch("oracle: a value could not be converted".into())
        }
        _ => WriteError::Transient("oracle: driver error".into()),
    }
}

/// Converts a row into bound values, or the reason it is rejected.
fn parameters(schema: &TableSchema, row: &RowChange) -> Result<Vec<Box<dyn ToSql>>, String> {
    let values = schema.row_values(row)?;
    values
        .into_iter()
        .zip(&schema.columns)
        .enumerate()
        .map(|(i, (value, column))| {
            oracle_value(value, column.kind).map_err(|why| {
                let json = row.values.get(i).map_or("null", json_type);
                format!(
                    "column `{}` of type {} cannot take a JSON {json}: {why}",
                    column.name, column.sql_type
                )
            })
        })
        .collect()
}

/// A converted value as the driver binds it: numbers and text natively, decimals, UUIDs and JSON as
/// text (the session reads `.` as the decimal point), instants as UTC timestamps.
pub fn oracle_value(value: SqlValue, kind: ColumnKind) -> Result<Box<dyn ToSql>, &'static str> {
    Ok(match value {
        SqlValue::Null if kind == ColumnKind::Bytes => Box::new(Option::<Vec<u8>>::None),
        SqlValue::Null => Box::new(Option::<String>::None),
        SqlValue::Int(i) => Box::new(i),
        SqlValue::Float(f) if f.is_finite() => Box::new(f),
        SqlValue::Float(_) => return Err("Oracle numbers here cannot be NaN or infinite"),
        SqlValue::Numeric(s) if s.contains(['N', 'I']) => {
            return Err("Oracle numbers here cannot be NaN or infinite")
        }
        SqlValue::Bool(b) => Box::new(i64::from(b)),
        SqlValue::Numeric(s) | SqlValue::Text(s) | SqlValue::Uuid(s) => Box::new(s),
        SqlValue::Json(v) => Box::new(v.to_string()),
        SqlValue::Timestamp(t) => Box::new(t),
        SqlValue::TimestampTz(t) => Box::new(t.naive_utc()),
        SqlValue::Date(d) => Box::new(d),
        SqlValue::Time(_) => return Err("Oracle has no time-of-day type"),
        SqlValue::Bytes(b) => Box::new(b),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
