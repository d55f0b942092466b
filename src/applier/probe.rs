//! Isolating a row that fails with an error the writer does not recognise.
//!
//! A target error outside a writer's lists ([`WriteError::Unknown`]: a code a trigger made up, an
//! internal error about one row) may be an outage or may be the row's. It is retried like an outage
//! first. Once [`PROBE_AFTER`] passes in a row have failed so, the next pass probes: an unrecognised
//! error splits the batch in halves as a refusal does, and a row that fails alone twice in a row is a
//! suspect. The suspects are refused (dead-letter queue) only if, in that pass, rows of the same
//! table and operation committed, at least as many as there are suspects of that table and operation:
//! that table takes such writes, so the row is what it refuses. Otherwise the pass fails as before
//! and the whole batch is retried, so a table that answers every write (or most) with such an error,
//! full or unavailable, sends nothing to the dead-letter queue. A pass stops probing after
//! [`MAX_SUSPECTS`] suspects. With `applier.exactly_once` nothing is probed: a checkpoint committed
//! past a suspect would make a retry skip it.

use std::sync::Arc;

use super::write::Origin;
use crate::writer::{RowChange, RowOp, TableTarget, WriteError};

/// Failed passes in a row, each with an unrecognised error, before a pass probes.
pub(crate) const PROBE_AFTER: u32 = 3;

/// Suspects after which a pass gives up probing (and fails): each costs writes and reconnects.
pub(crate) const MAX_SUSPECTS: usize = 8;

/// A row that failed alone twice with an unrecognised error.
#[derive(Debug, Clone)]
pub(crate) struct Suspect {
    pub(crate) origin: Origin,
    pub(crate) reason: String,
    target: Arc<TableTarget>,
    op: RowOp,
}

/// What a pass learned about one connection while probing.
#[derive(Debug, Default)]
pub(crate) struct Probe {
    /// Whether an unrecognised error splits the batch (the pass probes).
    pub(crate) on: bool,
    /// Rows committed in this pass, by table and operation.
    committed: Vec<(Arc<TableTarget>, RowOp, usize)>,
    /// Suspects of the current chunk (by index in it).
    suspects: Vec<(usize, String, Arc<TableTarget>, RowOp)>,
    /// Suspects found in this pass so far.
    found: usize,
}

impl Probe {
    /// A probe for a pass after `unrecognised` passes in a row that failed with an unrecognised
    /// error; never with `exactly_once`.
    pub(crate) fn after(unrecognised: u32, exactly_once: bool) -> Self {
        Probe {
            on: unrecognised >= PROBE_AFTER && !exactly_once,
            ..Probe::default()
        }
    }

    /// Records a committed write of `rows`, but for those the target `rejected` (by index).
    pub(crate) fn took(&mut self, rows: &[RowChange], rejected: &[(usize, String)]) {
        if !self.on {
            return;
        }
        for (i, row) in rows.iter().enumerate() {
            if rejected.iter().any(|(r, _)| *r == i) {
                continue;
            }
            match self
                .committed
                .iter_mut()
                .find(|(t, op, _)| *op == row.op && **t == *row.target)
            {
                Some((_, _, n)) => *n += 1,
                None => self.committed.push((row.target.clone(), row.op, 1)),
            }
        }
    }

    /// Records `row`, at `index` in the current chunk, as a suspect; an error once the pass has found
    /// too many.
    pub(crate) fn suspect(
        &mut self,
        index: usize,
        reason: String,
        row: &RowChange,
    ) -> Result<(), WriteError> {
        self.found += 1;
        if self.found > MAX_SUSPECTS {
            return Err(WriteError::Unknown(reason));
        }
        self.suspects
            .push((index, reason, row.target.clone(), row.op));
        Ok(())
    }

    /// Takes the current chunk's suspects, with where their rows come from.
    pub(crate) fn take_suspects(&mut self, origin: &[Origin]) -> Vec<Suspect> {
        self.suspects
            .drain(..)
            .filter_map(|(i, reason, target, op)| {
                origin.get(i).map(|o| Suspect {
                    origin: *o,
                    reason,
                    target,
                    op,
                })
            })
            .collect()
    }

    /// At the end of the pass: the suspects are refused (into `refused`) if each has its proof (see
    /// the module's notes), or the pass fails with the first one's error.
    pub(crate) fn settle(
        &self,
        suspects: Vec<Suspect>,
        refused: &mut Vec<(Origin, String)>,
    ) -> Result<(), WriteError> {
        let proven = |s: &Suspect| {
            let alike = suspects
                .iter()
                .filter(|o| o.op == s.op && *o.target == *s.target)
                .count();
            let committed = self
                .committed
                .iter()
                .find(|(t, op, _)| *op == s.op && **t == *s.target)
                .map_or(0, |(_, _, n)| *n);
            committed >= alike.max(1)
        };
        if let Some(s) = suspects.iter().find(|s| !proven(s)) {
            return Err(WriteError::Unknown(s.reason.clone()));
        }
        refused.extend(suspects.into_iter().map(|s| {
            (
                s.origin,
                format!(
                    "{} (failed alone twice while other rows of its table were written)",
                    s.reason
                ),
            )
        }));
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(change: usize) -> Origin {
        Origin { change, output: 0 }
    }

    fn row(table: &str, op: RowOp) -> RowChange {
        RowChange {
            target: Arc::new(TableTarget {
                schema: None,
                table: table.into(),
                keys: vec!["id".into()],
                columns: vec!["id".into()],
                redis: None,
            }),
            op,
            values: vec![json!(1)],
        }
    }

    #[test]
    fn probing_starts_after_the_third_unrecognised_failure_and_never_with_exactly_once() {
        assert!(!Probe::after(0, false).on);
        assert!(!Probe::after(PROBE_AFTER - 1, false).on);
        assert!(Probe::after(PROBE_AFTER, false).on);
        assert!(!Probe::after(PROBE_AFTER + 5, true).on);
    }

    #[test]
    fn a_suspect_is_refused_only_when_rows_of_its_table_and_operation_were_written() {
        let odd = row("emp", RowOp::Upsert);
        let mut p = Probe::after(PROBE_AFTER, false);
        p.suspect(1, "mysql: error 9999".into(), &odd).unwrap();
        let suspects = p.take_suspects(&[at(4), at(7)]);
        assert_eq!(suspects[0].origin.change, 7);
        let mut refused = Vec::new();
        // Nothing written; then only another table, then only deletes of this one: not proof.
        assert_eq!(
            p.settle(suspects.clone(), &mut refused),
            Err(WriteError::Unknown("mysql: error 9999".into()))
        );
        p.took(
            &[row("dept", RowOp::Upsert), row("emp", RowOp::Delete)],
            &[],
        );
        assert!(p.settle(suspects.clone(), &mut refused).is_err());
        // A row of the table refused by the target is not proof either.
        p.took(&[row("emp", RowOp::Upsert)], &[(0, "bad".into())]);
        assert!(p.settle(suspects.clone(), &mut refused).is_err());
        assert!(refused.is_empty());
        p.took(&[row("emp", RowOp::Upsert)], &[]);
        p.settle(suspects, &mut refused).unwrap();
        assert_eq!(refused.len(), 1);
        assert!(refused[0]
            .1
            .starts_with("mysql: error 9999 (failed alone twice"));
    }

    #[test]
    fn more_suspects_than_rows_written_of_their_table_is_no_proof() {
        let odd = row("emp", RowOp::Upsert);
        let mut p = Probe::after(PROBE_AFTER, false);
        p.suspect(0, "e".into(), &odd).unwrap();
        p.suspect(1, "e".into(), &odd).unwrap();
        p.took(&[row("emp", RowOp::Upsert)], &[]);
        let suspects = p.take_suspects(&[at(0), at(1)]);
        let mut refused = Vec::new();
        assert!(p.settle(suspects.clone(), &mut refused).is_err());
        p.took(&[row("emp", RowOp::Upsert)], &[]);
        assert!(p.settle(suspects, &mut refused).is_ok());
        assert_eq!(refused.len(), 2);
    }

    #[test]
    fn a_pass_gives_up_after_max_suspects() {
        let odd = row("emp", RowOp::Upsert);
        let mut p = Probe::after(PROBE_AFTER, false);
        for i in 0..MAX_SUSPECTS {
            p.suspect(i, "e".into(), &odd).unwrap();
        }
        assert!(p.suspect(MAX_SUSPECTS, "e".into(), &odd).is_err());
    }

    #[test]
    fn nothing_is_recorded_when_not_probing() {
        let mut p = Probe::after(0, false);
        p.took(&[row("emp", RowOp::Upsert)], &[]);
        assert!(p.committed.is_empty());
    }
}
