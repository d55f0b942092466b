//! Harness for the module tests: real servers (Redis, Valkey, PostgreSQL, MariaDB), the module's
//! commands, waits.
//!
//! This package never links the module (whose global allocator is Redis's): it talks to servers only.

pub mod cluster;
pub mod commands;
pub mod env;
pub mod fixture;
pub mod mariadb_server;
pub mod ports;
pub mod postgres_server;
pub mod random_actions;
pub mod random_ops;
pub mod redis_opts;
pub mod redis_server;
pub mod replica;
pub mod replies;
pub mod rng;
pub mod sqlite_target;
pub mod status;
pub mod targets;
pub mod wait;
pub mod watchdog;
pub mod yaml;

pub use commands::{
    call, deploy, deploy_err, deploy_ok, drain, drain_within, error_text, rdi_wait,
    wait_from_stopped, WaitReply,
};
pub use fixture::{query_text, row, sqlite_emp, PgPipeline, FAST_RETRY};
pub use mariadb_server::MariaServer;
pub use postgres_server::PgServer;
pub use redis_server::{RedisOpts, RedisServer, ServerKind, StartError};
pub use status::Status;
pub use wait::{wait_for, wait_until};
