//! Target writers: the contract every target meets, and the way to open one from a connection.

#[cfg(feature = "cassandra")]
pub mod cassandra;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub(crate) mod conformance;
pub mod fence;
pub mod interrupt;
#[cfg(feature = "redis-target")]
pub mod redis;
pub mod relational;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod silent_tests;

use std::sync::Arc;

use crate::config::{Connection, OnUpdate, RedisDataType};

/// What a `redis.write` output writes: its rows carry `[key, payload]` (see [`crate::applier::plan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RedisShape {
    /// The kind of Redis object.
    pub data_type: RedisDataType,
    /// Replace or merge on update (hash and JSON).
    pub on_update: OnUpdate,
    /// Seconds to live after each write; 0 means none.
    pub expire: u64,
}

/// A table (or other target object) that rows are written to, as one output of a job declares it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableTarget {
    /// Schema, or `None` for the connection's default.
    pub schema: Option<String>,
    /// Table name.
    pub table: String,
    /// Unique key columns: upserts conflict on them, deletes match on them.
    pub keys: Vec<String>,
    /// Every column written on upsert, keys first, in the order of [`RowChange::values`].
    pub columns: Vec<String>,
    /// Set for a `redis.write` output: `table` is then the key expression, `columns` are `key` and
    /// `value`, and each row's values are the key and the payload.
    pub redis: Option<RedisShape>,
}

impl TableTarget {
    /// `schema.table` or `table`, for messages.
    pub fn display_name(&self) -> String {
        if let Some(shape) = &self.redis {
            return format!("redis {} {}", shape.data_type.as_str(), self.table);
        }
        match &self.schema {
            Some(s) => format!("{s}.{}", self.table),
            None => self.table.clone(),
        }
    }
}

/// What a row change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowOp {
    /// Insert, or update the row with the same keys.
    Upsert,
    /// Delete the row with these keys.
    Delete,
    /// Insert a new row whatever exists (`load_strategy: APPEND`, an audit trail).
    Insert,
}

/// One row to write.
#[derive(Debug, Clone, PartialEq)]
pub struct RowChange {
    /// Where it goes.
    pub target: Arc<TableTarget>,
    /// Upsert or delete.
    pub op: RowOp,
    /// One value per `target.columns` (a missing field is `Null`); a delete uses only the key columns.
    pub values: Vec<serde_json::Value>,
}

/// What became of a batch that was committed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct WriteOutcome {
    /// Rows (index into the batch) that were not written, with the reason. Reasons name the column and
    /// the value's type, never the value.
    pub rejected: Vec<(usize, String)>,
}

/// Why a batch was not committed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteError {
    /// The target is unreachable or refused for a passing reason (connection refused or lost, timeout,
    /// deadlock, serialization failure, read-only): retry the same batch later.
    #[error("transient target error: {0}")]
    Transient(String),
    /// The batch was refused because of what one or more of its rows hold (constraint violation...),
    /// and the target did not say which: split the batch to find the row.
    #[error("batch refused: {0}")]
    Batch(String),
    /// The target is there but does not fit the job (missing table or column, no rights): retry, since
    /// an operator may fix it, but say so loudly.
    #[error("target misconfigured: {0}")]
    Schema(String),
    /// The target answered with an error the writer does not know (a code outside its lists): retried
    /// like a transient error, but once a batch has failed this way several times in a row it is
    /// probed for rows that fail alone while the others are written (`applier/probe.rs`).
    #[error("unrecognised target error: {0}")]
    Unknown(String),
}

impl WriteError {
    /// Whether the same batch should be tried again as it is.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, WriteError::Batch(_))
    }
}

/// A queue position recorded in the target in the same transaction as a batch, so that a batch
/// replayed after a crash between commit and acknowledgement is recognised and skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The table that holds positions (`table` or `schema.table`).
    pub table: String,
    /// Which queue (job, and shard where there are several).
    pub stream: String,
    /// The position of the last change in the batch (`ms-seq`).
    pub position: String,
}

/// A connection to one target.
///
/// Contract: `write` applies the rows of one batch in one transaction, in the order given (which keeps
/// per-key order); it either commits every row it does not list in [`WriteOutcome::rejected`] or
/// commits nothing and returns an error. Writes are idempotent (upsert by keys, delete by keys), so a
/// batch may be retried whole after a failure or a crash. Values are converted to each column's real
/// type, learned from the target's catalog; a value that cannot be converted rejects its row only.
pub trait Writer: Send {
    /// Checks that the table exists and has every column; learns the column types.
    fn check(&mut self, target: &TableTarget) -> Result<(), WriteError>;

    /// Writes one batch in one transaction.
    fn write(&mut self, rows: &[RowChange]) -> Result<WriteOutcome, WriteError>;

    /// Writes consecutive batches, each in its own transaction, in order, and returns the outcome of
    /// each batch written, in order; only the last can be an error, and the batches after it are not
    /// counted as written. A writer may send a batch before the one before it committed (pipelining):
    /// a batch after a failed one may then have been written too, and is written again, which upserts
    /// and deletes by key allow (a writer never pipelines plain inserts). Never empty for batches.
    fn write_many(&mut self, batches: &[&[RowChange]]) -> Vec<Result<WriteOutcome, WriteError>> {
        write_each(self, batches)
    }

    /// The statement this writer sends for a row, with placeholders (for `RDI.TRACE`); empty if unknown.
    fn statement(&self, _row: &RowChange) -> String {
        String::new()
    }

    /// Whether this target can keep checkpoints (exactly-once effect).
    fn supports_checkpoints(&self) -> bool {
        false
    }

    /// The position last recorded for `stream` in `table`, creating the table if it is missing.
    fn read_checkpoint(
        &mut self,
        _table: &str,
        _stream: &str,
    ) -> Result<Option<String>, WriteError> {
        Ok(None)
    }

    /// Writes one batch and records `checkpoint` in the same transaction. Targets without
    /// checkpoints write the batch alone (at-least-once).
    fn write_checkpointed(
        &mut self,
        rows: &[RowChange],
        _checkpoint: &Checkpoint,
    ) -> Result<WriteOutcome, WriteError> {
        self.write(rows)
    }
}

/// [`Writer::write_many`] one batch after the other, up to the first that fails.
pub fn write_each<W: Writer + ?Sized>(
    writer: &mut W,
    batches: &[&[RowChange]],
) -> Vec<Result<WriteOutcome, WriteError>> {
    let mut out = Vec::with_capacity(batches.len());
    for rows in batches {
        let result = writer.write(rows);
        let failed = result.is_err();
        out.push(result);
        if failed {
            break;
        }
    }
    out
}

/// A duration argument of a connection (`connect_timeout`, ...) in whole seconds; `kind` names the
/// connection type in the error.
pub fn seconds_arg(kind: &str, key: &str, value: &str) -> Result<std::time::Duration, WriteError> {
    value
        .trim()
        .parse::<u64>()
        .map(std::time::Duration::from_secs)
        .map_err(|_| {
            WriteError::Schema(format!("{kind} `{key}` must be a whole number of seconds"))
        })
}

/// Opens a writer for a connection. Fails with [`WriteError::Transient`] when the target is unreachable.
pub fn connect(conn: &Connection) -> Result<Box<dyn Writer>, WriteError> {
    match conn {
        #[cfg(feature = "cassandra")]
        Connection::Cassandra(settings) => cassandra::connect(settings),
        #[cfg(not(feature = "cassandra"))]
        Connection::Cassandra(_) => Err(relational::not_built("cassandra", "cassandra")),
        #[cfg(feature = "redis-target")]
        Connection::Redis(settings) => redis::connect(settings),
        #[cfg(not(feature = "redis-target"))]
        Connection::Redis(_) => Err(relational::not_built("redis", "redis-target")),
        _ => relational::connect(conn),
    }
}
