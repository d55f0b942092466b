//! `redis-di scaffold`: a starting `config.yaml` and `jobs/` folder for each target type.

mod files;
mod templates;

pub use files::{preview, write};
