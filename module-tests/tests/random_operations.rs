//! Thousands of random writes to tracked keys, of every kind that changes them
//! (`module_tests::random_ops`): once the queue is drained, every row of the target equals what
//! Redis holds, and no row is left for a key that is gone, whether the writers ran along or the
//! whole run waited in the queue.

use module_tests::random_ops::{check, deployed, run, settle, Recent};
use module_tests::rng::{count, Rng};
use module_tests::targets::TargetKind;
use module_tests::{call, wait_until, RedisOpts, Status};

/// Seeds (runs of operations on the same server) by default; `RDI_RANDOM_SEEDS` sets another count.
const SEEDS: u64 = 4;
/// Operations per seed.
const OPERATIONS: usize = 3_000;

/// Runs `OPERATIONS` random operations of `seed`, then [`settle`]; returns the last few.
fn run_seed(r: &mut redis::Connection, seed: u64, next_id: &mut u64) -> Recent {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed);
    let mut recent = Recent::default();
    run(r, &mut rng, OPERATIONS, next_id, &mut recent);
    settle(r);
    recent
}

fn seeds() -> u64 {
    count("RDI_RANDOM_SEEDS", SEEDS)
}

/// Seeds with the writers running (odd) and stopped (even) on one server writing to `kind`.
fn running_and_stopped(kind: TargetKind, db: &str) {
    let (redis, mut target) = deployed(RedisOpts::redis74(), kind, db);
    let mut r = redis.client();
    let mut next_id = 0u64;
    for seed in 1..=seeds() {
        // With the writers stopped, every change waits in the queue and is read after all the
        // others: the most coalescing, and values read long after their entries.
        let stopped = seed % 2 == 0;
        if stopped {
            call(&mut r, &["RDI.STOP"]);
        }
        let recent = run_seed(&mut r, seed, &mut next_id);
        if stopped {
            call(&mut r, &["RDI.START"]);
        }
        let writers = if stopped { "stopped" } else { "running" };
        let what = format!("{kind:?}, seed {seed} (writers {writers})");
        check(&mut r, &mut target, &what, &recent);
    }
}

#[test]
fn after_random_operations_sqlite_equals_redis() {
    running_and_stopped(TargetKind::Sqlite, "random_ops");
}

#[test]
fn after_random_operations_postgresql_equals_redis() {
    running_and_stopped(TargetKind::Postgres, "random_ops");
}

#[test]
fn after_random_operations_mariadb_equals_redis() {
    running_and_stopped(TargetKind::MariaDb, "random_ops");
}

#[test]
fn after_random_operations_and_a_kill_9_the_target_equals_redis() {
    // Every write is in the AOF before its reply; the kill comes while the writers work.
    let opts = RedisOpts::redis74().appendonly().appendfsync("always");
    let (mut redis, mut target) = deployed(opts, TargetKind::Sqlite, "random_ops_killed");
    let mut next_id = 1_000_000u64;
    for seed in 1..=seeds() {
        let mut r = redis.client();
        let recent = run_seed(&mut r, 100 + seed, &mut next_id);
        redis.kill9();
        redis.restart();
        let mut r = redis.client();
        wait_until(
            std::time::Duration::from_secs(30),
            "the jobs run again after the restart",
            || {
                let status = Status::query(&mut r);
                status.engine == "RUNNING" && status.jobs.contains_key("docs")
            },
        );
        let what = format!("seed {seed}, killed and restarted");
        check(&mut r, &mut target, &what, &recent);
    }
}
