//! The deployed pipeline as typed values: what `config.yaml` and the job files mean once validated.

use std::collections::BTreeMap;

use crate::expr::Expression;
use crate::transform::Block;

pub use super::model_redis::*;

/// A whole deployment: the connections and applier settings of `config.yaml` plus every job.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    /// Target connections by name, with every `${...}` reference already resolved.
    pub connections: BTreeMap<String, Connection>,
    /// Batching, retry and error-handling settings.
    pub applier: Applier,
    /// The jobs, in name order.
    pub jobs: Vec<Job>,
    /// The values references resolved to, to be hidden wherever the deployment is shown.
    pub hidden: super::reference::Hidden,
}

/// One target connection of `config.yaml`.
#[derive(Clone, PartialEq)]
pub enum Connection {
    /// A PostgreSQL server.
    Postgresql(SqlServerConnection),
    /// A MySQL server.
    Mysql(SqlServerConnection),
    /// A MariaDB server (same protocol and dialect as MySQL).
    Mariadb(SqlServerConnection),
    /// A Microsoft SQL Server; a `DOMAIN\user` user means Windows (NTLM) authentication.
    Sqlserver(SqlServerConnection),
    /// An Oracle database; `database` (or `query_args.service_name`) is the service name.
    Oracle(SqlServerConnection),
    /// A Cassandra (or ScyllaDB) cluster; the keyspace is set per writer.
    Cassandra(CassandraConnection),
    /// A target Redis server (`redis.write`).
    Redis(RedisConnection),
    /// An embedded SQLite database file.
    Sqlite {
        /// Path of the database file, created if missing.
        path: String,
    },
}

/// Settings shared by the client-server SQL databases.
#[derive(Clone, PartialEq)]
pub struct SqlServerConnection {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Database name.
    pub database: String,
    /// User name.
    pub user: String,
    /// Password (resolved); never printed.
    pub password: Option<String>,
    /// Driver arguments (`connect_args`).
    pub connect_args: BTreeMap<String, String>,
    /// Connection-string parameters (`query_args`).
    pub query_args: BTreeMap<String, String>,
}

impl std::fmt::Debug for SqlServerConnection {
    // Written by hand so that a password can never reach a log through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlServerConnection")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field(
                "connect_args",
                &self.connect_args.keys().collect::<Vec<_>>(),
            )
            .field("query_args", &self.query_args)
            .finish()
    }
}

/// A Cassandra cluster.
#[derive(Clone, PartialEq)]
pub struct CassandraConnection {
    /// Contact points (host names or addresses).
    pub hosts: Vec<String>,
    /// CQL port of every contact point.
    pub port: u16,
    /// User name, when the cluster authenticates.
    pub user: Option<String>,
    /// Password (resolved); never printed.
    pub password: Option<String>,
    /// Driver arguments (`connect_args`).
    pub connect_args: BTreeMap<String, String>,
}

impl std::fmt::Debug for CassandraConnection {
    // Written by hand so that a password can never reach a log through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CassandraConnection")
            .field("hosts", &self.hosts)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("connect_args", &self.connect_args)
            .finish()
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Connection::Postgresql(c) => f.debug_tuple("Postgresql").field(c).finish(),
            Connection::Mysql(c) => f.debug_tuple("Mysql").field(c).finish(),
            Connection::Mariadb(c) => f.debug_tuple("Mariadb").field(c).finish(),
            Connection::Sqlserver(c) => f.debug_tuple("Sqlserver").field(c).finish(),
            Connection::Oracle(c) => f.debug_tuple("Oracle").field(c).finish(),
            Connection::Cassandra(c) => f.debug_tuple("Cassandra").field(c).finish(),
            Connection::Redis(c) => f.debug_tuple("Redis").field(c).finish(),
            Connection::Sqlite { path } => f.debug_struct("Sqlite").field("path", path).finish(),
        }
    }
}

impl Connection {
    /// The `type` as written in `config.yaml`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Connection::Postgresql(_) => "postgresql",
            Connection::Mysql(_) => "mysql",
            Connection::Mariadb(_) => "mariadb",
            Connection::Sqlserver(_) => "sqlserver",
            Connection::Oracle(_) => "oracle",
            Connection::Cassandra(_) => "cassandra",
            Connection::Redis(_) => "redis",
            Connection::Sqlite { .. } => "sqlite",
        }
    }

    /// The servers it reaches (one, or Cassandra's contact points) and their port; `None` for SQLite.
    fn servers(&self) -> Option<(Vec<&str>, u16)> {
        match self {
            Connection::Postgresql(c)
            | Connection::Mysql(c)
            | Connection::Mariadb(c)
            | Connection::Sqlserver(c)
            | Connection::Oracle(c) => Some((vec![c.host.as_str()], c.port)),
            Connection::Redis(c) => Some((vec![c.host.as_str()], c.port)),
            Connection::Cassandra(c) => {
                Some((c.hosts.iter().map(String::as_str).collect(), c.port))
            }
            Connection::Sqlite { .. } => None,
        }
    }

    /// Where it points, for status output: `host:port` (comma-separated for Cassandra) or the file
    /// path. Never a password.
    pub fn location(&self) -> String {
        match (self, self.servers()) {
            (_, Some((hosts, port))) => hosts
                .iter()
                .map(|h| format!("{h}:{port}"))
                .collect::<Vec<_>>()
                .join(","),
            (Connection::Sqlite { path }, None) => path.clone(),
            (_, None) => String::new(),
        }
    }

    /// The server's host name (the contact points, comma-separated, for Cassandra); `None` for SQLite.
    pub fn host(&self) -> Option<String> {
        self.servers().map(|(hosts, _)| hosts.join(","))
    }

    /// The server's port; `None` for SQLite.
    pub fn port(&self) -> Option<u16> {
        self.servers().map(|(_, port)| port)
    }

    /// The database name, where the type has one.
    pub fn database(&self) -> Option<&str> {
        match self {
            Connection::Postgresql(c)
            | Connection::Mysql(c)
            | Connection::Mariadb(c)
            | Connection::Sqlserver(c) => Some(&c.database),
            Connection::Oracle(c) => Some(
                c.query_args
                    .get("service_name")
                    .or_else(|| c.query_args.get("sid"))
                    .unwrap_or(&c.database),
            ),
            Connection::Sqlite { .. } | Connection::Cassandra(_) | Connection::Redis(_) => None,
        }
    }
}

/// What to do with a record that a target rejects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorHandling {
    /// Keep it in the job's dead-letter queue.
    Dlq,
    /// Drop it (still counted as rejected).
    Ignore,
}

/// The `applier` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Applier {
    /// Most change entries taken from the queue at once.
    pub read_batch_size: usize,
    /// Most rows per target transaction.
    pub write_batch_size: usize,
    /// Milliseconds a change may wait for its batch to fill.
    pub duration_ms: u64,
    /// Seconds: the cap of the retry back-off.
    pub on_failed_retry_interval_s: u64,
    /// `dlq` or `ignore`.
    pub error_handling: ErrorHandling,
    /// Cap of each job's dead-letter queue.
    pub dlq_max_messages: usize,
    /// Background writer threads shared by the jobs.
    pub writer_threads: usize,
    /// Cap on queued changes per job; 0 means no cap.
    pub max_pending: usize,
    /// Record each batch's last queue position in the target, in the same transaction, and skip what
    /// is at or below it after a crash (SQL targets): an exactly-once effect for APPEND jobs.
    pub exactly_once: bool,
    /// The table that holds those positions (created on first use).
    pub checkpoint_table: String,
}

/// Default of `applier.checkpoint_table`.
pub const CHECKPOINT_TABLE_DEFAULT: &str = "rdi_checkpoints";

/// Default of `applier.read_batch_size`.
pub const READ_BATCH_SIZE_DEFAULT: usize = 2000;
/// Default of `applier.write_batch_size`.
pub const WRITE_BATCH_SIZE_DEFAULT: usize = 200;
/// Default of `applier.duration` (ms).
pub const DURATION_MS_DEFAULT: u64 = 100;
/// Default of `applier.on_failed_retry_interval` (s).
pub const RETRY_INTERVAL_S_DEFAULT: u64 = 5;
/// Default of `applier.dlq_max_messages`.
pub const DLQ_MAX_MESSAGES_DEFAULT: usize = 1000;
/// Default of `applier.writer_threads`.
pub const WRITER_THREADS_DEFAULT: usize = 2;
/// Fewest `applier.writer_threads`.
pub const WRITER_THREADS_MIN: usize = 1;
/// Most `applier.writer_threads`.
pub const WRITER_THREADS_MAX: usize = 64;
/// Default port of a `postgresql` connection.
pub const POSTGRESQL_PORT_DEFAULT: u16 = 5432;
/// Default port of a `cassandra` connection.
pub const CASSANDRA_PORT_DEFAULT: u16 = 9042;

impl Default for Applier {
    fn default() -> Self {
        Applier {
            read_batch_size: READ_BATCH_SIZE_DEFAULT,
            write_batch_size: WRITE_BATCH_SIZE_DEFAULT,
            duration_ms: DURATION_MS_DEFAULT,
            on_failed_retry_interval_s: RETRY_INTERVAL_S_DEFAULT,
            error_handling: ErrorHandling::Dlq,
            dlq_max_messages: DLQ_MAX_MESSAGES_DEFAULT,
            writer_threads: WRITER_THREADS_DEFAULT,
            max_pending: 0,
            exactly_once: false,
            checkpoint_table: CHECKPOINT_TABLE_DEFAULT.to_string(),
        }
    }
}

/// One job file: a key pattern and where its changes go.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The file name without `.yaml`.
    pub name: String,
    /// Redis glob of the keys to capture.
    pub key_pattern: String,
    /// Event names not to capture, lower-case (`hdel`, `del`, ...).
    pub exclude_commands: Vec<String>,
    /// The shape of the record that transforms and writers see.
    pub row_format: RowFormat,
    /// `source.redis.propagate_expired` (an extension of RDI): an expired key is a delete and a hash
    /// field that expired an update, instead of being ignored.
    pub propagate_expired: bool,
    /// The `transform` blocks, run in order on every record.
    pub transforms: Vec<Block>,
    /// Where each record goes.
    pub outputs: Vec<Output>,
}

/// `source.redis.row_format`: what a record looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RowFormat {
    /// The value itself: a hash's fields or a JSON document (the default).
    #[default]
    DataOnly,
    /// `{key, before, after, opcode}` with the value under `after`.
    Full,
}

/// One entry of a job's `output` list.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// `relational.write` (and `cassandra.write`, read into the same shape).
    Relational(RelationalOutput),
    /// `redis.write`.
    Redis(RedisOutput),
}

impl Output {
    /// The name of the connection it writes through.
    pub fn connection(&self) -> &str {
        match self {
            Output::Relational(r) => &r.connection,
            Output::Redis(r) => &r.connection,
        }
    }
}

/// The `with` of a `relational.write` output.
#[derive(Debug, Clone, PartialEq)]
pub struct RelationalOutput {
    /// Name of a connection in `config.yaml`.
    pub connection: String,
    /// Schema; `None` means the connection's default.
    pub schema: Option<String>,
    /// Table name.
    pub table: String,
    /// Unique key columns (required for upsert and delete; may be empty with `APPEND`).
    pub keys: Vec<ColumnMapping>,
    /// Other columns to write; key columns are written too without being listed here.
    pub mapping: Vec<ColumnMapping>,
    /// `foreach`: one row per element of an array, the element addressed as `alias`.
    pub foreach: Option<Foreach>,
    /// `opcode_field`: the record field holding the opcode (`c`, `u`, `r`, `d`) to use instead.
    pub opcode_field: Option<String>,
    /// `load_strategy`.
    pub load_strategy: LoadStrategy,
}

/// `foreach: "alias: <JMESPath to an array>"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Foreach {
    /// The name each element is addressed by in `keys` and `mapping` (`alias.x`).
    pub alias: String,
    /// The JMESPath expression giving the array.
    pub expression: Expression,
}

/// How changes become rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadStrategy {
    /// Insert or update by keys; delete by keys (the default).
    #[default]
    Upsert,
    /// Insert every change as a new row (an audit trail).
    Append,
    /// Delete by keys, then insert.
    Replace,
}

/// A target column and the expression its value comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnMapping {
    /// Column name in the target.
    pub column: String,
    /// Where the value comes from: the same-named field, or the JMESPath of `{column: expression}`.
    pub expression: Expression,
}

impl ColumnMapping {
    /// A column read from the record field `field` (exact name).
    pub fn field(column: &str, field: &str) -> ColumnMapping {
        ColumnMapping {
            column: column.to_string(),
            expression: Expression::field(field),
        }
    }
}

impl RelationalOutput {
    /// Every column written on upsert: the keys first, then the mapping minus any key repeated there.
    /// A key column repeated in the mapping has the same expression in both (the job reader settles
    /// it), so that upserts and deletes, which read only the keys, agree on its value.
    pub fn upsert_columns(&self) -> Vec<&ColumnMapping> {
        let mut out: Vec<&ColumnMapping> = self.keys.iter().collect();
        for m in &self.mapping {
            if !self.keys.iter().any(|k| k.column == m.column) {
                out.push(m);
            }
        }
        out
    }
}
