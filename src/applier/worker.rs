//! A writer thread: takes batches from its jobs' queues, writes them, acknowledges what committed.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::batch::prepare;
use super::engine::{JobRuntime, Shared};
use super::queue::DeadLetter;
use super::retry::Backoff;
use super::stats::JobStats;
use crate::applier::change::Opcode;
use crate::config::ErrorHandling;
use crate::writer::{RowChange, WriteError, Writer};

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
        if !shared.queue.can_write() {
            // Paused, loading or a replica: leave the wake-up hint unread, so that capture finds the
            // channel full and pays nothing per command; look again after `duration`.
            std::thread::sleep(idle_wait);
            continue;
        }
        {
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

/// The rows of one connection: its name, the (change, output) each row came from, the rows.
type Group<'a> = (&'a str, Vec<(usize, usize)>, Vec<RowChange>);

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
    let mut prep = prepare(&changes, &job.outputs);

    // Rows of one connection go together, in queue order, so that outputs sharing a target commit together.
    // They are moved out of the plan (the writers take slices of them, never copies), with the change and
    // output each came from alongside.
    let row_count = prep.rows.len();
    let mut groups: Vec<Group> = Vec::new();
    for r in std::mem::take(&mut prep.rows) {
        let conn = job.outputs[r.output].connection.as_str();
        let i = match groups.iter().position(|(c, _, _)| *c == conn) {
            Some(i) => i,
            None => {
                groups.push((conn, Vec::new(), Vec::new()));
                groups.len() - 1
            }
        };
        groups[i].1.push((r.change, r.output));
        groups[i].2.push(r.row);
    }
    let mut refused: Vec<(usize, usize, String)> = Vec::new();
    let started = Instant::now();
    let size = applier.write_batch_size.max(1);
    for (conn, origins, rows) in &groups {
        for (k, chunk) in rows.chunks(size).enumerate() {
            match write_chunk(shared, conn, chunk, writers) {
                Ok(rejected) => refused.extend(rejected.into_iter().filter_map(|(i, why)| {
                    let (change, output) = origins.get(k * size + i)?;
                    Some((*change, *output, why))
                })),
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
    s.batch_rows.observe(row_count as u64);
    s.write_ms.observe(started.elapsed().as_millis() as u64);
    let now = super::stats::now_ms();
    for c in &changes {
        s.latency_ms.observe(now.saturating_sub(c.id.ms));
    }
    Pass::Wrote
}

/// Writes one chunk through the connection's writer (connecting if needed). A batch refused for its
/// content is split in halves until the refused rows are isolated; the others are written.
fn write_chunk(
    shared: &Shared,
    conn: &str,
    rows: &[RowChange],
    writers: &mut HashMap<String, Box<dyn Writer>>,
) -> Result<Vec<(usize, String)>, WriteError> {
    if !writers.contains_key(conn) {
        let Some(connection) = shared.deployment.connections.get(conn) else {
            return Err(WriteError::Schema(format!(
                "connection `{conn}` is not defined"
            )));
        };
        let w = (shared.connector)(connection)?;
        writers.insert(conn.to_string(), w);
    }
    let Some(writer) = writers.get_mut(conn) else {
        return Err(WriteError::Transient("writer vanished".into()));
    };
    let result = write_split(writer.as_mut(), rows, 0);
    if result.is_err() {
        // Reconnect on the next attempt: the session may be broken.
        writers.remove(conn);
    }
    result
}

fn write_split(
    writer: &mut dyn Writer,
    rows: &[RowChange],
    offset: usize,
) -> Result<Vec<(usize, String)>, WriteError> {
    match writer.write(rows) {
        Ok(outcome) => Ok(outcome
            .rejected
            .into_iter()
            .map(|(i, r)| (i + offset, r))
            .collect()),
        Err(WriteError::Batch(reason)) if rows.len() == 1 => Ok(vec![(offset, reason)]),
        Err(WriteError::Batch(_)) => {
            let mid = rows.len() / 2;
            let mut left = write_split(writer, &rows[..mid], offset)?;
            left.extend(write_split(writer, &rows[mid..], offset + mid)?);
            Ok(left)
        }
        Err(e) => Err(e),
    }
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
    use crate::writer::{RowChange, RowOp, TableTarget, WriteOutcome};

    #[derive(Default)]
    struct MemQueue {
        entries: Mutex<Vec<Change>>,
        dead: Mutex<Vec<DeadLetter>>,
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
    }

    fn deployment() -> Deployment {
        let col = |c: &str| ColumnMapping {
            column: c.into(),
            field: c.into(),
        };
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
                outputs: vec![Output::Relational(RelationalOutput {
                    connection: "t".into(),
                    schema: None,
                    table: "emp".into(),
                    keys: vec![col("id")],
                    mapping: vec![col("name")],
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
        let t = target.clone();
        Engine::start(
            deployment(),
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
}
