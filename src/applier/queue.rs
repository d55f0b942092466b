//! What the applier needs from the durable queue; implemented by the module over Redis streams.

use super::change::{Change, EntryId, Opcode};

/// A record that a target refused or that could not be turned into a row, kept in the dead-letter queue.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The Redis key.
    pub key: String,
    /// Its opcode.
    pub opcode: Opcode,
    /// Why (names columns and value types, never values).
    pub reason: String,
    /// The output it was for (`table` or `schema.table`), or empty when it failed before any output.
    pub output: String,
}

/// The durable per-job queue.
///
/// Reads and acknowledgements happen under the server lock in short sections; the applier calls them
/// from writer threads only.
pub trait Queue: Send + Sync {
    /// Whether this instance may write to targets now (a primary that is not loading).
    fn can_write(&self) -> bool;

    /// Reads up to `max` of the oldest entries of a job's queue that come after `after` (all of them
    /// when `None`), with each key's current value (deletes carry the value captured before the key
    /// went). `after` lets a writer read the next batch while the previous one is being written.
    fn read(&self, job: &str, after: Option<EntryId>, max: usize) -> Result<Vec<Change>, String>;

    /// Removes every entry up to and including `upto`, after keeping `dead` in the job's dead-letter
    /// queue (capped at `dlq_cap`, oldest first out; `dlq_cap` 0 keeps none).
    fn ack(
        &self,
        job: &str,
        upto: EntryId,
        dead: &[DeadLetter],
        dlq_cap: usize,
    ) -> Result<(), String>;

    /// The name a target's exactly-once checkpoint row has for this job's queue: one row per queue, so
    /// the shards of a cluster writing the same job to one database never read each other's position.
    /// The job's name where there is one queue per job.
    fn checkpoint_name(&self, job: &str) -> String {
        job.to_string()
    }
}
