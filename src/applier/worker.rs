//! A writer thread: takes batches from its jobs' queues, writes them, acknowledges what committed.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::batch::{prepare, PlannedRow};
use super::engine::{JobRuntime, Shared};
use super::queue::DeadLetter;
use super::retry::Backoff;
use super::stats::JobStats;
use super::trace;
use super::trace_batch::traced;
use super::write::{write_chunk, writer_for, Stamp};
use crate::applier::change::EntryId;
use crate::applier::change::Opcode;
use crate::config::ErrorHandling;
use crate::writer::Writer;

/// What one pass over a job did.
enum Pass {
    /// Nothing was queued.
    Idle,
    /// A batch was written and acknowledged.
    Wrote,
    /// A transient failure: try again after a back-off.
    Failed,
}

struct JobSlot {
    job: Arc<JobRuntime>,
    backoff: Backoff,
    retry_at: Option<Instant>,
}

/// Runs until the engine stops. `jobs` are applied one at a time each, in queue order.
pub(crate) fn run(shared: Arc<Shared>, jobs: Vec<Arc<JobRuntime>>, wake: Receiver<()>) {
    let cap = Duration::from_secs(shared.deployment.applier.on_failed_retry_interval_s);
    let idle_wait = Duration::from_millis(shared.deployment.applier.duration_ms.max(1));
    let mut slots: Vec<JobSlot> = jobs
        .into_iter()
        .map(|job| JobSlot {
            job,
            backoff: Backoff::new(cap),
            retry_at: None,
        })
        .collect();
    let mut writers: HashMap<String, Box<dyn Writer>> = HashMap::new();
    while !shared.stop.load(Ordering::Acquire) {
        let mut busy = false;
        if shared.queue.can_write() {
            for slot in &mut slots {
                if shared.stop.load(Ordering::Acquire) {
                    return;
                }
                if slot.retry_at.is_some_and(|t| Instant::now() < t) {
                    continue;
                }
                match apply_once(&shared, &slot.job, &mut writers) {
                    Pass::Idle => {}
                    Pass::Wrote => {
                        busy = true;
                        slot.backoff.reset();
                        slot.retry_at = None;
                        slot.job.stats.retry_attempts.store(0, Ordering::Relaxed);
                    }
                    Pass::Failed => {
                        let delay = slot.backoff.next_delay();
                        slot.retry_at = Some(Instant::now() + delay);
                        JobStats::add(&slot.job.stats.retry_attempts, 1);
                        JobStats::add(&slot.job.stats.retries_total, 1);
                    }
                }
            }
        }
        if busy {
            continue;
        }
        let now = Instant::now();
        let wait = slots
            .iter()
            .filter_map(|s| s.retry_at)
            .map(|t| t.saturating_duration_since(now))
            .min()
            .map_or(idle_wait, |d| d.min(idle_wait));
        match wake.recv_timeout(wait) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Reads one batch of a job, writes it to every output, acknowledges it.
fn apply_once(
    shared: &Shared,
    job: &JobRuntime,
    writers: &mut HashMap<String, Box<dyn Writer>>,
) -> Pass {
    let applier = &shared.deployment.applier;
    let changes = match shared.queue.read(&job.job.name, applier.read_batch_size) {
        Ok(c) => c,
        Err(e) => {
            job.stats.set_error(format!("reading the queue: {e}"));
            return Pass::Failed;
        }
    };
    let Some(last) = changes.last().map(|c| c.id) else {
        return Pass::Idle;
    };
    let mut prep = prepare(&changes, &job.job, &job.outputs);

    // Rows of one connection go together, in queue order, so that outputs sharing a target commit together.
    let mut groups: Vec<(&str, Vec<&PlannedRow>)> = Vec::new();
    for r in &prep.rows {
        let conn = job.outputs[r.output].connection.as_str();
        match groups.iter_mut().find(|(c, _)| *c == conn) {
            Some((_, rows)) => rows.push(r),
            None => groups.push((conn, vec![r])),
        }
    }
    let mut refused: Vec<(usize, usize, String)> = Vec::new();
    let started = Instant::now();
    let ids: Vec<EntryId> = changes.iter().map(|c| c.id).collect();
    for (conn, rows) in &groups {
        let mut rows: Vec<&PlannedRow> = rows.clone();
        let stamp = applier.exactly_once.then(|| Stamp {
            table: &applier.checkpoint_table,
            stream: &job.job.name,
            ids: &ids,
        });
        if let Some(stamp) = &stamp {
            // Rows at or below the target's checkpoint were committed before a crash: skip them.
            let read = writer_for(shared, conn, writers)
                .and_then(|w| w.read_checkpoint(stamp.table, stamp.stream));
            match read {
                Ok(Some(pos)) => {
                    if let Some(cp) = EntryId::parse(&pos) {
                        rows.retain(|r| ids[r.change] > cp);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    writers.remove(*conn);
                    if let Some(cs) = shared.conn_stats.get(*conn) {
                        cs.failed(e.to_string());
                    }
                    job.stats
                        .set_error(format!("{conn}: reading the checkpoint: {e}"));
                    return Pass::Failed;
                }
            }
        }
        for chunk in rows.chunks(applier.write_batch_size.max(1)) {
            match write_chunk(shared, conn, chunk, writers, stamp.as_ref()) {
                Ok(rejected) => refused.extend(
                    rejected
                        .into_iter()
                        .map(|(i, why)| (chunk[i].change, chunk[i].output, why)),
                ),
                Err(e) => {
                    let msg = format!("{conn}: {e}");
                    if let Some(cs) = shared.conn_stats.get(*conn) {
                        cs.failed(e.to_string());
                    }
                    job.stats.set_error(msg);
                    return Pass::Failed;
                }
            }
        }
        if let Some(cs) = shared.conn_stats.get(*conn) {
            cs.ok();
        }
    }
    for (change, output, reason) in refused {
        prep.rejected[change] = true;
        let c = &changes[change];
        prep.dead.push(DeadLetter {
            key: c.key.clone(),
            opcode: c.opcode,
            reason,
            output: job.outputs[output].target.display_name(),
        });
    }
    let dead: &[DeadLetter] = match applier.error_handling {
        ErrorHandling::Dlq => &prep.dead,
        ErrorHandling::Ignore => &[],
    };
    if shared.abort_before_ack && !prep.rows.is_empty() {
        // Fault injection for the exactly-once tests: the batch is committed, the queue not trimmed.
        std::process::abort();
    }
    if let Err(e) = shared
        .queue
        .ack(&job.job.name, last, dead, applier.dlq_max_messages)
    {
        job.stats.set_error(format!("acknowledging the queue: {e}"));
        return Pass::Failed;
    }
    if let Some(d) = prep.dead.first() {
        job.stats
            .set_error(format!("record {} rejected: {}", d.key, d.reason));
    }
    let s = &job.stats;
    for (i, c) in changes.iter().enumerate() {
        let counter = if prep.rejected[i] {
            &s.rejected
        } else if prep.filtered[i] {
            &s.filtered
        } else {
            match c.opcode {
                Opcode::Create | Opcode::Refresh => &s.inserted,
                Opcode::Update => &s.updated,
                Opcode::Delete => &s.deleted,
            }
        };
        JobStats::add(counter, 1);
    }
    JobStats::add(
        &s.coalesced,
        prep.coalesced.iter().filter(|c| **c).count() as u64,
    );
    JobStats::add(&s.batches, 1);
    s.batch_rows.observe(prep.rows.len() as u64);
    s.write_ms.observe(started.elapsed().as_millis() as u64);
    let now = super::stats::now_ms();
    for c in &changes {
        s.latency_ms.observe(now.saturating_sub(c.id.ms));
    }
    if trace::active() {
        trace::publish(&traced(job, &changes, &prep, writers, started.elapsed()));
    }
    Pass::Wrote
}

#[cfg(test)]
mod tests {
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
    use crate::writer::{RowChange, RowOp, TableTarget, WriteError, WriteOutcome};

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
        fn read(&self, _job: &str, max: usize) -> Result<Vec<Change>, String> {
            Ok(self
                .entries
                .lock()
                .unwrap()
                .iter()
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
        checkpoint: Mutex<Option<String>>,
    }

    struct FakeWriter(Arc<Target>);

    impl Writer for FakeWriter {
        fn check(&mut self, _t: &TableTarget) -> Result<(), WriteError> {
            Ok(())
        }
        fn write(&mut self, rows: &[RowChange]) -> Result<WriteOutcome, WriteError> {
            self.0.attempts.fetch_add(1, Ordering::SeqCst);
            if self.0.transient.load(Ordering::SeqCst) > 0 {
                self.0.transient.fetch_sub(1, Ordering::SeqCst);
                return Err(WriteError::Transient("connection refused".into()));
            }
            if rows.iter().any(|r| r.values.get(1) == Some(&json!("bad"))) {
                return Err(WriteError::Batch("check constraint violated".into()));
            }
            let mut out = self.0.rows.lock().unwrap();
            out.extend(rows.iter().map(|r| (r.op, r.values.clone())));
            Ok(WriteOutcome::default())
        }
        fn supports_checkpoints(&self) -> bool {
            true
        }
        fn read_checkpoint(&mut self, _t: &str, _s: &str) -> Result<Option<String>, WriteError> {
            Ok(self.0.checkpoint.lock().unwrap().clone())
        }
        fn write_checkpointed(
            &mut self,
            rows: &[RowChange],
            cp: &crate::writer::Checkpoint,
        ) -> Result<WriteOutcome, WriteError> {
            // One "transaction": the rows and the position together.
            let out = self.write(rows)?;
            *self.0.checkpoint.lock().unwrap() = Some(cp.position.clone());
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
            Arc::new(move |_c: &Connection| Ok(Box::new(FakeWriter(t.clone())) as Box<dyn Writer>)),
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
    fn without_exactly_once_a_replayed_batch_is_written_again() {
        // At-least-once: harmless for upserts, duplicates for an APPEND table.
        assert_eq!(replay_after_a_lost_acknowledgement(false), 6);
    }
}
