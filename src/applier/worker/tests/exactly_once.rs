//! `applier.exactly_once`: replays after a lost acknowledgement, chunks that end inside a change, and
//! refusals kept across a failed pass. Uses the fakes of the parent test module.

use super::*;

/// Runs deployment `d` over upserts 1..=`n` of ids "1".."n" until the queue is empty, then stops it.
fn drain_upserts(d: Deployment, target: &Arc<Target>, n: u64) {
    let queue = Arc::new(MemQueue::default());
    queue
        .entries
        .lock()
        .unwrap()
        .extend((1..=n).map(|i| upsert(i, &i.to_string(), "n")));
    let engine = run_engine_with(queue.clone(), target.clone(), d);
    wait_for("the queue to drain", || {
        queue.entries.lock().unwrap().is_empty()
    });
    assert!(engine.stop_and_join(Duration::from_secs(5)));
}

fn replay_after_a_lost_acknowledgement(exactly_once: bool) -> usize {
    let queue = Arc::new(MemQueue::default());
    queue.entries.lock().unwrap().extend([
        upsert(1, "1", "a"),
        upsert(2, "2", "b"),
        upsert(3, "3", "c"),
    ]);
    queue.fail_acks.store(1, Ordering::SeqCst);
    let target = Arc::new(Target::default());
    let mut d = deployment();
    d.applier.exactly_once = exactly_once;
    let engine = run_engine_with(queue.clone(), target.clone(), d);
    wait_for("the queue to drain", || {
        queue.entries.lock().unwrap().is_empty()
    });
    assert!(engine.stop_and_join(Duration::from_secs(5)));
    let n = target.rows.lock().unwrap().len();
    n
}

#[test]
fn with_exactly_once_a_batch_replayed_after_a_lost_ack_is_not_written_twice() {
    assert_eq!(replay_after_a_lost_acknowledgement(true), 3);
}

#[test]
fn with_exactly_once_a_change_whose_rows_straddle_a_committed_chunk_is_written_whole_on_retry() {
    // Two outputs on one connection: two rows per change, so chunks of 3 end inside a change.
    let mut d = deployment();
    d.applier.exactly_once = true;
    d.applier.write_batch_size = 3;
    let mut second = d.jobs[0].outputs[0].clone();
    if let Output::Relational(r) = &mut second {
        r.table = "emp2".into();
    }
    d.jobs[0].outputs.push(second);
    let queue = Arc::new(MemQueue::default());
    queue
        .entries
        .lock()
        .unwrap()
        .extend((1..=4).map(|i| upsert(i, &i.to_string(), "n")));
    let target = Arc::new(Target::default());
    // The first chunk (change 1 both rows, change 2 first row) commits; the second is lost.
    target.fail_attempt.store(2, Ordering::SeqCst);
    let engine = run_engine_with(queue.clone(), target.clone(), d);
    wait_for("the queue to drain", || {
        queue.entries.lock().unwrap().is_empty()
    });
    assert!(engine.stop_and_join(Duration::from_secs(5)));
    let rows = target.rows.lock().unwrap();
    for id in 1..=4 {
        let n = rows
            .iter()
            .filter(|(_, v)| v[0] == json!(id.to_string()))
            .count();
        assert!(
            n >= 2,
            "change {id} has {n} row(s) written of its 2: {rows:?}"
        );
    }
}

#[test]
fn with_exactly_once_a_row_refused_before_a_lost_chunk_still_reaches_the_dead_letters() {
    let mut d = deployment();
    d.applier.exactly_once = true;
    d.applier.write_batch_size = 2;
    let queue = Arc::new(MemQueue::default());
    queue.entries.lock().unwrap().extend([
        upsert(1, "1", "bad"),
        upsert(2, "2", "b"),
        upsert(3, "3", "c"),
        upsert(4, "4", "d"),
    ]);
    let target = Arc::new(Target::default());
    // Attempts: chunk [1, 2] refused, [1] refused, [2] commits (checkpoint past 1), chunk [3, 4] lost.
    target.fail_attempt.store(4, Ordering::SeqCst);
    let engine = run_engine_with(queue.clone(), target.clone(), d);
    wait_for("the queue to drain", || {
        queue.entries.lock().unwrap().is_empty()
    });
    let dead = queue.dead.lock().unwrap();
    assert_eq!(
        dead.iter().map(|d| d.key.as_str()).collect::<Vec<_>>(),
        ["emp:1"],
        "the refusal of a committed chunk is kept across the retry"
    );
    assert_eq!(JobStats::get(&engine.jobs()[0].stats.rejected), 1);
    assert_eq!(JobStats::get(&engine.jobs()[0].stats.inserted), 3);
    assert!(engine.stop_and_join(Duration::from_secs(5)));
}

#[test]
fn without_exactly_once_a_replayed_batch_is_written_again() {
    // At-least-once: harmless for upserts, duplicates for an APPEND table.
    assert_eq!(replay_after_a_lost_acknowledgement(false), 6);
}

#[test]
fn two_connections_into_one_database_keep_their_own_checkpoints() {
    // One target behind two connections (two users of one database): one checkpoint table.
    let mut d = deployment();
    d.applier.exactly_once = true;
    d.connections.insert(
        "u".into(),
        Connection::Sqlite {
            path: ":memory:".into(),
        },
    );
    let mut second = d.jobs[0].outputs[0].clone();
    if let Output::Relational(r) = &mut second {
        r.connection = "u".into();
        r.table = "emp2".into();
    }
    d.jobs[0].outputs.push(second);
    let target = Arc::new(Target::default());
    drain_upserts(d, &target, 3);
    // Each change reached both tables: the second connection did not take the first's position.
    assert_eq!(target.rows.lock().unwrap().len(), 6);
    let cps = target.checkpoint.lock().unwrap();
    assert_eq!(cps.get("emp/t").map(String::as_str), Some("1-3"), "{cps:?}");
    assert_eq!(cps.get("emp/u").map(String::as_str), Some("1-3"), "{cps:?}");
}

#[test]
fn a_checkpoint_written_before_per_connection_positions_is_still_honoured() {
    let mut d = deployment();
    d.applier.exactly_once = true;
    let target = Arc::new(Target::default());
    // An earlier version committed changes 1 and 2, then the server stopped before the ack.
    target
        .checkpoint
        .lock()
        .unwrap()
        .insert("emp".into(), "1-2".into());
    drain_upserts(d, &target, 3);
    let written: Vec<_> = target
        .rows
        .lock()
        .unwrap()
        .iter()
        .map(|(_, v)| v[0].clone())
        .collect();
    assert_eq!(written, vec![json!("3")]);
}
