//! Isolating a row that fails with an error the writer does not recognise.
//!
//! A target error outside a writer's lists ([`WriteError::Unknown`]: a code a trigger made up, an
//! internal error about one row) may be an outage or may be the row's. It is retried like an outage
//! first. Once the same batch has failed [`PROBE_AFTER`] passes in a row, the next pass probes: an
//! unrecognised error splits the batch in halves as a refusal does, and a row that fails alone twice
//! in a row is a suspect. A suspect is refused (dead-letter queue) only if other rows of the same
//! connection were committed in that pass: the target takes writes, so the row is what it refuses.
//! When nothing is committed the pass fails as before and the whole batch is retried: an outage
//! that answers every write with such an error never sends a row to the dead-letter queue.

use super::write::Origin;
use crate::writer::WriteError;

/// Failed passes in a row before a pass probes (about 0.7–1.4 s of back-off).
pub(crate) const PROBE_AFTER: u32 = 3;

/// What a pass learned about one connection while probing.
#[derive(Debug, Default)]
pub(crate) struct Probe {
    /// Whether an unrecognised error splits the batch (the pass probes).
    pub(crate) on: bool,
    /// Whether some row of this connection was committed in this pass.
    pub(crate) written: bool,
    /// Rows of the current chunk (by index in it) that failed alone twice, with the reason.
    pub(crate) suspects: Vec<(usize, String)>,
}

impl Probe {
    /// A probe for a pass after `failures` failed passes in a row.
    pub(crate) fn after(failures: u32) -> Self {
        Probe {
            on: failures >= PROBE_AFTER,
            ..Probe::default()
        }
    }

    /// Takes the current chunk's suspects, with where their rows come from.
    pub(crate) fn take_suspects(&mut self, origin: &[Origin]) -> Vec<(Origin, String)> {
        self.suspects
            .drain(..)
            .filter_map(|(i, why)| origin.get(i).map(|o| (*o, why)))
            .collect()
    }

    /// At the end of the pass: the suspects are refused if other rows were committed (into
    /// `refused`), or the pass fails with the first one's error.
    pub(crate) fn settle(
        &self,
        suspects: Vec<(Origin, String)>,
        refused: &mut Vec<(Origin, String)>,
    ) -> Result<(), WriteError> {
        let Some((_, first)) = suspects.first() else {
            return Ok(());
        };
        if !self.written {
            return Err(WriteError::Unknown(first.clone()));
        }
        refused.extend(suspects.into_iter().map(|(o, why)| {
            (
                o,
                format!("{why} (failed alone twice while other rows were written)"),
            )
        }));
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn at(change: usize) -> Origin {
        Origin { change, output: 0 }
    }

    #[test]
    fn probing_starts_after_the_third_failed_pass() {
        assert!(!Probe::after(0).on);
        assert!(!Probe::after(PROBE_AFTER - 1).on);
        assert!(Probe::after(PROBE_AFTER).on);
    }

    #[test]
    fn suspects_are_refused_only_when_other_rows_were_written() {
        let mut p = Probe::after(PROBE_AFTER);
        p.suspects.push((1, "mysql: error 9999".into()));
        let suspects = p.take_suspects(&[at(4), at(7)]);
        assert_eq!(suspects.len(), 1);
        assert_eq!(suspects[0].0.change, 7);
        let mut refused = Vec::new();
        assert_eq!(
            p.settle(suspects.clone(), &mut refused),
            Err(WriteError::Unknown("mysql: error 9999".into()))
        );
        assert!(refused.is_empty());
        p.written = true;
        p.settle(suspects, &mut refused).unwrap();
        assert_eq!(refused.len(), 1);
        assert!(refused[0]
            .1
            .starts_with("mysql: error 9999 (failed alone twice"));
        assert_eq!(p.settle(Vec::new(), &mut refused), Ok(()));
    }
}
