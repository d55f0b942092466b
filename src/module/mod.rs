//! The FFI edge: the only code that talks to Redis. Commands, capture, the queue, server events.

pub mod capture;
pub mod deploy;
pub mod events;
pub mod keys;
pub mod queue;
pub mod removal;
pub mod restore;
pub mod runtime;
pub mod status;
pub mod wait;
pub mod warnings;
