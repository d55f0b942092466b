//! Rows that fail with an error the writer does not recognise (`probe.rs`).

use super::*;
use crate::applier::probe::PROBE_AFTER;

fn written(target: &Target) -> Vec<String> {
    target
        .rows
        .lock()
        .unwrap()
        .iter()
        .map(|(_, v)| v[0].as_str().unwrap_or_default().to_string())
        .collect()
}

fn queue_of(names: &[&str]) -> Arc<MemQueue> {
    let queue = Arc::new(MemQueue::default());
    queue.entries.lock().unwrap().extend(
        names
            .iter()
            .enumerate()
            .map(|(i, name)| upsert(i as u64 + 1, &(i + 1).to_string(), name)),
    );
    queue
}

#[test]
fn a_row_failing_alone_with_an_unrecognised_error_goes_to_the_dlq_once_others_are_written() {
    let queue = queue_of(&["a", "b", "odd", "d", "e"]);
    let target = Arc::new(Target::default());
    let engine = run_engine(queue.clone(), target.clone());
    wait_for("the queue to drain", || {
        queue.entries.lock().unwrap().is_empty()
    });
    // Retried as an outage first: the whole batch failed on the passes before the probe.
    let stats = &engine.jobs()[0].stats;
    assert!(JobStats::get(&stats.retries_total) >= u64::from(PROBE_AFTER));
    assert_eq!(written(&target), ["1", "2", "4", "5"]);
    let dead = queue.dead.lock().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].key, "emp:3");
    assert!(
        dead[0].reason.contains("error 9999") && dead[0].reason.contains("failed alone twice"),
        "{}",
        dead[0].reason
    );
    assert_eq!(JobStats::get(&stats.rejected), 1);
    assert_eq!(JobStats::get(&stats.inserted), 4);
    let errors = engine.connection_stats()["t"].errors();
    assert!(errors[3] >= u64::from(PROBE_AFTER), "{errors:?}");
    assert!(engine.stop_and_join(Duration::from_secs(5)));
}

#[test]
fn a_row_failing_alone_is_found_across_pipelined_chunks() {
    let names: Vec<&str> = (1..=12)
        .map(|i| if i == 6 { "odd" } else { "ok" })
        .collect();
    let queue = queue_of(&names);
    let target = Arc::new(Target::default());
    target.pipelined.store(true, Ordering::SeqCst);
    let engine = run_engine(queue.clone(), target.clone());
    wait_for("the queue to drain", || {
        queue.entries.lock().unwrap().is_empty()
    });
    let rows = written(&target);
    for i in (1..=12).filter(|i| *i != 6) {
        assert!(rows.contains(&i.to_string()), "{i} missing from {rows:?}");
    }
    assert!(!rows.contains(&"6".to_string()));
    // 7 and 8 (the odd row's chunk) land after the chunks the pipeline wrote past it.
    assert_eq!(rows[rows.len() - 6..], ["7", "8", "9", "10", "11", "12"]);
    let dead = queue.dead.lock().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].key, "emp:6");
    assert!(engine.stop_and_join(Duration::from_secs(5)));
}

#[test]
fn an_unrecognised_error_on_every_write_sends_nothing_to_the_dlq() {
    let queue = queue_of(&["a", "b", "c"]);
    let target = Arc::new(Target::default());
    target.unknown.store(true, Ordering::SeqCst);
    let engine = run_engine(queue.clone(), target.clone());
    // Past the probing passes: the batch split to single rows, each failing alone, none written.
    let stats = engine.jobs()[0].stats.clone();
    wait_for("probing passes", || {
        JobStats::get(&stats.retries_total) >= u64::from(PROBE_AFTER) + 2
    });
    assert!(target.attempts.load(Ordering::SeqCst) > (PROBE_AFTER as usize) + 3);
    assert!(queue.dead.lock().unwrap().is_empty());
    assert_eq!(queue.entries.lock().unwrap().len(), 3);
    assert!(stats
        .last_error()
        .unwrap()
        .message
        .contains("unrecognised target error: error 9999"));

    // The target recovers: everything is written, in order, nothing rejected.
    target.unknown.store(false, Ordering::SeqCst);
    wait_for("the queue to drain", || {
        queue.entries.lock().unwrap().is_empty()
    });
    assert_eq!(written(&target), ["1", "2", "3"]);
    assert!(queue.dead.lock().unwrap().is_empty());
    assert_eq!(JobStats::get(&stats.rejected), 0);
    assert!(engine.stop_and_join(Duration::from_secs(5)));
}

#[test]
fn a_lone_odd_row_waits_until_other_rows_prove_the_target_takes_writes() {
    let queue = queue_of(&["odd"]);
    let target = Arc::new(Target::default());
    let engine = run_engine(queue.clone(), target.clone());
    let stats = engine.jobs()[0].stats.clone();
    wait_for("probing passes", || {
        JobStats::get(&stats.retries_total) > u64::from(PROBE_AFTER)
    });
    assert!(queue.dead.lock().unwrap().is_empty());
    assert_eq!(queue.entries.lock().unwrap().len(), 1);

    // A later change is written with it: the odd row is then refused alone.
    queue.entries.lock().unwrap().push(upsert(2, "2", "b"));
    wait_for("the queue to drain", || {
        queue.entries.lock().unwrap().is_empty()
    });
    assert_eq!(written(&target), ["2"]);
    assert_eq!(queue.dead.lock().unwrap().len(), 1);
    assert!(engine.stop_and_join(Duration::from_secs(5)));
}

#[test]
fn a_table_failing_every_write_sends_nothing_to_the_dlq_though_another_table_takes_writes() {
    let queue = queue_of(&["a", "b", "c", "d"]);
    let target = Arc::new(Target::default());
    *target.unknown_table.lock().unwrap() = Some("emp2".into());
    let mut d = deployment();
    let mut second = d.jobs[0].outputs[0].clone();
    if let Output::Relational(o) = &mut second {
        o.table = "emp2".into();
    }
    d.jobs[0].outputs.push(second);
    let engine = run_engine_with(queue.clone(), target.clone(), d);
    let stats = engine.jobs()[0].stats.clone();
    wait_for("probing passes", || {
        JobStats::get(&stats.retries_total) > u64::from(PROBE_AFTER) + 1
    });
    assert!(queue.dead.lock().unwrap().is_empty());
    assert_eq!(queue.entries.lock().unwrap().len(), 4);

    *target.unknown_table.lock().unwrap() = None;
    wait_for("the queue to drain", || {
        queue.entries.lock().unwrap().is_empty()
    });
    assert!(queue.dead.lock().unwrap().is_empty());
    assert!(engine.stop_and_join(Duration::from_secs(5)));
}

#[test]
fn with_exactly_once_a_row_failing_alone_is_retried_not_probed() {
    let queue = queue_of(&["a", "odd", "c"]);
    let target = Arc::new(Target::default());
    let mut d = deployment();
    d.applier.exactly_once = true;
    let engine = run_engine_with(queue.clone(), target.clone(), d);
    let stats = engine.jobs()[0].stats.clone();
    wait_for("passes past the probe's threshold", || {
        JobStats::get(&stats.retries_total) > u64::from(PROBE_AFTER) + 1
    });
    assert!(queue.dead.lock().unwrap().is_empty());
    assert_eq!(queue.entries.lock().unwrap().len(), 3);
    assert!(engine.stop_and_join(Duration::from_secs(5)));
}

#[test]
fn only_unrecognised_failures_in_a_row_count_towards_the_probe() {
    let queue = queue_of(&["a", "odd", "c"]);
    let target = Arc::new(Target::default());
    // Three outage passes first: the probe still waits for three passes of the row's own error.
    target.transient.store(3, Ordering::SeqCst);
    let engine = run_engine(queue.clone(), target.clone());
    let stats = engine.jobs()[0].stats.clone();
    wait_for("the queue to drain", || {
        queue.entries.lock().unwrap().is_empty()
    });
    assert!(JobStats::get(&stats.retries_total) >= 3 + u64::from(PROBE_AFTER));
    assert_eq!(queue.dead.lock().unwrap().len(), 1);
    assert_eq!(written(&target), ["1", "3"]);
    assert!(engine.stop_and_join(Duration::from_secs(5)));
}
