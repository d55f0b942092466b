//! The FFI edge: the only code that talks to Redis. Commands, capture, the queue, server events.

pub mod alloc;
pub mod append;
pub mod capture;
pub mod control;
pub mod deploy;
pub mod events;
pub mod filter;
pub mod info;
pub mod jobs;
pub mod keys;
pub mod lock;
pub mod metrics;
pub mod queue;
pub mod readkey;
pub mod rejected;
pub mod removal;
pub mod reset;
pub mod restore;
pub mod runtime;
pub mod secrets;
pub mod settings;
pub mod status;
pub mod trace;
pub mod wait;
pub mod warnings;
