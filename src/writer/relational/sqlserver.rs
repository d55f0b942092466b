//! The SQL Server writer: `tiberius` driven by a small current-thread tokio runtime owned by the writer
//! (the applier's threads are plain threads), `MERGE` upserts, column types from
//! `INFORMATION_SCHEMA`, error classification by server error number.

mod catalog;

use std::collections::HashMap;
use std::time::Duration;

use tiberius::{AuthMethod, Client, ColumnData, Config, EncryptionLevel, IntoSql, ToSql};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use crate::config::SqlServerConnection;
use crate::writer::{RowChange, RowOp, TableTarget, WriteError, WriteOutcome, Writer};

use super::convert::{json_type, Column, ColumnKind, SqlValue};
use super::dialect::Dialect;
use super::dialect_merge::SqlServerDialect;
use super::lookup::{new_targets, tables_of};
use super::table::TableSchema;
pub use catalog::{classify_code, sqlserver_kind, CATALOG_SQL};

/// Seconds to wait for a connection unless `connect_timeout` says otherwise.
pub const CONNECT_TIMEOUT_S_DEFAULT: u64 = 10;
/// `application_name` unless the connection sets one.
pub const APPLICATION_NAME_DEFAULT: &str = "rdi-write-behind";

type Conn = Client<Compat<TcpStream>>;

/// A checked table and its statements.
struct MsTable {
    schema: TableSchema,
    upsert: String,
    insert: String,
    delete: Option<String>,
}

/// Writes to one SQL Server database; reconnects on the next call after the connection is lost.
pub struct SqlServerWriter {
    runtime: Runtime,
    config: Config,
    connect_timeout: Duration,
    /// How long each call may wait for the server's answer.
    read_timeout: Duration,
    client: Option<Conn>,
    tables: HashMap<TableTarget, MsTable>,
}

impl SqlServerWriter {
    /// Connects; [`WriteError::Transient`] when the server cannot be reached, [`WriteError::Schema`]
    /// when the settings cannot work.
    pub fn connect(settings: &SqlServerConnection) -> Result<Self, WriteError> {
        let (config, connect_timeout) = client_config(settings)?;
        let read_timeout = super::read_timeout("sqlserver", settings)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| WriteError::Transient(format!("sqlserver: no runtime: {e}")))?;
        let client = runtime.block_on(open(config.clone(), connect_timeout))?;
        Ok(SqlServerWriter {
            runtime,
            config,
            connect_timeout,
            read_timeout,
            client: Some(client),
            tables: HashMap::new(),
        })
    }

    fn try_write(&mut self, rows: &[RowChange]) -> Result<WriteOutcome, WriteError> {
        if self.client.is_none() {
            self.tables.clear();
            let client = self
                .runtime
                .block_on(open(self.config.clone(), self.connect_timeout))?;
            self.client = Some(client);
        }
        for target in new_targets(rows) {
            if !self.tables.contains_key(&**target) {
                self.load(target)?;
            }
        }
        let mut outcome = WriteOutcome::default();
        let mut work: Vec<(&str, Vec<Bound>)> = Vec::with_capacity(rows.len());
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
        let client = self.client.as_mut().ok_or_else(not_connected)?;
        let limit = self.read_timeout;
        self.runtime.block_on(async {
            within(limit, batch(client, "BEGIN TRANSACTION")).await?;
            for (sql, params) in &work {
                let refs: Vec<&dyn ToSql> = params.iter().map(|p| p as &dyn ToSql).collect();
                let executed =
                    async { client.execute(*sql, &refs).await.map_err(|e| classify(&e)) };
                if let Err(e) = within(limit, executed).await {
                    // After an I/O error or a timeout the connection is dropped anyway; a failed
                    // rollback adds nothing to the error already in hand.
                    if !matches!(e, WriteError::Transient(_)) {
                        let _ = within(limit, batch(client, "IF @@TRANCOUNT > 0 ROLLBACK")).await;
                    }
                    return Err(e);
                }
            }
            within(limit, batch(client, "COMMIT")).await
        })?;
        Ok(outcome)
    }

    /// Checks a table and keeps its statements.
    fn load(&mut self, target: &TableTarget) -> Result<(), WriteError> {
        let client = self.client.as_mut().ok_or_else(not_connected)?;
        let rows = self.runtime.block_on(within(self.read_timeout, async {
            let stream = client
                .query(
                    CATALOG_SQL,
                    &[&target.schema.as_deref(), &target.table.as_str()],
                )
                .await
                .map_err(|e| classify(&e))?;
            stream.into_first_result().await.map_err(|e| classify(&e))
        }))?;
        let catalog: Vec<Column> = rows
            .iter()
            .filter_map(|row| {
                // `get` panics on a type mismatch; `try_get` does not.
                let name: &str = row.try_get(0).ok().flatten()?;
                let data_type: &str = row.try_get(1).ok().flatten()?;
                let int = |i: usize| row.try_get::<i32, _>(i).ok().flatten();
                Some(Column {
                    name: name.to_string(),
                    sql_type: data_type.to_string(),
                    kind: sqlserver_kind(data_type, int(2), int(3), int(4)),
                })
            })
            .collect();
        let schema = TableSchema::resolve(target, &target.display_name(), &catalog)?;
        let table = MsTable {
            upsert: SqlServerDialect.upsert_sql(&schema),
            insert: SqlServerDialect.insert_sql(&schema),
            delete: (schema.keys > 0).then(|| SqlServerDialect.delete_sql(&schema)),
            schema,
        };
        self.tables.insert(target.clone(), table);
        Ok(())
    }

    fn after_error(&mut self, err: &WriteError) {
        super::forget_stale(err, &mut self.client, &mut self.tables);
    }
}

impl Writer for SqlServerWriter {
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
    WriteError::Transient("sqlserver: not connected".into())
}

/// Builds the driver's configuration; a user written `DOMAIN\user` logs in with Windows (NTLM)
/// authentication, any other with SQL Server authentication.
pub fn client_config(settings: &SqlServerConnection) -> Result<(Config, Duration), WriteError> {
    let mut config = Config::new();
    config.host(&settings.host);
    config.port(settings.port);
    config.database(&settings.database);
    config.application_name(APPLICATION_NAME_DEFAULT);
    let password = settings.password.clone().unwrap_or_default();
    config.authentication(auth(&settings.user, password)?);
    let mut timeout = Duration::from_secs(CONNECT_TIMEOUT_S_DEFAULT);
    for (key, value) in settings.connect_args.iter().chain(&settings.query_args) {
        match key.as_str() {
            "encrypt" => config.encryption(match value.as_str() {
                "off" => EncryptionLevel::Off,
                "on" => EncryptionLevel::On,
                "not_supported" => EncryptionLevel::NotSupported,
                _ => EncryptionLevel::Required,
            }),
            "trust_server_certificate" if value == "true" => config.trust_cert(),
            "trust_server_certificate" => {}
            "trust_server_certificate_ca" => config.trust_cert_ca(value),
            "application_name" => config.application_name(value),
            "instance_name" => config.instance_name(value),
            // Read by `super::read_timeout`.
            "read_timeout" => {}
            "connect_timeout" => {
                let seconds = crate::writer::seconds_arg("sqlserver", key, value)?;
                if !seconds.is_zero() {
                    timeout = seconds;
                }
            }
            // The ODBC driver of a SQLAlchemy URL: not needed by a native client.
            "driver" => {}
            _ => {
                return Err(WriteError::Schema(format!(
                    "unknown sqlserver connection argument `{key}`"
                )))
            }
        }
    }
    Ok((config, timeout))
}

/// SQL Server authentication, or Windows (NTLM) authentication for a `DOMAIN\user` (through SSPI on
/// Windows, the `sspi` crate elsewhere).
fn auth(user: &str, password: String) -> Result<AuthMethod, WriteError> {
    Ok(if is_windows_login(user) {
        AuthMethod::windows(user, password)
    } else {
        AuthMethod::sql_server(user, password)
    })
}

/// Whether a user name asks for a Windows login: `DOMAIN\user`, both parts non-empty.
pub fn is_windows_login(user: &str) -> bool {
    user.split_once('\\')
        .is_some_and(|(domain, name)| !domain.is_empty() && !name.is_empty())
}

/// Waits for `work` at most `limit`: a server that stopped answering while the connection stays up
/// (a hung process, whose kernel still acknowledges TCP) is a transient error, after which the
/// connection is dropped and the batch retried on a new one.
async fn within<T>(
    limit: Duration,
    work: impl std::future::Future<Output = Result<T, WriteError>>,
) -> Result<T, WriteError> {
    match tokio::time::timeout(limit, work).await {
        Ok(out) => out,
        Err(_) => Err(WriteError::Transient(format!(
            "sqlserver: no answer within {limit:?} (the connection's `read_timeout`)"
        ))),
    }
}

/// Runs a plain batch (transaction control must not go through `sp_executesql`, whose end checks the
/// transaction count) and reads its answer to the end, so that the connection is ready for the next.
async fn batch(client: &mut Conn, sql: &str) -> Result<(), WriteError> {
    let stream = client.simple_query(sql).await.map_err(|e| classify(&e))?;
    stream.into_results().await.map_err(|e| classify(&e))?;
    Ok(())
}

/// Connects, following one Azure redirection.
async fn open(mut config: Config, timeout: Duration) -> Result<Conn, WriteError> {
    for _ in 0..2 {
        let attempt = async {
            let tcp = TcpStream::connect(config.get_addr()).await?;
            tcp.set_nodelay(true)?;
            Client::connect(config.clone(), tcp.compat_write()).await
        };
        match tokio::time::timeout(timeout, attempt).await {
            Err(_) => {
                return Err(WriteError::Transient(
                    "cannot connect: sqlserver: timed out".into(),
                ))
            }
            Ok(Ok(client)) => return Ok(client),
            Ok(Err(tiberius::error::Error::Routing { host, port })) => {
                config.host(&host);
                config.port(port);
            }
            Ok(Err(e)) => {
                return Err(match (&e, classify(&e)) {
                    (tiberius::error::Error::Tls(_), _) => {
                        WriteError::Schema(format!("cannot connect: sqlserver: {e}"))
                    }
                    (_, WriteError::Schema(m)) => {
                        WriteError::Schema(format!("cannot connect: {m}"))
                    }
                    (
                        _,
                        WriteError::Transient(m) | WriteError::Batch(m) | WriteError::Unknown(m),
                    ) => WriteError::Transient(format!("cannot connect: {m}")),
                })
            }
        }
    }
    Err(WriteError::Transient(
        "cannot connect: sqlserver: redirected twice".into(),
    ))
}

/// Sorts a driver error; errors that are not the server's are I/O: transient.
pub fn classify(err: &tiberius::error::Error) -> WriteError {
    match err {
        tiberius::error::Error::Server(token) => classify_code(token.code(), token.message()),
        // Conversion messages may quote a value.
        tiberius::error::Error::Conversion(_) => {
            WriteError::Batch("sqlserver: a value could not be converted".into())
        }
        other => WriteError::Transient(format!("sqlserver: {other}")),
    }
}

/// One bound value.
struct Bound(ColumnData<'static>);

impl ToSql for Bound {
    fn to_sql(&self) -> ColumnData<'_> {
        self.0.clone()
    }
}

/// Converts a row into bound values, or the reason it is rejected.
fn parameters(schema: &TableSchema, row: &RowChange) -> Result<Vec<Bound>, String> {
    let values = schema.row_values(row)?;
    values
        .into_iter()
        .zip(&schema.columns)
        .enumerate()
        .map(|(i, (value, column))| {
            sqlserver_value(value, column.kind)
                .map(Bound)
                .map_err(|why| {
                    let json = row.values.get(i).map_or("null", json_type);
                    format!(
                        "column `{}` of type {} cannot take a JSON {json}: {why}",
                        column.name, column.sql_type
                    )
                })
        })
        .collect()
}

/// A converted value as the driver binds it. Text goes as `nvarchar`, which SQL Server converts
/// implicitly to decimals, GUIDs and the rest; a NULL is typed so that binary columns take it too.
pub fn sqlserver_value(
    value: SqlValue,
    kind: ColumnKind,
) -> Result<ColumnData<'static>, &'static str> {
    Ok(match value {
        SqlValue::Null if kind == ColumnKind::Bytes => Option::<Vec<u8>>::None.into_sql(),
        SqlValue::Null => Option::<String>::None.into_sql(),
        SqlValue::Int(i) => i.into_sql(),
        SqlValue::Float(f) if !f.is_finite() => {
            return Err("SQL Server numbers cannot be NaN or infinite")
        }
        SqlValue::Float(f) => f.into_sql(),
        SqlValue::Numeric(s) if s.contains(['N', 'I']) => {
            return Err("SQL Server numbers cannot be NaN or infinite")
        }
        SqlValue::Bool(b) => b.into_sql(),
        SqlValue::Numeric(s) | SqlValue::Text(s) | SqlValue::Uuid(s) => s.into_sql(),
        SqlValue::Json(v) => v.to_string().into_sql(),
        SqlValue::Timestamp(t) => t.into_sql(),
        SqlValue::TimestampTz(t) => t.into_sql(),
        SqlValue::Date(d) => d.into_sql(),
        SqlValue::Time(t) => t.into_sql(),
        SqlValue::Bytes(b) => b.into_sql(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
