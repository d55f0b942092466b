//! The closed set of transform blocks, tagged by `uses`, and running a job's list of them on a record.

use serde_json::Value;

use super::{AddField, Filter, MapBlock, RemoveField, RenameField};

/// One entry of a job's `transform` list.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// `uses: filter`.
    Filter(Filter),
    /// `uses: add_field`.
    AddField(AddField),
    /// `uses: remove_field`.
    RemoveField(RemoveField),
    /// `uses: rename_field`.
    RenameField(RenameField),
    /// `uses: map`.
    Map(MapBlock),
}

/// Every `uses` name, as job files write them.
pub const BLOCK_NAMES: &[&str] = &["filter", "add_field", "remove_field", "rename_field", "map"];

/// Whether the record goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Keep it.
    Keep,
    /// A filter dropped it.
    Drop,
}

/// A block that could not transform a record: which block and why (never a record value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transform[{index}] ({uses}): {message}")]
pub struct TransformError {
    /// Position of the block in the job's `transform` list.
    pub index: usize,
    /// The block's `uses`.
    pub uses: &'static str,
    /// What went wrong.
    pub message: String,
}

impl Block {
    /// The `uses` name.
    pub fn uses(&self) -> &'static str {
        match self {
            Block::Filter(_) => "filter",
            Block::AddField(_) => "add_field",
            Block::RemoveField(_) => "remove_field",
            Block::RenameField(_) => "rename_field",
            Block::Map(_) => "map",
        }
    }

    /// Applies the block to `record` in place.
    pub fn apply(&self, record: &mut Value) -> Result<Outcome, String> {
        match self {
            Block::Filter(b) => b.apply(record),
            Block::AddField(b) => b.apply(record).map(|()| Outcome::Keep),
            Block::RemoveField(b) => {
                b.apply(record);
                Ok(Outcome::Keep)
            }
            Block::RenameField(b) => {
                b.apply(record);
                Ok(Outcome::Keep)
            }
            Block::Map(b) => b.apply(record).map(|()| Outcome::Keep),
        }
    }
}

/// Runs `blocks` in order; stops at the first filter that drops the record.
pub fn run(blocks: &[Block], record: &mut Value) -> Result<Outcome, TransformError> {
    for (index, block) in blocks.iter().enumerate() {
        match block.apply(record) {
            Ok(Outcome::Keep) => {}
            Ok(Outcome::Drop) => return Ok(Outcome::Drop),
            Err(message) => {
                return Err(TransformError {
                    index,
                    uses: block.uses(),
                    message,
                })
            }
        }
    }
    Ok(Outcome::Keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{Expression, Language};
    use serde_json::json;

    fn jmes(s: &str) -> Expression {
        Expression::compile(Language::Jmespath, s).unwrap()
    }

    #[test]
    fn blocks_run_in_order_and_a_filter_stops_the_list() {
        let blocks = vec![
            Block::RenameField(RenameField {
                fields: vec![("fname".into(), "first_name".into())],
            }),
            Block::AddField(AddField {
                fields: vec![("name.upper".into(), jmes("upper(first_name)"))],
            }),
            Block::Filter(Filter {
                expression: jmes("first_name != 'Bob'"),
            }),
            Block::RemoveField(RemoveField {
                fields: vec!["tmp".into()],
            }),
        ];
        let mut rec = json!({"fname": "Ada", "tmp": 1});
        assert_eq!(run(&blocks, &mut rec), Ok(Outcome::Keep));
        assert_eq!(rec, json!({"first_name": "Ada", "name": {"upper": "ADA"}}));
        let mut rec = json!({"fname": "Bob", "tmp": 1});
        assert_eq!(run(&blocks, &mut rec), Ok(Outcome::Drop));
        assert_eq!(rec["tmp"], json!(1), "blocks after the filter did not run");
    }

    #[test]
    fn errors_name_the_block_index_and_kind() {
        let blocks = vec![
            Block::RemoveField(RemoveField { fields: vec![] }),
            Block::AddField(AddField {
                fields: vec![("x".into(), jmes("upper(n)"))],
            }),
        ];
        let e = run(&blocks, &mut json!({"n": 7})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "transform[1] (add_field): field `x`: argument 1 must be string|null, not number"
        );
        assert_eq!(BLOCK_NAMES.len(), 5);
    }
}
