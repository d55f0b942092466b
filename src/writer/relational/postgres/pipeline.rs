//! Batches written back to back on one connection without waiting for each reply: a batch that is one
//! statement (its own transaction) is sent while the batch before it is still executing, so the server
//! starts on it as soon as the previous one commits, instead of waiting a round trip and the writer's
//! preparation of it. Measured in bench/RESULTS.md §32.

use futures::stream::{FuturesOrdered, StreamExt};
use tokio_postgres::error::SqlState;

use super::runs::{execute_run, is_one_statement};
use super::{classify, not_connected, work_of, PostgresWriter};
use crate::writer::{write_each, RowChange, RowOp, WriteError, WriteOutcome};

/// Batches in flight at once: one executing, one waiting in the server's input.
const DEPTH: usize = 2;

/// Why the pipeline stopped before the last batch.
enum Stop {
    /// This batch is not one statement: it is written alone, in a transaction.
    Alone(usize),
    /// This batch could not be prepared.
    Failed(WriteError),
}

/// [`crate::writer::Writer::write_many`] for PostgreSQL: the longest run of batches that are each one
/// statement is pipelined; a batch that needs a transaction (several statements) is written alone after
/// them; batches of plain inserts are written one by one (a batch after a failed one would be written
/// twice, and an insert is not idempotent).
pub(super) fn write_pipelined(
    writer: &mut PostgresWriter,
    batches: &[&[RowChange]],
) -> Vec<Result<WriteOutcome, WriteError>> {
    let inserts = |rows: &[RowChange]| rows.iter().any(|r| r.op == RowOp::Insert);
    if batches.len() < 2 || batches.iter().any(|b| inserts(b)) {
        return write_each(writer, batches);
    }
    if let Err(err) = batches.iter().try_for_each(|rows| writer.ready(rows)) {
        return vec![Err(err)];
    }
    let Some(session) = writer.client.as_ref() else {
        return vec![Err(not_connected())];
    };
    let tables = &writer.tables;
    let mut results: Vec<Result<WriteOutcome, tokio_postgres::Error>> = Vec::new();
    let mut stop: Option<Stop> = None;
    session.block_on(async {
        let mut inflight = FuturesOrdered::new();
        let mut next = 0;
        loop {
            while stop.is_none() && inflight.len() < DEPTH {
                let Some(rows) = batches.get(next) else {
                    break;
                };
                match work_of(tables, rows) {
                    Ok((_, work)) if !is_one_statement(&work) => stop = Some(Stop::Alone(next)),
                    Ok((outcome, work)) => {
                        let client = session.client();
                        inflight.push_back(async move {
                            execute_run(client, &work).await.map(|()| outcome)
                        });
                        next += 1;
                    }
                    Err(err) => stop = Some(Stop::Failed(err)),
                }
            }
            let Some(result) = inflight.next().await else {
                break;
            };
            let failed = result.is_err();
            results.push(result);
            if failed {
                // The batches still in flight are written again after this one.
                break;
            }
        }
    });
    let mut out: Vec<Result<WriteOutcome, WriteError>> = Vec::with_capacity(results.len() + 1);
    for result in results {
        match result {
            Ok(outcome) => out.push(Ok(outcome)),
            // Two rows of one upsert with keys equal as values though not as text: written alone,
            // where they are written again one row at a time.
            Err(e) if e.code() == Some(&SqlState::CARDINALITY_VIOLATION) => {
                let rows = batches.get(out.len()).copied().unwrap_or_default();
                out.push(writer.try_write(rows, None));
            }
            Err(e) => out.push(Err(classify(&e))),
        }
    }
    if out.iter().all(Result::is_ok) {
        match stop {
            Some(Stop::Alone(i)) if i == out.len() => {
                let rows = batches.get(i).copied().unwrap_or_default();
                out.push(writer.try_write(rows, None));
            }
            Some(Stop::Failed(err)) => out.push(Err(err)),
            _ => {}
        }
    }
    out
}
