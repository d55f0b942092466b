//! Writer-thread tests with an in-memory queue and a fault-injecting writer.
//! Test-only: its `mod` line carries #[cfg(test)].
use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;

use serde_json::json;

use super::*;
use crate::applier::change::{Change, EntryId, KeyValue};
use crate::applier::engine::Engine;
use crate::applier::queue::Queue;
use crate::config::{
    Applier, ColumnMapping, Connection, Deployment, Job, Output, RelationalOutput, RowFormat,
};
use crate::writer::{RowChange, RowOp, TableTarget, WriteError, WriteOutcome, Writer};

#[derive(Default)]
struct MemQueue {
    entries: Mutex<Vec<Change>>,
    dead: Mutex<Vec<DeadLetter>>,
    /// Acknowledgements to fail, as a crash between commit and acknowledgement would.
    fail_acks: AtomicUsize,
}

impl Queue for MemQueue {
    fn can_write(&self) -> bool {
        true
    }
    fn read(&self, _job: &str, after: Option<EntryId>, max: usize) -> Result<Vec<Change>, String> {
        Ok(self
            .entries
            .lock()
            .unwrap()
            .iter()
            .filter(|c| after.is_none_or(|a| c.id > a))
            .take(max)
            .cloned()
            .collect())
    }
    fn ack(
        &self,
        _job: &str,
        upto: EntryId,
        dead: &[DeadLetter],
        _cap: usize,
    ) -> Result<(), String> {
        if self.fail_acks.load(Ordering::SeqCst) > 0 {
            self.fail_acks.fetch_sub(1, Ordering::SeqCst);
            return Err("connection to the server lost".into());
        }
        self.entries.lock().unwrap().retain(|c| c.id > upto);
        self.dead.lock().unwrap().extend_from_slice(dead);
        Ok(())
    }
}

/// Fails the first `transient` writes, refuses any batch holding the name "bad".
#[derive(Default)]
struct Target {
    rows: Mutex<Vec<(RowOp, Vec<serde_json::Value>)>>,
    transient: AtomicUsize,
    attempts: AtomicUsize,
    /// The checkpoint table: position by stream name.
    checkpoint: Mutex<HashMap<String, String>>,
    /// `write_many` writes every batch before answering, like a pipelining writer.
    pipelined: std::sync::atomic::AtomicBool,
    /// The tables checked, in order.
    checked: Mutex<Vec<String>>,
    /// Writers opened.
    connects: AtomicUsize,
    /// The write attempt (counting from 1) that fails as a lost connection would; 0 for none.
    fail_attempt: AtomicUsize,
    /// The first write waits while this is set, as on a target that hangs.
    hold: std::sync::atomic::AtomicBool,
    /// Every write fails with an error the writer does not recognise while this is set.
    unknown: std::sync::atomic::AtomicBool,
    /// Every write touching this table fails so (a full or unavailable table).
    unknown_table: Mutex<Option<String>>,
    /// The write attempt (counting from 1) that panics, as a driver's bug would; 0 for none.
    panic_attempt: AtomicUsize,
}

struct FakeWriter(Arc<Target>);

impl Writer for FakeWriter {
    fn check(&mut self, t: &TableTarget) -> Result<(), WriteError> {
        self.0.checked.lock().unwrap().push(t.table.clone());
        Ok(())
    }
    fn write(&mut self, rows: &[RowChange]) -> Result<WriteOutcome, WriteError> {
        let attempt = self.0.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        while attempt == 1 && self.0.hold.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
        if attempt == self.0.panic_attempt.load(Ordering::SeqCst) {
            panic!("a driver's bug");
        }
        if attempt == self.0.fail_attempt.load(Ordering::SeqCst) {
            return Err(WriteError::Transient("connection lost".into()));
        }
        if self.0.transient.load(Ordering::SeqCst) > 0 {
            self.0.transient.fetch_sub(1, Ordering::SeqCst);
            return Err(WriteError::Transient("connection refused".into()));
        }
        if rows.iter().any(|r| r.values.get(1) == Some(&json!("bad"))) {
            return Err(WriteError::Batch("check constraint violated".into()));
        }
        // A row the target fails with a code of its own (a trigger's), or a target failing every
        // write so.
        let table = self.0.unknown_table.lock().unwrap().clone();
        if self.0.unknown.load(Ordering::SeqCst)
            || rows.iter().any(|r| r.values.get(1) == Some(&json!("odd")))
            || rows.iter().any(|r| Some(&r.target.table) == table.as_ref())
        {
            return Err(WriteError::Unknown("error 9999".into()));
        }
        let mut out = self.0.rows.lock().unwrap();
        out.extend(rows.iter().map(|r| (r.op, r.values.clone())));
        Ok(WriteOutcome::default())
    }
    fn write_many(&mut self, batches: &[&[RowChange]]) -> Vec<Result<WriteOutcome, WriteError>> {
        if !self.0.pipelined.load(Ordering::SeqCst) {
            return crate::writer::write_each(self, batches);
        }
        let mut results: Vec<_> = batches.iter().map(|rows| self.write(rows)).collect();
        if let Some(failed) = results.iter().position(Result::is_err) {
            results.truncate(failed + 1);
        }
        results
    }
    fn supports_checkpoints(&self) -> bool {
        true
    }
    fn read_checkpoint(&mut self, _t: &str, stream: &str) -> Result<Option<String>, WriteError> {
        Ok(self.0.checkpoint.lock().unwrap().get(stream).cloned())
    }
    fn write_checkpointed(
        &mut self,
        rows: &[RowChange],
        cp: &crate::writer::Checkpoint,
    ) -> Result<WriteOutcome, WriteError> {
        // One "transaction": the rows and the position together.
        let out = self.write(rows)?;
        self.0
            .checkpoint
            .lock()
            .unwrap()
            .insert(cp.stream.clone(), cp.position.clone());
        Ok(out)
    }
}

fn deployment() -> Deployment {
    let col = |c: &str| ColumnMapping::field(c, c);
    Deployment {
        connections: [(
            "t".to_string(),
            Connection::Sqlite {
                path: ":memory:".into(),
            },
        )]
        .into(),
        applier: Applier {
            on_failed_retry_interval_s: 1,
            write_batch_size: 4,
            ..Applier::default()
        },
        jobs: vec![Job {
            name: "emp".into(),
            key_pattern: "emp:*".into(),
            exclude_commands: vec![],
            row_format: RowFormat::DataOnly,
            propagate_expired: false,
            transforms: vec![],
            outputs: vec![Output::Relational(RelationalOutput {
                connection: "t".into(),
                schema: None,
                table: "emp".into(),
                keys: vec![col("id")],
                mapping: vec![col("name")],
                foreach: None,
                opcode_field: None,
                load_strategy: crate::config::LoadStrategy::Upsert,
            })],
        }],
        hidden: Default::default(),
    }
}

fn upsert(seq: u64, id: &str, name: &str) -> Change {
    let mut m = serde_json::Map::new();
    m.insert("id".into(), json!(id));
    m.insert("name".into(), json!(name));
    Change {
        id: EntryId { ms: 1, seq },
        key: format!("emp:{id}"),
        opcode: Opcode::Create,
        value: KeyValue::Record(m),
    }
}

fn run_engine(queue: Arc<MemQueue>, target: Arc<Target>) -> Engine {
    run_engine_with(queue, target, deployment())
}

fn run_engine_with(queue: Arc<MemQueue>, target: Arc<Target>, d: Deployment) -> Engine {
    let t = target.clone();
    Engine::start(
        d,
        queue,
        Arc::new(move |_c: &Connection| {
            t.connects.fetch_add(1, Ordering::SeqCst);
            Ok(Box::new(FakeWriter(t.clone())) as Box<dyn Writer>)
        }),
        &|_| None,
        &|_| None,
    )
}

fn wait_for(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn transient_failures_are_retried_until_the_target_recovers() {
    let queue = Arc::new(MemQueue::default());
    queue
        .entries
        .lock()
        .unwrap()
        .extend([upsert(1, "1", "a"), upsert(2, "2", "b")]);
    let target = Arc::new(Target::default());
    target.transient.store(3, Ordering::SeqCst);
    let engine = run_engine(queue.clone(), target.clone());
    wait_for("the queue to drain", || {
        queue.entries.lock().unwrap().is_empty()
    });
    assert_eq!(target.rows.lock().unwrap().len(), 2);
    assert!(target.attempts.load(Ordering::SeqCst) >= 4);
    let stats = &engine.jobs()[0].stats;
    assert_eq!(JobStats::get(&stats.inserted), 2);
    assert!(JobStats::get(&stats.retries_total) >= 3);
    assert!(stats
        .last_error()
        .unwrap()
        .message
        .contains("connection refused"));
    assert!(engine.stop_and_join(Duration::from_secs(5)));
}

#[test]
fn writers_connect_and_check_their_tables_when_they_start_before_any_change() {
    let queue = Arc::new(MemQueue::default());
    let target = Arc::new(Target::default());
    let engine = run_engine(queue.clone(), target.clone());
    wait_for("the table to be checked", || {
        !target.checked.lock().unwrap().is_empty()
    });
    assert_eq!(*target.checked.lock().unwrap(), ["emp"]);
    assert_eq!(target.attempts.load(Ordering::SeqCst), 0);
    assert_eq!(target.connects.load(Ordering::SeqCst), 1);
    wait_for("the connection to show healthy", || {
        engine.connection_stats()["t"].health().as_str() == "ok"
    });

    // The first change is written through the connection the warm-up opened.
    queue.entries.lock().unwrap().push(upsert(1, "1", "a"));
    engine.wake_all();
    wait_for("the queue to drain", || {
        queue.entries.lock().unwrap().is_empty()
    });
    assert_eq!(target.rows.lock().unwrap().len(), 1);
    assert_eq!(target.connects.load(Ordering::SeqCst), 1);
    assert!(engine.stop_and_join(Duration::from_secs(5)));
}

#[test]
fn a_target_down_when_the_writers_start_is_tried_once_for_all_its_tables() {
    let mut d = deployment();
    let second = d.jobs[0].outputs[0].clone();
    d.jobs[0].outputs.push(second);
    let tries = Arc::new(AtomicUsize::new(0));
    let t = tries.clone();
    let engine = Engine::start(
        d,
        Arc::new(MemQueue::default()),
        Arc::new(move |_c: &Connection| {
            t.fetch_add(1, Ordering::SeqCst);
            Err(WriteError::Transient("connection refused".into()))
        }),
        &|_| None,
        &|_| None,
    );
    wait_for("the connection to show the error", || {
        engine.connection_stats()["t"].health().as_str() == "error"
    });
    // The warm-up goes on to the second table; nothing is queued, so nothing else connects.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(tries.load(Ordering::SeqCst), 1);
    assert!(engine.connection_stats()["t"]
        .last_error()
        .unwrap()
        .message
        .contains("connection refused"));
    assert!(engine.stop_and_join(Duration::from_secs(5)));
}

#[test]
fn a_refused_record_is_isolated_and_the_rest_is_written() {
    let queue = Arc::new(MemQueue::default());
    queue.entries.lock().unwrap().extend([
        upsert(1, "1", "a"),
        upsert(2, "2", "b"),
        upsert(3, "3", "bad"),
        upsert(4, "4", "d"),
        upsert(5, "5", "e"),
    ]);
    let target = Arc::new(Target::default());
    let engine = run_engine(queue.clone(), target.clone());
    wait_for("the queue to drain", || {
        queue.entries.lock().unwrap().is_empty()
    });
    let written: Vec<_> = target
        .rows
        .lock()
        .unwrap()
        .iter()
        .map(|(_, v)| v[0].clone())
        .collect();
    assert_eq!(
        written,
        vec![json!("1"), json!("2"), json!("4"), json!("5")]
    );
    let dead = queue.dead.lock().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].key, "emp:3");
    assert_eq!(dead[0].output, "emp");
    assert!(dead[0].reason.contains("check constraint"));
    assert_eq!(JobStats::get(&engine.jobs()[0].stats.rejected), 1);
    assert_eq!(JobStats::get(&engine.jobs()[0].stats.inserted), 4);
    assert!(engine.stop_and_join(Duration::from_secs(5)));
}

#[test]
fn chunks_after_a_refused_one_are_written_again_after_it_when_pipelined() {
    let queue = Arc::new(MemQueue::default());
    queue
        .entries
        .lock()
        .unwrap()
        .extend((1..=12).map(|i| upsert(i, &i.to_string(), if i == 6 { "bad" } else { "ok" })));
    let target = Arc::new(Target::default());
    target.pipelined.store(true, Ordering::SeqCst);
    let engine = run_engine(queue.clone(), target.clone());
    wait_for("the queue to drain", || {
        queue.entries.lock().unwrap().is_empty()
    });
    let written: Vec<String> = target
        .rows
        .lock()
        .unwrap()
        .iter()
        .map(|(_, v)| v[0].as_str().unwrap_or_default().to_string())
        .collect();
    // Chunks of 4: the third was written in the pipeline while the second failed; the second is split
    // (6 isolated), then the third is written again, so that it lands after the second.
    let expected: Vec<String> = [1, 2, 3, 4, 9, 10, 11, 12, 5, 7, 8, 9, 10, 11, 12]
        .iter()
        .map(|i| i.to_string())
        .collect();
    assert_eq!(written, expected);
    let dead = queue.dead.lock().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].key, "emp:6");
    assert!(engine.stop_and_join(Duration::from_secs(5)));
}

/// A queue per job.
#[derive(Default)]
struct JobQueues(Mutex<std::collections::HashMap<String, Vec<Change>>>);

impl Queue for JobQueues {
    fn can_write(&self) -> bool {
        true
    }
    fn read(&self, job: &str, after: Option<EntryId>, max: usize) -> Result<Vec<Change>, String> {
        let q = self.0.lock().unwrap();
        Ok(q.get(job)
            .map(|v| {
                v.iter()
                    .filter(|c| after.is_none_or(|a| c.id > a))
                    .take(max)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }
    fn ack(&self, job: &str, upto: EntryId, _d: &[DeadLetter], _c: usize) -> Result<(), String> {
        if let Some(v) = self.0.lock().unwrap().get_mut(job) {
            v.retain(|c| c.id > upto);
        }
        Ok(())
    }
}

#[test]
fn each_jobs_changes_are_applied_in_queue_order_with_several_writer_threads() {
    let mut d = deployment();
    d.applier.writer_threads = 2;
    d.applier.read_batch_size = 7;
    let template = d.jobs[0].clone();
    d.jobs = (0..4)
        .map(|j| Job {
            name: format!("job{j}"),
            ..template.clone()
        })
        .collect();
    let queues = Arc::new(JobQueues::default());
    for j in 0..4 {
        let changes: Vec<Change> = (1..=60)
            .map(|i| upsert(i, &format!("{j}-{i}"), &format!("job{j}")))
            .collect();
        queues.0.lock().unwrap().insert(format!("job{j}"), changes);
    }
    let target = Arc::new(Target::default());
    let t = target.clone();
    let engine = Engine::start(
        d,
        queues.clone(),
        Arc::new(move |_c: &Connection| {
            t.connects.fetch_add(1, Ordering::SeqCst);
            Ok(Box::new(FakeWriter(t.clone())) as Box<dyn Writer>)
        }),
        &|_| None,
        &|_| None,
    );
    assert_eq!(engine.thread_count(), 2);
    wait_for("every queue to drain", || {
        queues.0.lock().unwrap().values().all(|v| v.is_empty())
    });
    assert!(engine.stop_and_join(Duration::from_secs(5)));
    let rows = target.rows.lock().unwrap();
    assert_eq!(rows.len(), 240);
    for j in 0..4 {
        let seq: Vec<u64> = rows
            .iter()
            .filter(|(_, v)| v[1] == json!(format!("job{j}")))
            .map(|(_, v)| {
                let id = v[0].as_str().unwrap();
                id.split('-').nth(1).unwrap().parse().unwrap()
            })
            .collect();
        assert_eq!(seq, (1..=60).collect::<Vec<u64>>(), "job{j} out of order");
    }
}

#[test]
fn batches_read_ahead_are_written_in_order_and_read_again_after_a_failure() {
    // Full batches of 3: each write overlaps the read of the next batch; two writes fail on the way,
    // and one acknowledgement, so batches read ahead are dropped and read again from the queue.
    let queue = Arc::new(MemQueue::default());
    queue
        .entries
        .lock()
        .unwrap()
        .extend((1..=30).map(|i| upsert(i, &i.to_string(), &format!("n{i}"))));
    queue.fail_acks.store(1, Ordering::SeqCst);
    let target = Arc::new(Target::default());
    target.transient.store(2, Ordering::SeqCst);
    let mut d = deployment();
    d.applier.read_batch_size = 3;
    d.applier.write_batch_size = 3;
    let engine = run_engine_with(queue.clone(), target.clone(), d);
    wait_for("the queue to drain", || {
        queue.entries.lock().unwrap().is_empty()
    });
    assert!(engine.stop_and_join(Duration::from_secs(5)));
    let written: Vec<u64> = target
        .rows
        .lock()
        .unwrap()
        .iter()
        .map(|(_, v)| v[0].as_str().unwrap().parse().unwrap())
        .collect();
    // At-least-once: the batch whose acknowledgement failed is written twice, in place; otherwise
    // every change once, in queue order.
    let mut once = written.clone();
    once.dedup_by(|a, b| a <= b);
    assert_eq!(once, (1..=30).collect::<Vec<u64>>(), "{written:?}");
    assert!(written.len() <= 33, "{written:?}");
}

#[test]
fn a_new_engine_waits_for_the_old_ones_busy_writer_so_an_older_value_never_lands_last() {
    let queue = Arc::new(MemQueue::default());
    queue.entries.lock().unwrap().push(upsert(1, "1", "old"));
    let target = Arc::new(Target::default());
    target.hold.store(true, Ordering::SeqCst);
    let old = Arc::new(run_engine(queue.clone(), target.clone()));
    wait_for("the old writer to be inside its write", || {
        target.connects.load(Ordering::SeqCst) > 0 && queue.entries.lock().unwrap().len() == 1
    });
    std::thread::sleep(Duration::from_millis(50));
    // The key changes meanwhile; a redeploy (or a restore) asks the old writer to stop.
    queue.entries.lock().unwrap().push(upsert(2, "1", "new"));
    old.signal_stop();
    let connector = |t: Arc<Target>| -> Arc<crate::applier::Connector> {
        Arc::new(move |_c: &Connection| Ok(Box::new(FakeWriter(t.clone())) as Box<dyn Writer>))
    };
    // A second hand-over before the first ended (two restores in a row): the third engine waits for
    // the first too, through the second.
    let middle = Arc::new(Engine::start_after(
        Some(old.clone()),
        deployment(),
        queue.clone(),
        connector(target.clone()),
        &|_| None,
        &|_| None,
    ));
    middle.signal_stop();
    std::thread::sleep(Duration::from_millis(50));
    let t = target.clone();
    let new = Engine::start_after(
        Some(middle.clone()),
        deployment(),
        queue.clone(),
        Arc::new(move |_c: &Connection| Ok(Box::new(FakeWriter(t.clone())) as Box<dyn Writer>)),
        &|_| None,
        &|_| None,
    );
    std::thread::sleep(Duration::from_millis(100));
    target.hold.store(false, Ordering::SeqCst);
    wait_for("the queue to drain", || {
        queue.entries.lock().unwrap().is_empty()
    });
    assert!(new.stop_and_join(Duration::from_secs(5)));
    let rows = target.rows.lock().unwrap();
    let last = rows.iter().rev().find(|(_, v)| v[0] == json!("1")).unwrap();
    assert_eq!(last.1[1], json!("new"), "written in this order: {rows:?}");
}

mod exactly_once;
mod panics;
mod probe;
mod slow_connect;
