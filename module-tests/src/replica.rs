//! Replication helpers: make a server a replica of another and wait until it is in sync.

use crate::commands::call;
use crate::redis_server::{RedisOpts, RedisServer};
use crate::status::Status;
use crate::wait::wait_until;
use std::time::Duration;

/// How long a replica may take to sync with its primary and to show the deployed job.
pub const SYNC_DEADLINE: Duration = Duration::from_secs(30);

/// Starts a server with `opts`, makes it a replica of `primary` and waits until its link is up and its
/// `RDI.STATUS` shows role `replica` with the job `job` (which arrives with the data).
pub fn start_replica_of(primary: &RedisServer, opts: RedisOpts, job: &str) -> RedisServer {
    let replica = RedisServer::start(opts).expect("start the replica");
    let mut connection = replica.client();
    call(
        &mut connection,
        &["REPLICAOF", "127.0.0.1", &primary.port().to_string()],
    );
    wait_until(SYNC_DEADLINE, "the replica's link is up", || {
        link_up(&mut connection)
    });
    wait_until(
        SYNC_DEADLINE,
        "the replica's RDI.STATUS shows the job with role replica",
        || {
            let status = Status::query(&mut connection);
            status.role == "replica" && status.jobs.contains_key(job)
        },
    );
    replica
}

/// Whether `INFO replication` says the link to the primary is up.
pub fn link_up(connection: &mut redis::Connection) -> bool {
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query(connection)
        .unwrap_or_default();
    info.contains("master_link_status:up")
}

/// `WAIT <replicas> <timeout_ms>`: how many replicas acknowledged every write of this connection.
pub fn wait_replicas(connection: &mut redis::Connection, replicas: u32, timeout_ms: u64) -> i64 {
    redis::cmd("WAIT")
        .arg(replicas)
        .arg(timeout_ms)
        .query(connection)
        .expect("WAIT")
}

/// `REPLICAOF NO ONE`, then waits until `RDI.STATUS` says primary with the engine running.
pub fn promote(connection: &mut redis::Connection) {
    call(connection, &["REPLICAOF", "NO", "ONE"]);
    wait_until(
        SYNC_DEADLINE,
        "the promoted replica runs its pipeline as primary",
        || {
            let status = Status::query(connection);
            status.role == "primary" && status.engine == "RUNNING"
        },
    );
}

/// `XLEN` of a key (0 when it does not exist).
pub fn xlen(connection: &mut redis::Connection, key: &str) -> i64 {
    redis::cmd("XLEN").arg(key).query(connection).expect("XLEN")
}
