//! Transform blocks: one file per block, and the closed enum that a job's `transform` list holds.

mod add_field;
mod block;
mod filter;
mod map;
pub mod path;
mod remove_field;
mod rename_field;

pub use add_field::AddField;
pub use block::{run, Block, Outcome, TransformError, BLOCK_NAMES};
pub use filter::Filter;
pub use map::MapBlock;
pub use remove_field::RemoveField;
pub use rename_field::RenameField;
