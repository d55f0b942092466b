//! A writer thread: takes batches from its jobs' queues, writes them, acknowledges what committed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::batch::{prepare, PlannedRow, Prepared};
use super::engine::{JobRuntime, Shared};
use super::probe::Probe;
use super::queue::DeadLetter;
use super::retry::Backoff;
use super::stats::JobStats;
use super::trace;
use super::trace_batch::traced;
use super::write::{write_chunks, Origin, Stamp};
use super::writers::Writers;
use crate::applier::change::{Change, EntryId, Opcode};
use crate::config::ErrorHandling;
use crate::writer::{RowChange, WriteError};

/// What one pass over a job did.
enum Pass {
    /// Nothing was queued.
    Idle,
    /// A batch was written and acknowledged.
    Wrote,
    /// A transient failure: try again after a back-off.
    Failed,
    /// A failure with an error the writer does not recognise: try again after a back-off, probing
    /// for the row after several in a row (`probe.rs`).
    Unrecognised,
}

struct JobSlot {
    job: Arc<JobRuntime>,
    backoff: Backoff,
    retry_at: Option<Instant>,
    /// Passes in a row that failed with an unrecognised error.
    unrecognised: u32,
    /// The batch that follows the last one written, read while that one was being written.
    ahead: Option<Batch>,
    /// What the last batch written left to free, freed by the next read-ahead thread.
    trash: Option<Trash>,
    /// Rows refused in chunks that committed (with their checkpoint) in a pass that then failed:
    /// the retry skips those rows, so their dead letters are kept from here. By change position.
    refused: Vec<(EntryId, usize, String)>,
}

/// A written batch's changes and rows. Freeing them is some 16,000 `free`s per batch of 2,000 (a few
/// percent of the time the writer and its target spend on the batch), so the writer thread hands them
/// to the next read-ahead thread instead of freeing them between two writes, while the target waits.
#[derive(Default)]
struct Trash {
    changes: Vec<Change>,
    rows: Vec<Vec<RowChange>>,
}

/// A batch read from a job's queue and planned.
struct Batch {
    changes: Vec<Change>,
    prep: Prepared,
}

/// Reads the job's next batch (after `after`, or the oldest entries) and plans its rows; `None` when
/// nothing is queued there.
fn read_batch(
    shared: &Shared,
    job: &JobRuntime,
    after: Option<EntryId>,
) -> Result<Option<Batch>, String> {
    let mut changes = shared.queue.read(
        &job.job.name,
        after,
        shared.deployment.applier.read_batch_size,
    )?;
    if changes.is_empty() {
        return Ok(None);
    }
    let prep = prepare(&mut changes, &job.job, &job.outputs);
    Ok(Some(Batch { changes, prep }))
}

/// What a job's writer says when its pass panicked (in a driver, most likely).
pub(crate) const PANICKED: &str = "the writer failed unexpectedly (a panic in the writer or its \
     database driver); the batch is retried on new connections";

/// [`apply_next`], with a panic (a driver's bug) turned into a failed pass: the thread lives on,
/// serving its other jobs, and this job retries with back-off on new connections, reading its
/// batch again. Its message says so; the panic's own text stays out of replies (it could quote a
/// connection's settings).
fn guarded_pass(shared: &Arc<Shared>, slot: &mut JobSlot, writers: &mut Writers) -> Pass {
    let pass = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        apply_next(shared, slot, writers)
    }));
    pass.unwrap_or_else(|_| {
        slot.ahead = None;
        slot.trash = None;
        *writers = Writers::default();
        slot.job.stats.set_error(PANICKED.to_string());
        Pass::Failed
    })
}

/// How often a paused writer looks whether it may write again.
const PAUSED_POLL: Duration = Duration::from_millis(20);

/// Runs until the engine stops. `jobs` are applied one at a time each, in queue order.
pub(crate) fn run(shared: Arc<Shared>, jobs: Vec<Arc<JobRuntime>>, wake: Receiver<()>) {
    super::priority::lower_current_thread();
    let _caching = crate::thread_cache::enable();
    let cap = Duration::from_secs(shared.deployment.applier.on_failed_retry_interval_s);
    let idle_wait = Duration::from_millis(shared.deployment.applier.duration_ms.max(1));
    let mut slots: Vec<JobSlot> = jobs
        .into_iter()
        .map(|job| JobSlot {
            job,
            backoff: Backoff::new(cap),
            retry_at: None,
            unrecognised: 0,
            ahead: None,
            trash: None,
            refused: Vec::new(),
        })
        .collect();
    let mut writers = Writers::default();
    warm_up(&shared, &slots, &mut writers);
    while !shared.stop.load(Ordering::Acquire) {
        let mut busy = false;
        if !shared.queue.can_write() {
            // Paused, loading or a replica now: what was read ahead is read again on resuming.
            for slot in &mut slots {
                slot.ahead = None;
                slot.trash = None;
            }
        } else {
            for slot in &mut slots {
                if shared.stop.load(Ordering::Acquire) {
                    return;
                }
                if slot.retry_at.is_some_and(|t| Instant::now() < t) {
                    continue;
                }
                match guarded_pass(&shared, slot, &mut writers) {
                    Pass::Idle => {}
                    Pass::Wrote => {
                        busy = true;
                        slot.unrecognised = 0;
                        slot.backoff.reset();
                        slot.retry_at = None;
                        slot.job.stats.retry_attempts.store(0, Ordering::Relaxed);
                        slot.job.stats.next_retry_ms.store(0, Ordering::Relaxed);
                    }
                    failed @ (Pass::Failed | Pass::Unrecognised) => {
                        slot.unrecognised = match failed {
                            Pass::Unrecognised => slot.unrecognised.saturating_add(1),
                            _ => 0,
                        };
                        let delay = slot.backoff.next_delay();
                        slot.retry_at = Some(Instant::now() + delay);
                        let at = super::stats::now_ms() + delay.as_millis() as u64;
                        slot.job.stats.next_retry_ms.store(at, Ordering::Relaxed);
                        JobStats::add(&slot.job.stats.retry_attempts, 1);
                        JobStats::add(&slot.job.stats.retries_total, 1);
                    }
                }
            }
        }
        if busy {
            continue;
        }
        // Idle or paused: the blocks this thread cached go back to Redis (see `thread_cache`).
        crate::thread_cache::release();
        if !shared.queue.can_write() {
            // Paused: leave the wake-up hint unread, so that capture's `try_send` finds the channel
            // full and wakes no thread per command (that wake-up cost the main thread ~25 % of its
            // time under pipelined writes: bench/RESULTS.md §15). RDI.START is seen within
            // `PAUSED_POLL`, and so is a stop.
            std::thread::sleep(PAUSED_POLL.min(idle_wait));
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
            Ok(()) => super::prompt::mark_woken(),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Connects to the targets of the thread's jobs and checks their tables (which prepares the
/// statements) before the first change arrives, so that the first write after a deploy or a restart
/// does not wait for them: ~30 ms against PostgreSQL, the p99.9 of the 1 k/s latency figure
/// (bench/RESULTS.md §35). Nothing is written. The connection's health in RDI.STATUS shows the
/// outcome; a target that fails here is left to the first write, which connects and retries as usual.
/// On a replica, a paused or a loading server nothing is done.
fn warm_up(shared: &Shared, slots: &[JobSlot], writers: &mut Writers) {
    // A connection that is down is not tried again for its other tables (a connect can take seconds).
    let mut failed: Vec<&str> = Vec::new();
    for slot in slots {
        for plan in &slot.job.outputs {
            if shared.stop.load(Ordering::Acquire) || !shared.queue.can_write() {
                return;
            }
            if failed.contains(&plan.connection.as_str()) {
                continue;
            }
            let checked = writers
                .writer_for(shared, &plan.connection)
                .and_then(|w| w.check(&plan.target));
            if let Err(e) = &checked {
                writers.remove(&plan.connection);
                if matches!(e, WriteError::Transient(_) | WriteError::Unknown(_)) {
                    failed.push(&plan.connection);
                }
            }
            if let Some(cs) = shared.conn_stats.get(&plan.connection) {
                match checked {
                    Ok(()) => cs.ok(),
                    Err(e) => cs.failed(&e),
                }
            }
        }
    }
}

/// Takes the job's next batch (read ahead, or read now), writes it to every output and acknowledges
/// it. When the batch is full, more is probably queued: the batch after it is read and planned on a
/// second thread meanwhile (the server lock and the CPU are free while the target works), and kept
/// for the next pass if this one is written and acknowledged. Batches are still written one at a
/// time, in queue order, and trimmed only after they committed; after a failure what was read ahead
/// is dropped and read again.
fn apply_next(shared: &Shared, slot: &mut JobSlot, writers: &mut Writers) -> Pass {
    let job = &*slot.job;
    let unrecognised = slot.unrecognised;
    let batch = match slot.ahead.take() {
        Some(batch) => batch,
        None => match read_batch(shared, job, None) {
            Ok(Some(batch)) => batch,
            Ok(None) => {
                // Idle: time to free what the last batch left.
                slot.trash = None;
                return Pass::Idle;
            }
            Err(e) => {
                job.stats.set_error(format!("reading the queue: {e}"));
                return Pass::Failed;
            }
        },
    };
    let full = batch.changes.len() >= shared.deployment.applier.read_batch_size;
    let last = batch.changes.last().map(|c| c.id);
    let mut trash = Trash::default();
    let (pass, ahead) = match last.filter(|_| full) {
        Some(last) => std::thread::scope(|scope| {
            let old = slot.trash.take();
            let reader = std::thread::Builder::new()
                .name("rdi-read-ahead".into())
                .spawn_scoped(scope, move || {
                    // The blocks freed with the last batch make most of this one.
                    let _caching = crate::thread_cache::enable();
                    drop(old);
                    read_batch(shared, job, Some(last))
                });
            let pass = apply_batch(
                shared,
                job,
                batch,
                writers,
                &mut trash,
                &mut slot.refused,
                unrecognised,
            );
            let ahead = match reader {
                Ok(handle) => handle.join().ok().and_then(Result::ok).flatten(),
                Err(_) => None,
            };
            (pass, ahead)
        }),
        None => {
            slot.trash = None;
            (
                apply_batch(
                    shared,
                    job,
                    batch,
                    writers,
                    &mut trash,
                    &mut slot.refused,
                    unrecognised,
                ),
                None,
            )
        }
    };
    if matches!(pass, Pass::Wrote) {
        slot.ahead = ahead;
        if slot.ahead.is_some() {
            slot.trash = Some(trash);
        }
    }
    pass
}

/// Writes one batch of a job to every output and acknowledges it; leaves its changes and rows in
/// `trash`. `carried` holds the refusals of committed chunks of an earlier, failed pass (exactly-once).
/// After `unrecognised` passes in a row failed with an unrecognised error, the pass probes for rows
/// that fail alone (`probe.rs`).
fn apply_batch(
    shared: &Shared,
    job: &JobRuntime,
    batch: Batch,
    writers: &mut Writers,
    trash: &mut Trash,
    carried: &mut Vec<(EntryId, usize, String)>,
    unrecognised: u32,
) -> Pass {
    let applier = &shared.deployment.applier;
    let Batch { changes, mut prep } = batch;
    let Some(last) = changes.last().map(|c| c.id) else {
        return Pass::Idle;
    };

    // Rows of one connection go together, in queue order, so that outputs sharing a target commit
    // together. The rows are moved out of the plan (the writers take slices of them, no copy) and put
    // back for RDI.TRACE only.
    let planned = prep.rows.len();
    let mut groups: Vec<(&str, Vec<PlannedRow>)> = Vec::new();
    for r in std::mem::take(&mut prep.rows) {
        let conn = job.outputs[r.output].connection.as_str();
        match groups.iter_mut().find(|(c, _)| *c == conn) {
            Some((_, rows)) => rows.push(r),
            None => groups.push((conn, vec![r])),
        }
    }
    let tracing = trace::active();
    let mut refused: Vec<(usize, usize, String)> = Vec::new();
    let started = Instant::now();
    let ids: Vec<EntryId> = changes.iter().map(|c| c.id).collect();
    let stream = shared.queue.checkpoint_name(&job.job.name);
    // A pass that fails after some chunks committed keeps their refusals for the retry (which skips
    // those rows): the dead letters are written with the acknowledgement that finally succeeds.
    let carry = |refused: &[(usize, usize, String)],
                 carried: &mut Vec<(EntryId, usize, String)>| {
        if applier.exactly_once {
            carried.extend(
                refused
                    .iter()
                    .filter_map(|(c, o, why)| Some((*ids.get(*c)?, *o, why.clone()))),
            );
        }
    };
    for (id, output, why) in carried.drain(..) {
        if let Ok(change) = ids.binary_search(&id) {
            refused.push((change, output, why));
        }
    }
    for (conn, planned_rows) in groups {
        // Each connection keeps its own position: two connections into one database (or one
        // checkpoint table) must not skip each other's rows.
        let named = checkpoint_of(&stream, conn);
        let stamp = applier.exactly_once.then(|| Stamp {
            table: &applier.checkpoint_table,
            stream: &named,
            ids: &ids,
        });
        let mut skipped: Vec<PlannedRow> = Vec::new();
        let mut kept = planned_rows;
        if let Some(stamp) = &stamp {
            // Rows at or below the target's checkpoint were committed before a crash: skip them.
            // Versions before per-connection positions wrote the job's name alone: read once, until
            // this connection commits its own.
            let read = writers.writer_for(shared, conn).and_then(|w| {
                match w.read_checkpoint(stamp.table, stamp.stream)? {
                    Some(pos) => Ok(Some(pos)),
                    None => w.read_checkpoint(stamp.table, &stream),
                }
            });
            match read {
                Ok(Some(pos)) => {
                    if let Some(cp) = EntryId::parse(&pos) {
                        (kept, skipped) = kept.into_iter().partition(|r| ids[r.change] > cp);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    writers.remove(conn);
                    if let Some(cs) = shared.conn_stats.get(conn) {
                        cs.failed(&e);
                    }
                    job.stats
                        .set_error(format!("{conn}: reading the checkpoint: {e}"));
                    carry(&refused, carried);
                    return Pass::Failed;
                }
            }
        }
        let (origins, rows): (Vec<Origin>, Vec<RowChange>) = kept
            .into_iter()
            .map(|r| {
                (
                    Origin {
                        change: r.change,
                        output: r.output,
                    },
                    r.row,
                )
            })
            .unzip();
        let size = applier.write_batch_size.max(1);
        let chunks: Vec<(&[RowChange], &[Origin])> =
            rows.chunks(size).zip(origins.chunks(size)).collect();
        let mut rejected = Vec::new();
        let written = write_chunks(
            shared,
            conn,
            &chunks,
            writers,
            stamp.as_ref(),
            &mut rejected,
            Probe::after(unrecognised, applier.exactly_once),
        );
        if let Some(cs) = shared.conn_stats.get(conn) {
            cs.refused(rejected.len());
        }
        refused.extend(
            rejected
                .into_iter()
                .map(|(o, why)| (o.change, o.output, why)),
        );
        if let Err(e) = written {
            // A write this thread gave up (its engine stops, or the role changed: `writer::interrupt`)
            // is no error of the target's, for RDI.STATUS to show after a redeploy.
            if !crate::writer::interrupt::requested() {
                if let Some(cs) = shared.conn_stats.get(conn) {
                    cs.failed(&e);
                }
                job.stats.set_error(format!("{conn}: {e}"));
            }
            carry(&refused, carried);
            return match e {
                WriteError::Unknown(_) => Pass::Unrecognised,
                _ => Pass::Failed,
            };
        }
        if let Some(cs) = shared.conn_stats.get(conn) {
            cs.ok();
        }
        if tracing {
            prep.rows.extend(skipped);
            prep.rows
                .extend(origins.into_iter().zip(rows).map(|(o, row)| PlannedRow {
                    change: o.change,
                    output: o.output,
                    row,
                }));
        } else {
            trash.rows.push(rows);
        }
    }
    if tracing {
        // Back in plan order: changes in queue order, outputs in job order within a change.
        prep.rows.sort_by_key(|r| (r.change, r.output));
    }
    // A row refused in an earlier pass and again in this one (its checkpoint was lost) counts once.
    refused.sort_by_key(|(change, output, _)| (*change, *output));
    refused.dedup_by_key(|(change, output, _)| (*change, *output));
    let kept_refusals = refused.clone();
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
    if shared.abort_before_ack && planned > 0 {
        // Fault injection for the exactly-once tests: the batch is committed, the queue not trimmed.
        std::process::abort();
    }
    // RDI.WAIT, once it sees the queue trimmed, waits for this batch's counts below.
    let _counting = job.stats.counting();
    if let Err(e) = shared
        .queue
        .ack(&job.job.name, last, dead, applier.dlq_max_messages)
    {
        job.stats.set_error(format!("acknowledging the queue: {e}"));
        carry(&kept_refusals, carried);
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
    s.batch_rows.observe(planned as u64);
    s.write_ms.observe(started.elapsed().as_millis() as u64);
    let now = super::stats::now_ms();
    for c in &changes {
        s.latency_ms.observe(now.saturating_sub(c.id.ms));
    }
    if tracing {
        trace::publish(&traced(job, &changes, &prep, writers, started.elapsed()));
    }
    trash.changes = changes;
    Pass::Wrote
}

/// The checkpoint row of one connection of a job: `<job's checkpoint name>/<connection>`.
fn checkpoint_of(job_checkpoint: &str, conn: &str) -> String {
    format!("{job_checkpoint}/{conn}")
}

#[cfg(test)]
mod tests;
