//! A panic in a writer (a driver's bug) fails that pass only: the batch is written on a new
//! connection after a back-off, and the job shows why it waited.

use super::*;

#[test]
fn a_writer_that_panics_is_replaced_and_the_batch_written() {
    let queue = Arc::new(MemQueue::default());
    queue
        .entries
        .lock()
        .unwrap()
        .extend([upsert(1, "1", "a"), upsert(2, "2", "b")]);
    let target = Arc::new(Target::default());
    target.panic_attempt.store(1, Ordering::SeqCst);
    let engine = run_engine(queue.clone(), target.clone());
    wait_for("the queue to drain", || {
        queue.entries.lock().unwrap().is_empty()
    });
    assert_eq!(target.rows.lock().unwrap().len(), 2);
    assert!(target.attempts.load(Ordering::SeqCst) >= 2);
    // The connection the panic left behind is not used again.
    assert!(target.connects.load(Ordering::SeqCst) >= 2);
    let stats = &engine.jobs()[0].stats;
    assert_eq!(JobStats::get(&stats.inserted), 2);
    assert!(JobStats::get(&stats.retries_total) >= 1);
    let error = stats.last_error().unwrap().message;
    assert_eq!(error, crate::applier::worker::PANICKED);
    assert!(
        !error.contains("driver's bug"),
        "the panic's text stays out: {error}"
    );
    assert!(engine.stop_and_join(Duration::from_secs(5)));
}
