//! Writing a planned chunk through a connection's writer: connecting on demand, splitting a refused
//! batch until the refused rows are isolated, and recording checkpoints (applier.exactly_once).

use super::change::EntryId;
use super::engine::Shared;
use super::probe::Probe;
use super::writers::Writers;
use crate::writer::{Checkpoint, RowChange, WriteError, WriteOutcome, Writer};

/// Where a checkpointed write records its position (applier.exactly_once).
pub(crate) struct Stamp<'a> {
    pub(crate) table: &'a str,
    pub(crate) stream: &'a str,
    /// Queue position of each change of the batch, by index.
    pub(crate) ids: &'a [EntryId],
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
/// While `probe` is on, an unrecognised error splits the chunk too (see `probe.rs`).
#[allow(clippy::too_many_arguments)]
fn write_chunk(
    shared: &Shared,
    conn: &str,
    rows: &[RowChange],
    origin: &[Origin],
    writers: &mut Writers,
    stamp: Option<&Stamp>,
    next: Option<usize>,
    refused: &mut Vec<(usize, String)>,
    probe: &mut Probe,
) -> Result<(), WriteError> {
    let writer = writers.writer_for(shared, conn)?;
    let at = Slice {
        origin,
        offset: 0,
        next,
    };
    let result = write_split(writer.as_mut(), rows, &at, stamp, refused, probe);
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
/// `probe` says whether this pass probes for rows failing with unrecognised errors (`probe.rs`).
pub(crate) fn write_chunks(
    shared: &Shared,
    conn: &str,
    chunks: &[(&[RowChange], &[Origin])],
    writers: &mut Writers,
    stamp: Option<&Stamp>,
    refused: &mut Vec<(Origin, String)>,
    mut probe: Probe,
) -> Result<(), WriteError> {
    let mut suspects = Vec::new();
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
                &mut probe,
            );
            keep(origin, rejected);
            result?;
            suspects.extend(probe.take_suspects(origin));
        }
        return probe.settle(suspects, refused);
    }
    let mut next = 0;
    while next < chunks.len() {
        let batches: Vec<&[RowChange]> = chunks[next..].iter().map(|(rows, _)| *rows).collect();
        crate::writer::fence::check()?;
        let results = writers.writer_for(shared, conn)?.write_many(&batches);
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
                    probe.took(rows, &outcome.rejected);
                    rejected = outcome.rejected;
                    Ok(())
                }
                Err(cause) if splits(&cause, &probe) => {
                    writers.writer_for(shared, conn).and_then(|w| {
                        let at = Slice {
                            origin,
                            offset: 0,
                            next: None,
                        };
                        split(
                            w.as_mut(),
                            rows,
                            &at,
                            None,
                            cause,
                            &mut rejected,
                            &mut probe,
                        )
                    })
                }
                Err(e) => Err(e),
            };
            keep(origin, rejected);
            suspects.extend(probe.take_suspects(origin));
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
    probe.settle(suspects, refused)
}

/// Where a slice of a chunk sits: the rows' origins, the slice's first index in the chunk, and the
/// change of the row that follows the slice (in the chunk or the next one), if any.
struct Slice<'a> {
    origin: &'a [Origin],
    offset: usize,
    next: Option<usize>,
}

/// Whether a failed write is split to find its rows: a refusal always, an unrecognised error while
/// probing.
fn splits(cause: &WriteError, probe: &Probe) -> bool {
    match cause {
        WriteError::Batch(_) => true,
        WriteError::Unknown(_) => probe.on,
        WriteError::Transient(_) | WriteError::Schema(_) => false,
    }
}

/// Writes a slice of a chunk, splitting it when it fails for its rows ([`splits`]).
fn write_split(
    writer: &mut dyn Writer,
    rows: &[RowChange],
    at: &Slice,
    stamp: Option<&Stamp>,
    refused: &mut Vec<(usize, String)>,
    probe: &mut Probe,
) -> Result<(), WriteError> {
    match attempt(writer, rows, at, stamp) {
        Ok(outcome) => {
            took(outcome, rows, at, refused, probe);
            Ok(())
        }
        Err(cause) if splits(&cause, probe) => {
            split(writer, rows, at, stamp, cause, refused, probe)
        }
        Err(e) => Err(e),
    }
}

/// One write of a slice, recording its checkpoint if the pass keeps them.
fn attempt(
    writer: &mut dyn Writer,
    rows: &[RowChange],
    at: &Slice,
    stamp: Option<&Stamp>,
) -> Result<WriteOutcome, WriteError> {
    // Each committed slice records the last change all of whose rows are committed, so that a slice
    // that fails after an earlier one committed is never skipped on replay, not even the rest of a
    // change (two outputs, `foreach`, `REPLACE`) whose first rows the earlier slice held.
    let checkpoint = stamp.and_then(|s| {
        at.origin.last().map(|o| Checkpoint {
            table: s.table.to_string(),
            stream: s.stream.to_string(),
            position: committed_through(s.ids, o.change, at.next).to_string(),
        })
    });
    crate::writer::fence::check()?;
    match &checkpoint {
        Some(cp) => writer.write_checkpointed(rows, cp),
        None => writer.write(rows),
    }
}

/// Records a committed slice: its refused rows, and (for a probe) the rows that went in.
fn took(
    outcome: WriteOutcome,
    rows: &[RowChange],
    at: &Slice,
    refused: &mut Vec<(usize, String)>,
    probe: &mut Probe,
) {
    probe.took(rows, &outcome.rejected);
    refused.extend(
        outcome
            .rejected
            .into_iter()
            .map(|(i, r)| (i + at.offset, r)),
    );
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

/// After `rows` failed for their content (`cause`, see [`splits`]): more rows are written in halves,
/// each split again if it fails so. A row alone refused is the refused one; a row alone failing with
/// an unrecognised error is tried once more, then is a suspect (`probe.rs`).
fn split(
    writer: &mut dyn Writer,
    rows: &[RowChange],
    at: &Slice,
    stamp: Option<&Stamp>,
    cause: WriteError,
    refused: &mut Vec<(usize, String)>,
    probe: &mut Probe,
) -> Result<(), WriteError> {
    if rows.len() > 1 {
        let mid = rows.len() / 2;
        let left = Slice {
            origin: &at.origin[..mid],
            offset: at.offset,
            next: at.origin.get(mid).map(|o| o.change),
        };
        let right = Slice {
            origin: &at.origin[mid..],
            offset: at.offset + mid,
            next: at.next,
        };
        write_split(writer, &rows[..mid], &left, stamp, refused, probe)?;
        return write_split(writer, &rows[mid..], &right, stamp, refused, probe);
    }
    match cause {
        WriteError::Unknown(_) => match attempt(writer, rows, at, stamp) {
            Ok(outcome) => took(outcome, rows, at, refused, probe),
            Err(WriteError::Unknown(reason)) => match rows.first() {
                Some(row) => probe.suspect(at.offset, reason, row)?,
                None => return Err(WriteError::Unknown(reason)),
            },
            Err(WriteError::Batch(reason)) => refused.push((at.offset, reason)),
            Err(e) => return Err(e),
        },
        WriteError::Batch(reason) => refused.push((at.offset, reason)),
        other => return Err(other),
    }
    Ok(())
}
