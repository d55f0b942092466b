//! `cassandra.write`: the `scylla` driver on a small current-thread tokio runtime owned by the writer;
//! prepared INSERT (an upsert) and DELETE by the full primary key; column types from `system_schema`.
//!
//! Cassandra has no transactions. A chunk's statements are grouped by partition into UNLOGGED BATCHes
//! (see `batches`), the partitions written at the same time and each partition's batches in order
//! (which keeps per-key order); a batch refused for what it holds is written again statement by
//! statement so that only the bad rows are rejected (see `send`). Any other error fails the chunk,
//! which the applier retries whole: the statements are idempotent.

pub mod batches;
mod collections;
pub(crate) mod cql;
mod errors;
mod send;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency;
use scylla::value::CqlValue;
use tokio::runtime::Runtime;

use crate::config::CassandraConnection;
use crate::writer::relational::convert::{json_type, Column};
use crate::writer::relational::table::TableSchema;
use crate::writer::{RowChange, RowOp, TableTarget, WriteError, WriteOutcome, Writer};
use batches::{Item, Limits};
pub use cql::{cql_kind, cql_value, delete_cql, insert_cql, value_bytes, CATALOG_CQL};
pub use errors::{classify, classify_db, prepare_error};

/// Seconds to wait for a connection unless `connect_timeout` says otherwise.
pub const CONNECT_TIMEOUT_S_DEFAULT: u64 = 10;
/// Seconds a request may take unless `request_timeout` says otherwise.
pub const REQUEST_TIMEOUT_S_DEFAULT: u64 = 30;

/// A checked table and its prepared statements.
struct CqlTable {
    schema: TableSchema,
    /// Where the partition key columns sit among the key columns.
    partition: Vec<usize>,
    insert: PreparedStatement,
    delete: PreparedStatement,
}

/// Writes to one Cassandra cluster.
pub struct CassandraWriter {
    runtime: Runtime,
    session: Arc<Session>,
    tables: HashMap<TableTarget, CqlTable>,
    /// How big a batch may grow (`batch_statements`).
    limits: Limits,
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
        let limits = limits(settings)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| WriteError::Transient(format!("cassandra: no runtime: {e}")))?;
        // The driver's `connection_timeout` bounds each TCP connect, not the handshake after it nor
        // its retries: a node that accepts connections and never answers would hold the thread.
        let limit = connect_timeout(settings)?;
        let session = runtime
            .block_on(async { tokio::time::timeout(limit, builder.build()).await })
            .map_err(|_| {
                WriteError::Transient(format!(
                    "cannot connect: cassandra: no answer within {} s (connect_timeout)",
                    limit.as_secs()
                ))
            })?
            .map_err(|e| WriteError::Transient(format!("cannot connect: cassandra: {e}")))?;
        Ok(CassandraWriter {
            runtime,
            session: Arc::new(session),
            tables: HashMap::new(),
            limits,
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
        let keys: Vec<&str> = schema
            .key_columns()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let kinds: Vec<(&str, &str)> = columns
            .iter()
            .map(|(name, _, kind)| (name.as_str(), kind.as_str()))
            .collect();
        let partition = batches::partition_positions(&keys, &kinds);
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
                partition,
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
        let mut bound: Vec<(PreparedStatement, Vec<Option<CqlValue>>)> = Vec::new();
        // The chunk row of each bound statement, and what the planner needs of it.
        let mut owners: Vec<usize> = Vec::new();
        let mut items: Vec<Item<String>> = Vec::new();
        let mut layouts: HashMap<&TableTarget, usize> = HashMap::new();
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
                Ok(values) => {
                    let next = layouts.len();
                    let layout = *layouts.entry(&*row.target).or_insert(next);
                    let delete = row.op == RowOp::Delete;
                    items.push(item(
                        &table.schema,
                        &table.partition,
                        delete,
                        layout,
                        &values,
                    ));
                    bound.push((statement.clone(), values));
                    owners.push(i);
                }
                Err(reason) => outcome.rejected.push((i, reason)),
            }
        }
        let plan = batches::plan(&items, self.limits);
        let session = self.session.clone();
        let sender = ClusterSender {
            session: &session,
            bound: &bound,
        };
        let rejected = self
            .runtime
            .block_on(send::send_all(&sender, &owners, plan))?;
        outcome.rejected.extend(rejected);
        outcome.rejected.sort_by_key(|(i, _)| *i);
        Ok(outcome)
    }
}

/// What the planner needs of a statement binding `values` (keys first) to `schema`, whose partition key
/// columns sit at `partition` among its keys: its partition and row (as the debug text of the keyspace,
/// table and key values: equal values give equal text), its kind and size.
fn item(
    schema: &TableSchema,
    partition: &[usize],
    delete: bool,
    layout: usize,
    values: &[Option<CqlValue>],
) -> Item<String> {
    let keys = &values[..schema.keys.min(values.len())];
    let name = format!("{:?}.{:?}", schema.schema, schema.table);
    let partition: Vec<_> = partition.iter().filter_map(|&p| keys.get(p)).collect();
    Item {
        partition: format!("{name}{partition:?}"),
        row: format!("{name}{keys:?}"),
        delete,
        layout,
        bytes: values.iter().map(value_bytes).sum(),
    }
}

/// Sends bound statements through the session.
struct ClusterSender<'a> {
    session: &'a Session,
    bound: &'a [(PreparedStatement, Vec<Option<CqlValue>>)],
}

impl send::Sender for ClusterSender<'_> {
    async fn send(&self, statements: &[usize]) -> Result<(), WriteError> {
        let picked: Vec<&(PreparedStatement, Vec<Option<CqlValue>>)> = statements
            .iter()
            .filter_map(|&i| self.bound.get(i))
            .collect();
        match picked.as_slice() {
            [] => Ok(()),
            [(statement, values)] => self
                .session
                .execute_unpaged(statement, values)
                .await
                .map(|_| ())
                .map_err(|e| classify(&e)),
            many => {
                let mut batch = Batch::new(BatchType::Unlogged);
                for (statement, _) in many {
                    batch.append_statement(statement.clone());
                }
                let values: Vec<&Vec<Option<CqlValue>>> = many.iter().map(|(_, v)| v).collect();
                self.session
                    .batch(&batch, values)
                    .await
                    .map(|_| ())
                    .map_err(|e| classify(&e))
            }
        }
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
    let connect = connect_timeout(settings)?;
    let request = seconds_arg(settings, "request_timeout", REQUEST_TIMEOUT_S_DEFAULT)?;
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
    // Client-side, monotonic write timestamps: a delete and the upsert after it (a RENAME onto the
    // same row) may reach different coordinators, and with server-side timestamps a few ms of clock
    // skew between them would let the tombstone win.
    let mut builder = SessionBuilder::new()
        .known_nodes(nodes)
        .connection_timeout(connect)
        .default_execution_profile_handle(profile.into_handle())
        .timestamp_generator(std::sync::Arc::new(
            scylla::policies::timestamp_generator::MonotonicTimestampGenerator::new(),
        ));
    if let Some(user) = &settings.user {
        builder = builder.user(user, settings.password.clone().unwrap_or_default());
    }
    Ok(builder)
}

/// A duration argument in whole seconds, or its default.
fn seconds_arg(
    settings: &CassandraConnection,
    key: &str,
    default: u64,
) -> Result<Duration, WriteError> {
    match settings.connect_args.get(key) {
        None => Ok(Duration::from_secs(default)),
        Some(v) => crate::writer::seconds_arg("cassandra", key, v),
    }
}

/// How long connecting may take (`connect_timeout`).
fn connect_timeout(settings: &CassandraConnection) -> Result<Duration, WriteError> {
    seconds_arg(settings, "connect_timeout", CONNECT_TIMEOUT_S_DEFAULT)
}

/// How big batches may grow: `batch_statements` from `connect_args`, else the default.
fn limits(settings: &CassandraConnection) -> Result<Limits, WriteError> {
    let statements = match settings.connect_args.get("batch_statements") {
        None => batches::BATCH_STATEMENTS_DEFAULT,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (batches::BATCH_STATEMENTS_MIN..=batches::BATCH_STATEMENTS_MAX).contains(n))
            .ok_or_else(|| {
                WriteError::Schema(format!(
                    "cassandra `batch_statements` must be a whole number from {} to {}",
                    batches::BATCH_STATEMENTS_MIN,
                    batches::BATCH_STATEMENTS_MAX
                ))
            })?,
    };
    Ok(Limits {
        statements,
        ..Limits::default()
    })
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
