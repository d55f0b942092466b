//! `redis-di` on a Redis Cluster of three primaries: deploy, wait, stop, start, reset and status reach every
//! primary from the one address given, and status sums the primaries' counters.

mod common;

use common::{json, ok, redis_di};
use module_tests::cluster::Cluster;
use module_tests::yaml::{pg_config, pg_job, sqlite_config, sqlite_job};
use module_tests::{call, sqlite_target, PgServer, RedisOpts, Status};

const KEYS: usize = 120;

#[test]
fn deploy_wait_and_status_reach_every_primary() {
    let pg = PgServer::shared();
    let db = pg.create_database("cli_cluster");
    pg.client(&db)
        .batch_execute("CREATE TABLE emp (id integer PRIMARY KEY, name text)")
        .unwrap();
    let cluster = Cluster::start(3, RedisOpts::redis74());
    let emp_rows = || -> i64 {
        pg.client(&db)
            .query_one("SELECT count(*) FROM emp", &[])
            .unwrap()
            .get(0)
    };
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir(work.path().join("jobs")).unwrap();
    std::fs::write(work.path().join("config.yaml"), pg_config(pg, &db, &[])).unwrap();
    std::fs::write(
        work.path().join("jobs/emp.yaml"),
        pg_job("emp:*", "emp", &["id"], &["name"]),
    )
    .unwrap();
    let dir = work.path().to_string_lossy().into_owned();
    let port = cluster.nodes[1].port();

    let deployed = ok(port, &["deploy", "--dir", &dir]);
    assert!(
        deployed.stdout.contains("deployed 1 job(s) from")
            && deployed.stdout.contains("on 3 primaries"),
        "{deployed:?}"
    );
    for node in &cluster.nodes {
        let status = Status::query(&mut node.client());
        assert_eq!(status.job("emp").key_pattern, "emp:*", "{}", status.raw);
    }

    let mut router = cluster.router();
    for i in 1..=KEYS {
        router.must(&[
            "HSET",
            &format!("emp:{i}"),
            "id",
            &i.to_string(),
            "name",
            "x",
        ]);
    }
    let waited = json(port, &["wait", "--timeout-ms", "30000"]);
    assert_eq!(
        waited["nodes"].as_object().map(|m| m.len()),
        Some(3),
        "{waited:#}"
    );
    let rows = emp_rows();
    assert_eq!(
        rows, KEYS as i64,
        "wait returned before every primary had written"
    );

    let status = json(port, &["status"]);
    assert_eq!(status["jobs"]["emp"]["inserted"], KEYS as u64, "{status:#}");
    assert_eq!(status["role"], "cluster (3 primaries)");
    let nodes = status["nodes"].as_object().unwrap();
    assert_eq!(nodes.len(), 3);
    let per_node: Vec<u64> = nodes
        .values()
        .map(|s| s["jobs"]["emp"]["inserted"].as_u64().unwrap())
        .collect();
    assert!(per_node.iter().all(|n| *n > 0), "{per_node:?}");
    let text = ok(port, &["status"]).stdout;
    assert!(text.contains("Primaries"), "{text}");
    for node in &cluster.nodes {
        assert!(
            text.contains(&format!("127.0.0.1:{}", node.port())),
            "{text}"
        );
    }

    let stopped = ok(port, &["stop"]);
    assert!(stopped.stdout.contains("(on 3 primaries)"), "{stopped:?}");
    for node in &cluster.nodes {
        assert_eq!(Status::query(&mut node.client()).engine, "STOPPED");
    }
    ok(port, &["start"]);
    for node in &cluster.nodes {
        assert_eq!(Status::query(&mut node.client()).engine, "RUNNING");
    }

    // A backfill reaches every primary: each queues its own keys again.
    pg.client(&db).batch_execute("DELETE FROM emp").unwrap();
    let reset = json(port, &["reset"]);
    assert_eq!(reset["nodes"], 3, "{reset:#}");
    assert_eq!(reset["queued"], KEYS as u64, "{reset:#}");
    json(port, &["wait", "--timeout-ms", "30000"]);
    let rows = emp_rows();
    assert_eq!(
        rows, KEYS as i64,
        "the backfill missed keys of some primary"
    );

    // A refused deploy names the primaries it failed on and exits non-zero.
    std::fs::write(work.path().join("jobs/emp.yaml"), "source: {}\n").unwrap();
    let refused = redis_di(port, &["deploy", "--dir", &dir]);
    assert!(!refused.ok, "{refused:?}");
    assert!(
        refused.stderr.contains("deploy failed on 3 of 3 primaries"),
        "{refused:?}"
    );
}

#[test]
fn a_deploy_that_one_primary_refuses_changes_no_primary() {
    let cluster = Cluster::start(3, RedisOpts::redis74());
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("target.db");
    sqlite_target::create(&db, "CREATE TABLE emp (id INTEGER PRIMARY KEY, name TEXT)");
    std::fs::create_dir(work.path().join("jobs")).unwrap();
    std::fs::write(work.path().join("config.yaml"), sqlite_config(&db, &[])).unwrap();
    let job = sqlite_job("emp:*", "emp", &["id"], &["name"]);
    std::fs::write(work.path().join("jobs/emp.yaml"), &job).unwrap();
    let dir = work.path().to_string_lossy().into_owned();
    let port = cluster.nodes[0].port();
    ok(port, &["deploy", "--dir", &dir]);

    // The new pipeline reads a secret that the third primary lacks: it refuses, and with it every
    // primary keeps the pipeline it ran (the deploy is checked everywhere before it is sent).
    let db_text = db.to_string_lossy().into_owned();
    for node in &cluster.nodes[..2] {
        call(
            &mut node.client(),
            &["RDI.SET-SECRET", "LITE_PATH", &db_text],
        );
    }
    let config = sqlite_config(&db, &[]).replace(&db_text, "${secrets:LITE_PATH}");
    std::fs::write(work.path().join("config.yaml"), config).unwrap();
    std::fs::write(
        work.path().join("jobs/emp.yaml"),
        job.replace("emp:*", "staff:*"),
    )
    .unwrap();
    let refused = redis_di(port, &["deploy", "--dir", &dir]);
    assert!(!refused.ok, "{refused:?}");
    let third = format!("127.0.0.1:{}", cluster.nodes[2].port());
    assert!(
        refused.stderr.contains("deploy failed on 1 of 3 primaries")
            && refused.stderr.contains(&third)
            && refused.stderr.contains("nothing was deployed"),
        "{refused:?}"
    );
    assert!(
        refused.stdout.contains(&format!("{third}: refused: ")),
        "{refused:?}"
    );
    for node in &cluster.nodes {
        let status = Status::query(&mut node.client());
        assert_eq!(status.job("emp").key_pattern, "emp:*", "{}", status.raw);
    }
}
