//! The applier: reads the durable queue, turns changes into rows, writes them with retries and
//! dead-lettering, and keeps the counters.

pub mod batch;
pub mod change;
pub mod engine;
pub mod histogram;
mod plan;
mod plan_redis;
pub mod priority;
mod probe;
pub mod prompt;
pub mod queue;
pub mod retry;
pub mod stats;
pub mod trace;
mod trace_batch;
mod worker;
mod write;
mod writers;

pub use change::{Change, EntryId, KeyValue, Opcode};
pub use engine::{Connector, Engine, JobRuntime};
pub use queue::{DeadLetter, Queue};
pub use stats::{now_ms, ConnStats, Health, JobStats, LastError, ERROR_KINDS};
