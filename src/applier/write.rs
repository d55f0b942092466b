//! Writing a planned chunk through a connection's writer: connecting on demand, splitting a refused
//! batch until the refused rows are isolated, and recording checkpoints (applier.exactly_once).

use std::collections::HashMap;

use super::change::EntryId;
use super::engine::Shared;
use crate::writer::{Checkpoint, RowChange, WriteError, Writer};

/// Where a checkpointed write records its position (applier.exactly_once).
pub(crate) struct Stamp<'a> {
    pub(crate) table: &'a str,
    pub(crate) stream: &'a str,
    /// Queue position of each change of the batch, by index.
    pub(crate) ids: &'a [EntryId],
}

/// The connection's writer, connecting if needed.
pub(crate) fn writer_for<'w>(
    shared: &Shared,
    conn: &str,
    writers: &'w mut HashMap<String, Box<dyn Writer>>,
) -> Result<&'w mut Box<dyn Writer>, WriteError> {
    if !writers.contains_key(conn) {
        let Some(connection) = shared.deployment.connections.get(conn) else {
            return Err(WriteError::Schema(format!(
                "connection `{conn}` is not defined"
            )));
        };
        let w = (shared.connector)(connection)?;
        writers.insert(conn.to_string(), w);
    }
    writers
        .get_mut(conn)
        .ok_or_else(|| WriteError::Transient("writer vanished".into()))
}

/// Where a row of a chunk comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin {
    /// Index of the change in the batch.
    pub(crate) change: usize,
    /// Index of the output in the job.
    pub(crate) output: usize,
}

/// Writes one chunk through the connection's writer (connecting if needed). A batch refused for its
/// content is split in halves until the refused rows are isolated; the others are written. `origin`
/// holds where each row comes from (same length as `rows`).
/// `next` is the change of the row that follows the chunk, if any (see [`write_split`]). The refused
/// rows (by index in the chunk) go to `refused`, also those of parts committed before a failure.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_chunk(
    shared: &Shared,
    conn: &str,
    rows: &[RowChange],
    origin: &[Origin],
    writers: &mut HashMap<String, Box<dyn Writer>>,
    stamp: Option<&Stamp>,
    next: Option<usize>,
    refused: &mut Vec<(usize, String)>,
) -> Result<(), WriteError> {
    let writer = writer_for(shared, conn, writers)?;
    let result = write_split(writer.as_mut(), rows, origin, 0, stamp, next, refused);
    if result.is_err() {
        // Reconnect on the next attempt: the session may be broken.
        writers.remove(conn);
    }
    result
}

/// Writes consecutive chunks of one connection in order. Checkpointed chunks (`stamp`) go one by one,
/// each recording its own position; others through [`Writer::write_many`], which may pipeline them.
/// A chunk refused for its content is split as in [`write_chunk`] (without being sent once more) and
/// the chunks after it are sent again. The refused rows go to `refused` with where they come from,
/// also when a later chunk fails (those of checkpointed chunks that committed are skipped on the retry).
pub(crate) fn write_chunks(
    shared: &Shared,
    conn: &str,
    chunks: &[(&[RowChange], &[Origin])],
    writers: &mut HashMap<String, Box<dyn Writer>>,
    stamp: Option<&Stamp>,
    refused: &mut Vec<(Origin, String)>,
) -> Result<(), WriteError> {
    let mut keep = |origin: &[Origin], rejected: Vec<(usize, String)>| {
        refused.extend(
            rejected
                .into_iter()
                .filter_map(|(i, why)| origin.get(i).map(|o| (*o, why))),
        );
    };
    if stamp.is_some() {
        for (i, (rows, origin)) in chunks.iter().enumerate() {
            let next = chunks
                .get(i + 1)
                .and_then(|(_, o)| o.first())
                .map(|o| o.change);
            let mut rejected = Vec::new();
            let result = write_chunk(
                shared,
                conn,
                rows,
                origin,
                writers,
                stamp,
                next,
                &mut rejected,
            );
            keep(origin, rejected);
            result?;
        }
        return Ok(());
    }
    let mut next = 0;
    while next < chunks.len() {
        let batches: Vec<&[RowChange]> = chunks[next..].iter().map(|(rows, _)| *rows).collect();
        let results = writer_for(shared, conn, writers)?.write_many(&batches);
        if results.is_empty() {
            return Err(WriteError::Transient("the writer wrote no batch".into()));
        }
        for result in results {
            let Some((rows, origin)) = chunks.get(next) else {
                break;
            };
            let mut rejected = Vec::new();
            let written = match result {
                Ok(outcome) => {
                    rejected = outcome.rejected;
                    Ok(())
                }
                Err(WriteError::Batch(reason)) => writer_for(shared, conn, writers).and_then(|w| {
                    split(
                        w.as_mut(),
                        rows,
                        origin,
                        0,
                        None,
                        None,
                        reason,
                        &mut rejected,
                    )
                }),
                Err(e) => Err(e),
            };
            keep(origin, rejected);
            match written {
                Ok(()) => {}
                Err(e) => {
                    // Reconnect on the next attempt: the session may be broken.
                    writers.remove(conn);
                    return Err(e);
                }
            }
            next += 1;
        }
    }
    Ok(())
}

/// Writes a slice of a chunk; `next` is the change of the row that follows the slice (in the chunk or
/// the next one), if any.
fn write_split(
    writer: &mut dyn Writer,
    rows: &[RowChange],
    origin: &[Origin],
    offset: usize,
    stamp: Option<&Stamp>,
    next: Option<usize>,
    refused: &mut Vec<(usize, String)>,
) -> Result<(), WriteError> {
    // Each committed slice records the last change all of whose rows are committed, so that a slice
    // that fails after an earlier one committed is never skipped on replay, not even the rest of a
    // change (two outputs, `foreach`, `REPLACE`) whose first rows the earlier slice held.
    let checkpoint = stamp.and_then(|s| {
        origin.last().map(|o| Checkpoint {
            table: s.table.to_string(),
            stream: s.stream.to_string(),
            position: committed_through(s.ids, o.change, next).to_string(),
        })
    });
    let result = match &checkpoint {
        Some(cp) => writer.write_checkpointed(rows, cp),
        None => writer.write(rows),
    };
    match result {
        Ok(outcome) => {
            refused.extend(outcome.rejected.into_iter().map(|(i, r)| (i + offset, r)));
            Ok(())
        }
        Err(WriteError::Batch(reason)) => {
            split(writer, rows, origin, offset, stamp, next, reason, refused)
        }
        Err(e) => Err(e),
    }
}

/// The checkpoint after a slice whose last row belongs to change `last`: that change's position, or
/// just before it when its rows go on after the slice (`next` is the same change).
fn committed_through(ids: &[EntryId], last: usize, next: Option<usize>) -> EntryId {
    let id = ids.get(last).copied().unwrap_or_default();
    if next == Some(last) {
        id.previous()
    } else {
        id
    }
}

/// After `rows` were refused for their content (`reason`): a row alone is the refused one, more rows
/// are written in halves, each split again if refused. The refused rows go to `refused`.
#[allow(clippy::too_many_arguments)]
fn split(
    writer: &mut dyn Writer,
    rows: &[RowChange],
    origin: &[Origin],
    offset: usize,
    stamp: Option<&Stamp>,
    next: Option<usize>,
    reason: String,
    refused: &mut Vec<(usize, String)>,
) -> Result<(), WriteError> {
    if rows.len() <= 1 {
        refused.push((offset, reason));
        return Ok(());
    }
    let mid = rows.len() / 2;
    let left_next = origin.get(mid).map(|o| o.change);
    write_split(
        writer,
        &rows[..mid],
        &origin[..mid],
        offset,
        stamp,
        left_next,
        refused,
    )?;
    write_split(
        writer,
        &rows[mid..],
        &origin[mid..],
        offset + mid,
        stamp,
        next,
        refused,
    )
}
