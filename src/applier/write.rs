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
pub(crate) fn write_chunk(
    shared: &Shared,
    conn: &str,
    rows: &[RowChange],
    origin: &[Origin],
    writers: &mut HashMap<String, Box<dyn Writer>>,
    stamp: Option<&Stamp>,
) -> Result<Vec<(usize, String)>, WriteError> {
    let writer = writer_for(shared, conn, writers)?;
    let result = write_split(writer.as_mut(), rows, origin, 0, stamp);
    if result.is_err() {
        // Reconnect on the next attempt: the session may be broken.
        writers.remove(conn);
    }
    result
}

/// Writes consecutive chunks of one connection in order. Checkpointed chunks (`stamp`) go one by one,
/// each recording its own position; others through [`Writer::write_many`], which may pipeline them.
/// A chunk refused for its content is split as in [`write_chunk`] (without being sent once more) and
/// the chunks after it are sent again. Returns the refused rows with where they come from.
pub(crate) fn write_chunks(
    shared: &Shared,
    conn: &str,
    chunks: &[(&[RowChange], &[Origin])],
    writers: &mut HashMap<String, Box<dyn Writer>>,
    stamp: Option<&Stamp>,
) -> Result<Vec<(Origin, String)>, WriteError> {
    let mut refused: Vec<(Origin, String)> = Vec::new();
    let mut keep = |origin: &[Origin], rejected: Vec<(usize, String)>| {
        refused.extend(
            rejected
                .into_iter()
                .filter_map(|(i, why)| origin.get(i).map(|o| (*o, why))),
        );
    };
    if stamp.is_some() {
        for (rows, origin) in chunks {
            keep(
                origin,
                write_chunk(shared, conn, rows, origin, writers, stamp)?,
            );
        }
        return Ok(refused);
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
            let written = match result {
                Ok(outcome) => Ok(outcome.rejected),
                Err(WriteError::Batch(reason)) => writer_for(shared, conn, writers)
                    .and_then(|w| split(w.as_mut(), rows, origin, 0, None, reason)),
                Err(e) => Err(e),
            };
            match written {
                Ok(rejected) => keep(origin, rejected),
                Err(e) => {
                    // Reconnect on the next attempt: the session may be broken.
                    writers.remove(conn);
                    return Err(e);
                }
            }
            next += 1;
        }
    }
    Ok(refused)
}

fn write_split(
    writer: &mut dyn Writer,
    rows: &[RowChange],
    origin: &[Origin],
    offset: usize,
    stamp: Option<&Stamp>,
) -> Result<Vec<(usize, String)>, WriteError> {
    // Each committed slice records the position of its own last row, so a slice that fails after an
    // earlier one committed is never skipped on replay.
    let checkpoint = stamp.and_then(|s| {
        origin.last().map(|o| Checkpoint {
            table: s.table.to_string(),
            stream: s.stream.to_string(),
            position: s.ids[o.change].to_string(),
        })
    });
    let result = match &checkpoint {
        Some(cp) => writer.write_checkpointed(rows, cp),
        None => writer.write(rows),
    };
    match result {
        Ok(outcome) => Ok(outcome
            .rejected
            .into_iter()
            .map(|(i, r)| (i + offset, r))
            .collect()),
        Err(WriteError::Batch(reason)) => split(writer, rows, origin, offset, stamp, reason),
        Err(e) => Err(e),
    }
}

/// After `rows` were refused for their content (`reason`): a row alone is the refused one, more rows
/// are written in halves, each split again if refused.
fn split(
    writer: &mut dyn Writer,
    rows: &[RowChange],
    origin: &[Origin],
    offset: usize,
    stamp: Option<&Stamp>,
    reason: String,
) -> Result<Vec<(usize, String)>, WriteError> {
    if rows.len() <= 1 {
        return Ok(vec![(offset, reason)]);
    }
    let mid = rows.len() / 2;
    let mut left = write_split(writer, &rows[..mid], &origin[..mid], offset, stamp)?;
    left.extend(write_split(
        writer,
        &rows[mid..],
        &origin[mid..],
        offset + mid,
        stamp,
    )?);
    Ok(left)
}
