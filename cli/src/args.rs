//! The command line: global connection options and one subcommand per RDI command (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `redis-di`: operate the rdi write-behind module of a Redis server.
#[derive(Debug, Parser)]
#[command(name = "redis-di", version, about, propagate_version = true)]
pub struct Cli {
    /// How to reach the Redis server that runs the module.
    #[command(flatten)]
    pub conn: ConnectionArgs,
    /// Print the reply as JSON (for scripts) instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Where the Redis server with the module is and how to log in to it.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// Host of the Redis server.
    #[arg(long, global = true, default_value = "127.0.0.1")]
    pub rdi_host: String,
    /// Port of the Redis server.
    #[arg(long, global = true, default_value_t = 6379)]
    pub rdi_port: u16,
    /// ACL user (the default user when absent).
    #[arg(long, global = true)]
    pub rdi_user: Option<String>,
    /// Password of the user; prefer the RDI_PASSWORD environment variable.
    #[arg(long, global = true, env = "RDI_PASSWORD", hide_env_values = true)]
    pub rdi_password: Option<String>,
    /// Connect with TLS.
    #[arg(long, global = true)]
    pub tls: bool,
    /// CA certificate (PEM) that signed the server's certificate; the system roots otherwise.
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM), for servers that require one.
    #[arg(long, global = true, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of the client certificate.
    #[arg(long, global = true, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// The database types `scaffold` has a template for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DbType {
    /// PostgreSQL.
    Postgresql,
    /// MySQL.
    Mysql,
    /// MariaDB.
    Mariadb,
    /// Oracle.
    Oracle,
    /// Microsoft SQL Server.
    Sqlserver,
    /// Apache Cassandra.
    Cassandra,
    /// Another Redis database.
    Redis,
    /// An embedded SQLite file (no server needed).
    Sqlite,
}

/// The pipeline kinds `scaffold --strategy` accepts (RDI's CLI also has ingest, which this module is not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Strategy {
    /// Redis to a database: the only kind this module runs.
    #[value(name = "write_behind", alias = "write-behind")]
    WriteBehind,
}

/// One subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a config.yaml and a jobs/ folder with an example job for a target type.
    Scaffold {
        /// The kind of target database.
        #[arg(long, value_enum)]
        db_type: DbType,
        /// Folder to write config.yaml and jobs/ into.
        #[arg(long, required_unless_present = "preview", conflicts_with = "preview")]
        dir: Option<PathBuf>,
        /// Print one file instead of writing: `config.yaml` or `jobs/emp.yaml`.
        #[arg(long, value_name = "FILE")]
        preview: Option<String>,
        /// Overwrite files that already exist.
        #[arg(long)]
        force: bool,
        /// Accepted for RDI's quickstart command line; write_behind is the only kind.
        #[arg(long, value_enum, default_value = "write_behind")]
        strategy: Strategy,
    },
    /// Check that the server runs the module (RDI's CLI installs its engine here; the module is the engine).
    Configure,
    /// How to upgrade the module, and the version this server runs.
    Upgrade,
    /// Deploy config.yaml and jobs/*.yaml from a folder (RDI.DEPLOY).
    Deploy {
        /// Folder holding config.yaml and jobs/.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Validate and check the targets, but deploy nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Engine, connections and per-job counters (RDI.STATUS).
    Status {
        /// Redraw every second until Ctrl-C.
        #[arg(long)]
        live: bool,
        /// Seconds between redraws with --live.
        #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
        interval: f64,
    },
    /// The deployed jobs (RDI.LIST-JOBS).
    ListJobs,
    /// One job as deployed, with its counters (RDI.DESCRIBE-JOB).
    DescribeJob {
        /// The job's name (its file name without .yaml).
        name: String,
    },
    /// Records in the dead-letter queues (RDI.GET-REJECTED).
    GetRejected {
        /// Only this job.
        #[arg(long)]
        job: Option<String>,
        /// At most this many records.
        #[arg(long)]
        count: Option<u64>,
        /// The oldest first (the newest first otherwise).
        #[arg(long)]
        oldest: bool,
    },
    /// Follow records through the pipeline for a while (RDI.TRACE).
    Trace {
        /// Stop after this many records.
        #[arg(long)]
        count: Option<u64>,
        /// Stop after this many seconds.
        #[arg(long)]
        timeout: Option<u64>,
        /// Only records that were rejected.
        #[arg(long)]
        rejected_only: bool,
    },
    /// Backfill: queue every existing matching key again (RDI.RESET), with a progress bar.
    Reset {
        /// Only this job.
        #[arg(long)]
        job: Option<String>,
    },
    /// Resume writing to the targets (RDI.START).
    Start,
    /// Pause writing to the targets; capture goes on (RDI.STOP).
    Stop,
    /// Wait until every change captured so far has been written or rejected (RDI.WAIT).
    Wait {
        /// Give up after this many milliseconds (the module's default otherwise).
        #[arg(long)]
        timeout_ms: Option<u64>,
    },
    /// Store a secret for `${secrets:NAME}` references (RDI.SET-SECRET); value from stdin if absent.
    SetSecret {
        /// The secret's name.
        name: String,
        /// The value; omit it (or give `-`) to read it from stdin, out of the shell history.
        value: Option<String>,
    },
    /// Remove the pipeline (RDI.UNDEPLOY).
    Undeploy {
        /// Even while changes are still pending.
        #[arg(long)]
        force: bool,
    },
    /// Serve RDI.METRICS over HTTP at /metrics for Prometheus.
    Monitor {
        /// Port to listen on.
        #[arg(long, default_value_t = 9121)]
        port: u16,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
    },
}
