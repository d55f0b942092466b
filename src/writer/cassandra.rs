//! `cassandra.write`: the `scylla` driver on a small current-thread tokio runtime owned by the writer;
//! prepared INSERT (an upsert) and DELETE by the full primary key; column types from `system_schema`.
//!
//! Cassandra has no transactions: rows are written one after the other in batch order (which keeps
//! per-key order), and a failed batch is retried whole, which the idempotent statements allow.

mod cql;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::errors::{DbError, ExecutionError, PrepareError, RequestAttemptError};
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency;
use scylla::value::CqlValue;
use tokio::runtime::Runtime;

use crate::config::CassandraConnection;
use crate::writer::relational::convert::{json_type, Column};
use crate::writer::relational::table::TableSchema;
use crate::writer::{RowChange, RowOp, TableTarget, WriteError, WriteOutcome, Writer};
pub use cql::{cql_kind, cql_value, delete_cql, insert_cql, CATALOG_CQL};

/// Seconds to wait for a connection unless `connect_timeout` says otherwise.
pub const CONNECT_TIMEOUT_S_DEFAULT: u64 = 10;
/// Seconds a request may take unless `request_timeout` says otherwise.
pub const REQUEST_TIMEOUT_S_DEFAULT: u64 = 30;

/// A checked table and its prepared statements.
struct CqlTable {
    schema: TableSchema,
    insert: PreparedStatement,
    delete: PreparedStatement,
}

/// Writes to one Cassandra cluster.
pub struct CassandraWriter {
    runtime: Runtime,
    session: Arc<Session>,
    tables: HashMap<TableTarget, CqlTable>,
    /// The keyspace of targets that name none (`cassandra.write` always names one).
    pub(crate) default_keyspace: Option<String>,
}

/// Opens a writer; [`WriteError::Transient`] when no contact point answers.
pub fn connect(settings: &CassandraConnection) -> Result<Box<dyn Writer>, WriteError> {
    Ok(Box::new(CassandraWriter::connect(settings)?))
}

impl CassandraWriter {
    /// Connects to the cluster through its contact points.
    pub fn connect(settings: &CassandraConnection) -> Result<Self, WriteError> {
        let builder = session_builder(settings)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| WriteError::Transient(format!("cassandra: no runtime: {e}")))?;
        let session = runtime
            .block_on(builder.build())
            .map_err(|e| WriteError::Transient(format!("cannot connect: cassandra: {e}")))?;
        Ok(CassandraWriter {
            runtime,
            session: Arc::new(session),
            tables: HashMap::new(),
            default_keyspace: None,
        })
    }

    /// Reads the table's columns, checks that the keys are its primary key, prepares the statements.
    fn load(&mut self, target: &TableTarget) -> Result<(), WriteError> {
        let Some(keyspace) = target.schema.clone().or(self.default_keyspace.clone()) else {
            return Err(WriteError::Schema(format!(
                "table {}: cassandra.write needs a keyspace",
                target.table
            )));
        };
        let session = self.session.clone();
        let found = self.runtime.block_on(async move {
            // Unquoted CQL names are lower case: look again in lower case when not found as written.
            for (ks, table) in [
                (keyspace.clone(), target.table.clone()),
                (keyspace.to_lowercase(), target.table.to_lowercase()),
            ] {
                let result = session
                    .query_unpaged(CATALOG_CQL, (&ks, &table))
                    .await
                    .map_err(|e| classify(&e))?;
                let rows = result
                    .into_rows_result()
                    .map_err(|e| WriteError::Transient(format!("cassandra: {e}")))?;
                let columns: Vec<(String, String, String)> = rows
                    .rows::<(String, String, String)>()
                    .map_err(|e| WriteError::Transient(format!("cassandra: {e}")))?
                    .collect::<Result<_, _>>()
                    .map_err(|e| WriteError::Transient(format!("cassandra: {e}")))?;
                if !columns.is_empty() {
                    return Ok((ks, table, columns));
                }
            }
            Ok::<_, WriteError>((keyspace, target.table.clone(), Vec::new()))
        })?;
        let (keyspace, table, columns) = found;
        let catalog: Vec<Column> = columns
            .iter()
            .map(|(name, cql_type, _)| Column {
                name: name.clone(),
                sql_type: cql_type.clone(),
                kind: cql_kind(cql_type),
            })
            .collect();
        let mut schema = TableSchema::resolve(target, &target.display_name(), &catalog)?;
        schema.schema = Some(keyspace);
        schema.table = table;
        let mut primary: Vec<&str> = columns
            .iter()
            .filter(|(_, _, kind)| kind == "partition_key" || kind == "clustering")
            .map(|(name, _, _)| name.as_str())
            .collect();
        let mut keys: Vec<&str> = schema
            .key_columns()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        primary.sort_unstable();
        keys.sort_unstable();
        if primary != keys {
            return Err(WriteError::Schema(format!(
                "table {}: the keys must be the whole primary key ({})",
                target.display_name(),
                primary.join(", ")
            )));
        }
        let session = self.session.clone();
        let (insert, delete) = (insert_cql(&schema), delete_cql(&schema));
        let (insert, delete) = self.runtime.block_on(async move {
            let insert = session
                .prepare(insert)
                .await
                .map_err(|e| prepare_error(&e))?;
            let delete = session
                .prepare(delete)
                .await
                .map_err(|e| prepare_error(&e))?;
            Ok::<_, WriteError>((insert, delete))
        })?;
        self.tables.insert(
            target.clone(),
            CqlTable {
                schema,
                insert,
                delete,
            },
        );
        Ok(())
    }

    fn try_write(&mut self, rows: &[RowChange]) -> Result<WriteOutcome, WriteError> {
        for row in rows {
            if !self.tables.contains_key(&*row.target) {
                self.load(&row.target)?;
            }
        }
        let mut outcome = WriteOutcome::default();
        let mut work: Vec<(PreparedStatement, Vec<Option<CqlValue>>)> = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let table = self.tables.get(&*row.target).ok_or_else(|| {
                WriteError::Schema(format!(
                    "table {} was not checked",
                    row.target.display_name()
                ))
            })?;
            let statement = match row.op {
                RowOp::Upsert | RowOp::Insert => &table.insert,
                RowOp::Delete => &table.delete,
            };
            match parameters(&table.schema, row) {
                Ok(values) => work.push((statement.clone(), values)),
                Err(reason) => outcome.rejected.push((i, reason)),
            }
        }
        let session = self.session.clone();
        self.runtime.block_on(async move {
            for (statement, values) in work {
                session
                    .execute_unpaged(&statement, values)
                    .await
                    .map_err(|e| classify(&e))?;
            }
            Ok::<_, WriteError>(())
        })?;
        Ok(outcome)
    }
}

impl Writer for CassandraWriter {
    fn check(&mut self, target: &TableTarget) -> Result<(), WriteError> {
        self.load(target)
    }

    fn write(&mut self, rows: &[RowChange]) -> Result<WriteOutcome, WriteError> {
        let result = self.try_write(rows);
        if let Err(WriteError::Schema(_)) = &result {
            // The table may have changed: read it again next time.
            self.tables.clear();
        }
        result
    }
}

/// The driver's session settings from a connection of `config.yaml`.
pub fn session_builder(settings: &CassandraConnection) -> Result<SessionBuilder, WriteError> {
    let seconds = |key: &str, default: u64| match settings.connect_args.get(key) {
        None => Ok(Duration::from_secs(default)),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| {
                WriteError::Schema(format!(
                    "cassandra `{key}` must be a whole number of seconds"
                ))
            }),
    };
    let connect = seconds("connect_timeout", CONNECT_TIMEOUT_S_DEFAULT)?;
    let request = seconds("request_timeout", REQUEST_TIMEOUT_S_DEFAULT)?;
    let consistency = match settings.connect_args.get("consistency").map(String::as_str) {
        None | Some("LOCAL_QUORUM") => Consistency::LocalQuorum,
        Some("ANY") => Consistency::Any,
        Some("ONE") => Consistency::One,
        Some("TWO") => Consistency::Two,
        Some("THREE") => Consistency::Three,
        Some("QUORUM") => Consistency::Quorum,
        Some("ALL") => Consistency::All,
        Some("EACH_QUORUM") => Consistency::EachQuorum,
        Some("LOCAL_ONE") => Consistency::LocalOne,
        Some(_) => return Err(WriteError::Schema("unknown cassandra consistency".into())),
    };
    let mut policy = DefaultPolicy::builder().token_aware(true);
    if let Some(dc) = settings.connect_args.get("local_datacenter") {
        policy = policy.prefer_datacenter(dc.clone());
    }
    let profile = ExecutionProfile::builder()
        .consistency(consistency)
        .request_timeout(Some(request))
        .load_balancing_policy(policy.build())
        .build();
    let nodes: Vec<String> = settings
        .hosts
        .iter()
        .map(|h| format!("{h}:{}", settings.port))
        .collect();
    let mut builder = SessionBuilder::new()
        .known_nodes(nodes)
        .connection_timeout(connect)
        .default_execution_profile_handle(profile.into_handle());
    if let Some(user) = &settings.user {
        builder = builder.user(user, settings.password.clone().unwrap_or_default());
    }
    Ok(builder)
}

/// Converts a row into CQL values, or the reason it is rejected.
fn parameters(schema: &TableSchema, row: &RowChange) -> Result<Vec<Option<CqlValue>>, String> {
    let values = schema.row_values(row)?;
    values
        .into_iter()
        .zip(&schema.columns)
        .enumerate()
        .map(|(i, (value, column))| {
            cql_value(value, &column.sql_type).map_err(|why| {
                let json = row.values.get(i).map_or("null", json_type);
                format!(
                    "column `{}` of type {} cannot take a JSON {json}: {why}",
                    column.name, column.sql_type
                )
            })
        })
        .collect()
}

/// A statement the server refuses to prepare does not fit the table: a schema error.
fn prepare_error(err: &PrepareError) -> WriteError {
    match err {
        PrepareError::AllAttemptsFailed {
            first_attempt: RequestAttemptError::DbError(db, message),
        } if !matches!(classify_db(db, message), WriteError::Transient(_)) => {
            let first_line = message.lines().next().unwrap_or("");
            WriteError::Schema(format!("cassandra: {first_line}"))
        }
        PrepareError::AllAttemptsFailed { first_attempt } => attempt_error(first_attempt),
        other => WriteError::Transient(format!("cassandra: {other}")),
    }
}

/// Sorts a driver error. Server messages may quote values, so only the error's kind is kept, except
/// for schema errors (they name tables and columns).
pub fn classify(err: &ExecutionError) -> WriteError {
    match err {
        ExecutionError::LastAttemptError(attempt) => attempt_error(attempt),
        ExecutionError::PrepareError(e) => prepare_error(e),
        ExecutionError::BadQuery(_) => {
            WriteError::Batch("cassandra: a value could not be sent".into())
        }
        other => WriteError::Transient(format!("cassandra: {other}")),
    }
}

fn attempt_error(err: &RequestAttemptError) -> WriteError {
    match err {
        RequestAttemptError::DbError(db, message) => classify_db(db, message),
        RequestAttemptError::SerializationError(_) => {
            WriteError::Batch("cassandra: a value does not fit its column's type".into())
        }
        other => WriteError::Transient(format!("cassandra: {other}")),
    }
}

/// Sorts a server error by its kind.
pub fn classify_db(db: &DbError, message: &str) -> WriteError {
    match db {
        DbError::Invalid | DbError::FunctionFailure { .. } => {
            WriteError::Batch("cassandra: the server refused a value (invalid request)".into())
        }
        DbError::SyntaxError
        | DbError::Unauthorized
        | DbError::AuthenticationError
        | DbError::ConfigError
        | DbError::AlreadyExists { .. } => {
            let first_line = message.lines().next().unwrap_or("");
            WriteError::Schema(format!("cassandra: {first_line}"))
        }
        other => WriteError::Transient(format!("cassandra: {}", kind_name(other))),
    }
}

fn kind_name(db: &DbError) -> &'static str {
    match db {
        DbError::Unavailable { .. } => "not enough replicas available",
        DbError::Overloaded => "coordinator overloaded",
        DbError::IsBootstrapping => "coordinator bootstrapping",
        DbError::WriteTimeout { .. } => "write timeout",
        DbError::ReadTimeout { .. } => "read timeout",
        DbError::WriteFailure { .. } => "write failure",
        DbError::RateLimitReached { .. } => "rate limit reached",
        _ => "server error",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
