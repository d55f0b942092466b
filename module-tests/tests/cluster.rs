//! Redis Cluster: three primaries, each deployed with the same job, each capturing and writing the keys
//! it holds into one PostgreSQL table; the module's keys stay in a slot the node serves; a slot with
//! tracked keys migrated to another node (MIGRATE) leaves their rows in place, and the new owner captures
//! them from then on; a restarted node brings its pipeline back before the cluster is up; with
//! exactly_once each shard keeps its own checkpoint.

use module_tests::cluster::{slot_of, Cluster};
use module_tests::yaml::{pg_config, pg_job};
use module_tests::{drain, query_text, row, PgServer, RedisOpts, Status, FAST_RETRY};

const KEYS: usize = 300;
const DDL: &str = "CREATE TABLE emp (id integer PRIMARY KEY, name text)";
const ALL: &str = "SELECT id::text, name FROM emp ORDER BY id";

fn module_keys(node: &mut redis::Connection) -> Vec<String> {
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("__rdi__:*").query(node).unwrap();
    keys.sort();
    keys
}

fn own_slots(cluster: &Cluster, i: usize, slot: u16) -> bool {
    cluster.owner(slot) == i
}

fn drain_all(cluster: &Cluster) {
    for node in &cluster.nodes {
        drain(&mut node.client());
    }
}

fn written(cluster: &Cluster) -> Vec<(i64, i64, i64)> {
    cluster
        .nodes
        .iter()
        .map(|n| {
            let s = Status::query(&mut n.client());
            let j = s.job("emp");
            (j.inserted, j.updated, j.deleted)
        })
        .collect()
}

/// A 3-primary cluster started with `opts`, every node deployed with job `emp` into a fresh database
/// `db` of the shared PostgreSQL server (`extra` applier lines added to the config).
fn deployed(db: &str, opts: RedisOpts, extra: &[&str]) -> (Cluster, &'static PgServer, String) {
    let pg = PgServer::shared();
    let db = pg.create_database(db);
    pg.client(&db).batch_execute(DDL).unwrap();
    let cluster = Cluster::start(3, opts);
    let mut applier = vec![FAST_RETRY];
    applier.extend_from_slice(extra);
    let config = pg_config(pg, &db, &applier);
    let job = pg_job("emp:*", "emp", &["id"], &["name"]);
    for node in &cluster.nodes {
        module_tests::deploy_ok(&mut node.client(), &config, &[("emp", &job)]);
    }
    (cluster, pg, db)
}

#[test]
fn three_primaries_capture_their_own_keys_and_slot_migration_keeps_rows() {
    let (mut cluster, pg, db) = deployed("cluster3", RedisOpts::redis74().appendonly(), &[]);

    // The module's keys on each node carry a tag of a slot that node serves.
    for (i, node) in cluster.nodes.iter().enumerate() {
        let keys = module_keys(&mut node.client());
        assert_eq!(keys.len(), 1, "node {i}: {keys:?}");
        assert!(keys[0].starts_with("__rdi__:{"), "{keys:?}");
        assert!(
            own_slots(&cluster, i, slot_of(&keys[0])),
            "node {i}: {keys:?}"
        );
    }

    let mut router = cluster.router();
    for i in 1..=KEYS {
        let id = i.to_string();
        router.must(&[
            "HSET",
            &format!("emp:{i}"),
            "id",
            &id,
            "name",
            &format!("n{i}"),
        ]);
    }
    drain_all(&cluster);
    let rows = query_text(&mut pg.client(&db), ALL);
    assert_eq!(rows.len(), KEYS);
    let per_node = written(&cluster);
    assert!(
        per_node.iter().all(|(ins, _, _)| *ins > 0),
        "every primary writes its own keys: {per_node:?}"
    );
    assert_eq!(
        per_node.iter().map(|(ins, _, _)| ins).sum::<i64>(),
        KEYS as i64,
        "each key written once, by its node: {per_node:?}"
    );
    for (i, node) in cluster.nodes.iter().enumerate() {
        let keys = module_keys(&mut node.client());
        assert_eq!(keys.len(), 2, "deploy + queue on node {i}: {keys:?}");
        assert!(
            keys.iter().all(|k| own_slots(&cluster, i, slot_of(k))),
            "{keys:?}"
        );
    }

    // Migrate the slot of emp:1 (with every tracked key in it) to another node.
    let slot = slot_of("emp:1");
    let from = cluster.owner(slot);
    let to = (from + 1) % 3;
    let in_slot: Vec<usize> = (1..=KEYS)
        .filter(|i| slot_of(&format!("emp:{i}")) == slot)
        .collect();
    let moved = cluster.migrate_slot(slot, from, to);
    assert_eq!(moved, in_slot.len());
    assert_eq!(cluster.owner(slot), to);
    drain_all(&cluster);
    assert_eq!(
        query_text(&mut pg.client(&db), ALL).len(),
        KEYS,
        "MIGRATE must not delete the rows of the keys it moves"
    );
    let after = written(&cluster);
    assert_eq!(after[from].2, 0, "the source captured no delete: {after:?}");

    // The new owner captures the moved keys from now on.
    router.must(&["HSET", "emp:1", "name", "moved"]);
    let gone = *in_slot.last().unwrap();
    if gone != 1 {
        router.must(&["DEL", &format!("emp:{gone}")]);
    }
    drain_all(&cluster);
    let one = query_text(
        &mut pg.client(&db),
        "SELECT id::text, name FROM emp WHERE id = 1",
    );
    assert_eq!(one, vec![row(&["1", "moved"])]);
    let remaining = query_text(&mut pg.client(&db), ALL).len();
    assert_eq!(remaining, if gone != 1 { KEYS - 1 } else { KEYS });

    // A restarted node restores its pipeline (before the cluster is up) and goes on capturing.
    let node = cluster.owner(slot_of("emp:2"));
    cluster.nodes[node].restart();
    cluster.wait_ok();
    let status = Status::query(&mut cluster.nodes[node].client());
    assert_eq!(status.job("emp").key_pattern, "emp:*", "{}", status.raw);
    let mut router = cluster.router();
    router.must(&["HSET", "emp:2", "name", "after restart"]);
    drain(&mut cluster.nodes[node].client());
    let two = query_text(
        &mut pg.client(&db),
        "SELECT id::text, name FROM emp WHERE id = 2",
    );
    assert_eq!(two, vec![row(&["2", "after restart"])]);
    let keys = module_keys(&mut cluster.nodes[node].client());
    assert!(
        keys.iter().all(|k| own_slots(&cluster, node, slot_of(k))),
        "{keys:?}"
    );
}

#[test]
fn a_replica_promoted_by_cluster_failover_drains_the_queue_of_its_shard() {
    let pg = PgServer::shared();
    let db = pg.create_database("cluster_failover");
    pg.client(&db).batch_execute(DDL).unwrap();
    let cluster = Cluster::start(3, RedisOpts::redis74());
    let replica = cluster.add_replica(0, RedisOpts::redis74());
    let config = pg_config(pg, &db, &[FAST_RETRY]);
    let job = pg_job("emp:*", "emp", &["id"], &["name"]);
    for node in &cluster.nodes {
        module_tests::deploy_ok(&mut node.client(), &config, &[("emp", &job)]);
    }
    // Node 0 queues without writing; its replica holds the same queue.
    module_tests::call(&mut cluster.nodes[0].client(), &["RDI.STOP"]);
    let mut router = cluster.router();
    let mine: Vec<usize> = (1..=KEYS)
        .filter(|i| cluster.owner(slot_of(&format!("emp:{i}"))) == 0)
        .collect();
    for i in &mine {
        router.must(&[
            "HSET",
            &format!("emp:{i}"),
            "id",
            &i.to_string(),
            "name",
            "queued",
        ]);
    }
    let mut r = replica.client();
    let queued = Status::query(&mut r);
    assert_eq!(queued.role, "replica", "{}", queued.raw);
    module_tests::wait_until(
        std::time::Duration::from_secs(10),
        "the queue is replicated",
        || Status::query(&mut r).job("emp").pending == mine.len() as i64,
    );
    assert_eq!(
        query_text(&mut pg.client(&db), ALL).len(),
        0,
        "the replica writes nothing"
    );

    let _: () = redis::cmd("CLUSTER").arg("FAILOVER").query(&mut r).unwrap();
    module_tests::wait_until(
        std::time::Duration::from_secs(30),
        "the replica is promoted",
        || Status::query(&mut r).role == "primary",
    );
    drain(&mut r);
    let rows = query_text(&mut pg.client(&db), ALL);
    assert_eq!(
        rows.len(),
        mine.len(),
        "the promoted replica drained its shard's queue"
    );
    assert!(rows.iter().all(|row| row[1].as_deref() == Some("queued")));
    let keys = module_keys(&mut r);
    assert!(
        keys.iter().all(|k| slot_of(k) < 5461),
        "the promoted replica uses the shard's tag: {keys:?}"
    );
}

#[test]
fn with_exactly_once_each_shard_keeps_its_own_checkpoint_and_skips_nothing_of_the_others() {
    let (cluster, pg, db) = deployed(
        "cluster_exactly_once",
        RedisOpts::redis74(),
        &["exactly_once: true"],
    );
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
    drain_all(&cluster);
    let rows = query_text(&mut pg.client(&db), ALL);
    assert_eq!(rows.len(), KEYS, "a shard skipped changes of another");
    let checkpoints = query_text(
        &mut pg.client(&db),
        "SELECT stream FROM rdi_checkpoints ORDER BY stream",
    );
    assert_eq!(
        checkpoints.len(),
        3,
        "one checkpoint per shard: {checkpoints:?}"
    );
}

/// A node's kept deployment carries the tag of the lowest slot it served when it was deployed. Given
/// a lower slot since (a reshard), a restarted node still finds that deployment. The module loads
/// before the data, so the tag it picks then (the new lowest slot's, with no deployment in sight) is
/// provisional until the data has loaded. Before, it was final: the restarted node found no
/// deployment under it and ran no pipeline.
#[test]
fn a_node_given_a_lower_slot_finds_its_deployment_after_a_restart() {
    let (mut cluster, pg, db) = deployed("cluster_reshard", RedisOpts::redis74().appendonly(), &[]);
    let node = 2;
    let before = module_keys(&mut cluster.nodes[node].client());
    // Slot 1 holds no key (the nodes' own keys carry the tags of their lowest slots).
    let from = cluster.owner(1);
    assert_ne!(from, node);
    assert_eq!(cluster.migrate_slot(1, from, node), 0);
    assert_eq!(cluster.owner(1), node);

    cluster.nodes[node].restart();
    cluster.wait_ok();
    let mut c = cluster.nodes[node].client();
    let status = Status::query(&mut c);
    assert_eq!(status.job("emp").key_pattern, "emp:*", "{}", status.raw);
    let id = (1..=10_000)
        .find(|i| cluster.owner(slot_of(&format!("emp:{i}"))) == node)
        .expect("a key of the node");
    let mut router = cluster.router();
    router.must(&[
        "HSET",
        &format!("emp:{id}"),
        "id",
        &id.to_string(),
        "name",
        "after",
    ]);
    drain(&mut c);
    let row_of = query_text(
        &mut pg.client(&db),
        &format!("SELECT id::text, name FROM emp WHERE id = {id}"),
    );
    assert_eq!(row_of, vec![row(&[&id.to_string(), "after"])]);
    let after = module_keys(&mut c);
    assert!(after.contains(&before[0]), "{before:?} → {after:?}");
    let tag = before[0].trim_end_matches("deploy");
    assert!(
        after.iter().all(|k| k.starts_with(tag)),
        "every key keeps the tag of the kept deployment: {after:?}"
    );
}
