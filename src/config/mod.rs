//! `config.yaml` and job files: the typed model, parsing with positions, reference resolution, validation.

mod applier;
mod connection;
mod connection_redis;
mod connection_types;
mod deployment;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod examples;
mod job;
mod locate;
mod malformed;
pub mod model;
mod model_redis;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod mutated;
mod output;
mod problem;
mod reference;
mod transform;
mod walker;
mod yaml;

#[cfg(test)]
pub use connection_types::accepted_args;
pub use deployment::{parse_deployment, parse_kept_deployment, Parsed};
pub use locate::{locate, problem_at};
pub use model::*;
pub use problem::ConfigProblem;
pub use reference::{Hidden, Resolver, SystemResolver, REFERENCE_KINDS};
