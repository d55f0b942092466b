//! Figure 1, capture overhead: redis-benchmark HSET and JSON.SET against a server with the module
//! capturing every key, next to the same server without it.

use module_tests::{commands, yaml};

use crate::load::redis_benchmark;
use crate::{applier, applier_refs, cmd, kops, median, module_server, plain_server, Bench};

type Load<'a> = (&'a str, u32, u32, u64, &'a [&'a str], &'a str, f64);

pub fn capture(b: &mut Bench) {
    let base = plain_server();
    let with = module_server();
    let db = with.dir().join("cap.db");
    rusqlite::Connection::open(&db)
        .and_then(|c| c.execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY, f TEXT)"))
        .expect("sqlite table");
    let job = yaml::relational_job("*", yaml::SQLITE_CONNECTION, None, "t", &["id"], &["f"]);
    commands::deploy_ok(
        &mut with.client(),
        &yaml::sqlite_config(&db, &applier_refs(&applier())),
        &[("cap", &job)],
    );
    let mut mc = with.client();
    let hset: &[&str] = &[
        "HSET",
        "emp:__rand_int__",
        "id",
        "__rand_int__",
        "f",
        "__rand_int__",
    ];
    let json: &[&str] = &[
        "JSON.SET",
        "doc:__rand_int__",
        "$",
        "{\"id\":\"__rand_int__\",\"f\":\"v\"}",
    ];
    // (name, clients, pipeline, requests, command, goal, minimum ratio)
    let loads: [Load; 4] = [
        ("HSET -P 16 -c 50", 50, 16, 1_000_000, hset, "≥ 0.70", 0.70),
        (
            "HSET -c 50 (no pipelining)",
            50,
            1,
            200_000,
            hset,
            "≥ 0.95",
            0.95,
        ),
        (
            "JSON.SET -P 16 -c 50",
            50,
            16,
            400_000,
            json,
            "≥ 0.70",
            0.70,
        ),
        (
            "JSON.SET -c 50 (no pipelining)",
            50,
            1,
            150_000,
            json,
            "≥ 0.95",
            0.95,
        ),
    ];
    for paused in [true, false] {
        cmd(&mut mc, &[if paused { "RDI.STOP" } else { "RDI.START" }]);
        for (name, clients, pipeline, n, command, goal, min) in loads {
            if !paused && command[0] != "HSET" {
                continue;
            }
            let (mut rb, mut rm) = (Vec::new(), Vec::new());
            for _ in 0..b.rounds {
                rb.push(redis_benchmark(base.port(), n, clients, pipeline, command));
                rm.push(redis_benchmark(with.port(), n, clients, pipeline, command));
                // Keep every round the same: an empty queue (the writers, if running, restart on it).
                cmd(&mut mc, &["DEL", "__rdi__:queue:cap"]);
            }
            let (vb, vm) = (median(rb.clone()), median(rm.clone()));
            println!(
                "  {name}: without {:?} with {:?} (k/s)",
                rb.iter().map(|r| (r / 1e3).round()).collect::<Vec<_>>(),
                rm.iter().map(|r| (r / 1e3).round()).collect::<Vec<_>>()
            );
            let label = if paused {
                format!("1. capture {name}, writers paused")
            } else {
                format!("1. capture {name}, writers running (SQLite)")
            };
            b.fig(
                &label,
                kops(vm),
                kops(vb),
                vm / vb,
                goal,
                Some(vm / vb >= min),
            );
        }
    }
    b.notes.push(
        "Capture: a job with key_pattern `*` (every key); `writers paused` = RDI.STOP, capture only; \
         `writers running` = the writer threads also read the queue and write to SQLite on the same 2 cores."
            .into(),
    );
}
