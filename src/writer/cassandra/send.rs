//! Sending planned batches: the partitions of a chunk at the same time (a bounded number), each
//! partition's batches in order, and a batch refused for what it holds written again statement by
//! statement, so that only the statements the server refuses are rejected and the rest is written.

use futures::stream::{self, StreamExt};

use super::batches::{PlannedBatch, PARTITIONS_IN_FLIGHT};
use crate::writer::WriteError;

/// What sends statements (indexes into the chunk's bound statements) to the cluster.
pub(super) trait Sender {
    /// Sends these statements: alone when there is one, else as one UNLOGGED BATCH.
    async fn send(&self, statements: &[usize]) -> Result<(), WriteError>;
}

/// Sends every partition's batches. `rows[i]` is the index in the written chunk of statement `i`.
/// Returns the rejected rows with their reasons, in chunk order, or the first error (by partition
/// order) that is not about a row: transient or schema errors fail the whole chunk, which the
/// idempotent statements let the applier retry whole.
pub(super) async fn send_all<S: Sender>(
    sender: &S,
    rows: &[usize],
    plan: Vec<Vec<PlannedBatch>>,
) -> Result<Vec<(usize, String)>, WriteError> {
    let results: Vec<_> = stream::iter(
        plan.into_iter()
            .map(|batches| send_partition(sender, rows, batches)),
    )
    .buffered(PARTITIONS_IN_FLIGHT)
    .collect()
    .await;
    let mut rejected = Vec::new();
    for result in results {
        rejected.extend(result?);
    }
    rejected.sort_by_key(|(row, _)| *row);
    Ok(rejected)
}

/// Sends one partition's batches in order.
async fn send_partition<S: Sender>(
    sender: &S,
    rows: &[usize],
    batches: Vec<PlannedBatch>,
) -> Result<Vec<(usize, String)>, WriteError> {
    let mut rejected = Vec::new();
    for batch in batches {
        match sender.send(&batch.sent).await {
            Ok(()) => continue,
            Err(WriteError::Batch(_)) => {}
            Err(other) => return Err(other),
        }
        // Refused for what it holds: every statement it stands for, one by one and in order, so that
        // the statements a later write replaced apply too if that later write is the refused one.
        for &i in &batch.covers {
            match sender.send(&[i]).await {
                Ok(()) => {}
                Err(WriteError::Batch(reason)) => {
                    rejected.push((rows.get(i).copied().unwrap_or(i), reason))
                }
                Err(other) => return Err(other),
            }
        }
    }
    Ok(rejected)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// Refuses any send holding a `bad` statement with a batch error, else any holding a `transient`
    /// one with a transient error, and records every send.
    struct Fake {
        bad: Vec<usize>,
        transient: Vec<usize>,
        sent: RefCell<Vec<Vec<usize>>>,
    }

    impl Fake {
        fn new(bad: &[usize], transient: &[usize]) -> Fake {
            Fake {
                bad: bad.to_vec(),
                transient: transient.to_vec(),
                sent: RefCell::new(Vec::new()),
            }
        }
    }

    impl Sender for Fake {
        async fn send(&self, statements: &[usize]) -> Result<(), WriteError> {
            self.sent.borrow_mut().push(statements.to_vec());
            if statements.iter().any(|s| self.bad.contains(s)) {
                return Err(WriteError::Batch("cassandra: invalid request".into()));
            }
            if statements.iter().any(|s| self.transient.contains(s)) {
                return Err(WriteError::Transient("cassandra: write timeout".into()));
            }
            Ok(())
        }
    }

    fn batch(sent: &[usize], covers: &[usize]) -> PlannedBatch {
        PlannedBatch {
            sent: sent.to_vec(),
            covers: covers.to_vec(),
        }
    }

    #[test]
    fn batches_that_pass_are_sent_once_each() {
        let fake = Fake::new(&[], &[]);
        let plan = vec![
            vec![batch(&[0, 1], &[0, 1]), batch(&[2], &[2])],
            vec![batch(&[3], &[3])],
        ];
        let rejected = futures::executor::block_on(send_all(&fake, &[0, 1, 2, 3], plan)).unwrap();
        assert!(rejected.is_empty());
        assert_eq!(*fake.sent.borrow(), [vec![0, 1], vec![2], vec![3]]);
    }

    #[test]
    fn a_refused_batch_is_written_row_by_row_and_only_the_bad_row_is_rejected() {
        let fake = Fake::new(&[1], &[]);
        // Statement 2 was replaced by 3 in the batch; both are written again in order.
        let plan = vec![
            vec![batch(&[0, 1, 3], &[0, 1, 2, 3]), batch(&[4], &[4])],
            vec![batch(&[5], &[5])],
        ];
        // The chunk rows of the statements: row 2 of the chunk was rejected before planning.
        let rows = [0, 1, 3, 4, 5, 6];
        let rejected = futures::executor::block_on(send_all(&fake, &rows, plan)).unwrap();
        assert_eq!(rejected, [(1, "cassandra: invalid request".to_string())]);
        assert_eq!(
            *fake.sent.borrow(),
            [
                vec![0, 1, 3],
                vec![0],
                vec![1],
                vec![2],
                vec![3],
                vec![4],
                vec![5]
            ]
        );
    }

    #[test]
    fn a_transient_error_fails_the_chunk_even_during_the_fallback() {
        let fake = Fake::new(&[], &[2]);
        let plan = vec![vec![batch(&[0], &[0])], vec![batch(&[1, 2], &[1, 2])]];
        let err = futures::executor::block_on(send_all(&fake, &[0, 1, 2], plan)).unwrap_err();
        assert!(matches!(err, WriteError::Transient(_)), "{err:?}");
        let fake = Fake::new(&[0], &[1]);
        let plan = vec![vec![batch(&[0, 1], &[0, 1])]];
        let err = futures::executor::block_on(send_all(&fake, &[0, 1], plan)).unwrap_err();
        assert!(matches!(err, WriteError::Transient(_)), "{err:?}");
        assert_eq!(*fake.sent.borrow(), [vec![0, 1], vec![0], vec![1]]);
    }
}
