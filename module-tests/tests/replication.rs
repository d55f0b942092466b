//! A replica of a deployed primary knows the deployment (it arrives with the data) and writes nothing.

use module_tests::replica::xlen;
use module_tests::yaml::pg_job;
use module_tests::{call, row, wait_until, PgPipeline, PgServer, RedisOpts, RedisServer, Status};
use std::time::Duration;

const DDL: &str = "CREATE TABLE emp (id integer PRIMARY KEY, name text)";
const QUEUE: &str = "__rdi__:queue:emp";

#[test]
fn replica_shows_the_deployed_job_with_role_replica_and_writes_nothing() {
    let job = pg_job("emp:*", "emp", &["id"], &["name"]);
    let p = PgPipeline::start(
        PgServer::shared(),
        RedisOpts::redis74(),
        "replication",
        DDL,
        &[("emp", &job)],
    );
    call(
        &mut p.redis(),
        &["HSET", "emp:1", "id", "1", "name", "before"],
    );
    p.drain();

    let replica = RedisServer::start(RedisOpts::redis74()).expect("start the replica");
    let mut rr = replica.client();
    call(
        &mut rr,
        &["REPLICAOF", "127.0.0.1", &p.redis.port().to_string()],
    );
    wait_until(Duration::from_secs(30), "the replica is in sync", || {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query(&mut rr)
            .unwrap();
        info.contains("master_link_status:up")
    });
    wait_until(
        Duration::from_secs(30),
        "the replica's RDI.STATUS shows job emp with role replica",
        || {
            let status = Status::query(&mut rr);
            status.role == "replica" && status.jobs.contains_key("emp")
        },
    );

    call(
        &mut p.redis(),
        &["HSET", "emp:2", "id", "2", "name", "after"],
    );
    call(&mut p.redis(), &["HSET", "emp:1", "name", "changed"]);
    p.drain();
    wait_until(
        Duration::from_secs(30),
        "the replica has the new writes",
        || {
            let name: Option<String> = redis::cmd("HGET")
                .arg("emp:2")
                .arg("name")
                .query(&mut rr)
                .unwrap();
            name.is_some()
        },
    );
    assert_eq!(
        p.rows("SELECT id::text, name FROM emp ORDER BY emp.id"),
        vec![row(&["1", "changed"]), row(&["2", "after"])]
    );
    // The writer trims what committed from a thread that keeps its context between sections: the
    // trim reaches the replica when the section ends, not when the thread does.
    let mut primary = p.redis();
    wait_until(
        Duration::from_secs(30),
        "the queue is trimmed on the primary and on the replica",
        || xlen(&mut primary, QUEUE) == 0 && xlen(&mut rr, QUEUE) == 0,
    );

    let status = Status::query(&mut rr);
    let job = status.job("emp");
    assert_eq!(job.key_pattern, "emp:*");
    assert_eq!(
        (job.inserted, job.updated, job.deleted, job.rejected),
        (0, 0, 0, 0),
        "{}",
        status.raw
    );
    assert_eq!(status.role, "replica");
    let primary = Status::query(&mut p.redis());
    assert_eq!(primary.role, "primary");
    assert_eq!(primary.job("emp").written(), 3, "{}", primary.raw);
}
