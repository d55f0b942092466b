//! A job's `transform` list: each block's `uses` and `with`, its expressions compiled and checked.

use super::model::RowFormat;
use super::problem::{child_path, item_path};
use super::walker::{Fields, Walker};
use super::yaml::{Node, Value};
use crate::expr::{Expression, Language};
use crate::transform::{AddField, Block, Filter, MapBlock, RemoveField, RenameField, BLOCK_NAMES};

/// The prefix that published RDI examples put before field names.
const AFTER_PREFIX: &str = "after.";

/// Reads one job's transform blocks.
pub struct TransformReader {
    /// With `data_only` records, `after.x` means `x`.
    pub row_format: RowFormat,
    /// Whether this job already has its note about `after.` fields.
    pub noted_after: bool,
}

impl TransformReader {
    /// The `transform` list; `None` if any block is invalid.
    pub fn blocks(&mut self, w: &mut Walker, node: &Node) -> Option<Vec<Block>> {
        let items = w.seq(node, "transform")?;
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.block(w, item, &item_path("transform", i)) {
                Some(block) => out.push(block),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn block(&mut self, w: &mut Walker, node: &Node, path: &str) -> Option<Block> {
        let fields = w.map(node, path)?;
        fields.reject_unknown(w, &["uses", "with"]);
        let uses_node = fields.required(w, "uses");
        let with = fields.required(w, "with");
        let uses_path = fields.child("uses");
        let uses = w.text(uses_node?, &uses_path)?;
        let Some(uses) = BLOCK_NAMES.iter().find(|b| **b == uses.text) else {
            let message = format!(
                "unknown block{}; expected one of: {}",
                uses.mention(),
                BLOCK_NAMES.join(", ")
            );
            w.problem(uses_node?.pos, &uses_path, message);
            return None;
        };
        let with_path = fields.child("with");
        let with = w.map(with?, &with_path)?;
        match *uses {
            "filter" => {
                with.reject_unknown(w, &["expression", "language"]);
                let expression = expression(w, &with, None)?;
                Some(Block::Filter(Filter { expression }))
            }
            "add_field" => self
                .add_field(w, &with)
                .map(|fields| Block::AddField(AddField { fields })),
            "remove_field" => {
                let fields = self.list(w, &with, &["field"], |r, w, f| r.field(w, f, "field"))?;
                Some(Block::RemoveField(RemoveField { fields }))
            }
            "rename_field" => {
                let fields = self.list(w, &with, &["from_field", "to_field"], |r, w, f| {
                    let from = r.field(w, f, "from_field");
                    let to = r.field(w, f, "to_field");
                    Some((from?, to?))
                })?;
                Some(Block::RenameField(RenameField { fields }))
            }
            _ => map(w, &with).map(Block::Map),
        }
    }

    fn add_field(&mut self, w: &mut Walker, with: &Fields) -> Option<Vec<(String, Expression)>> {
        self.list(w, with, &["field", "expression", "language"], |r, w, f| {
            let field = r.field(w, f, "field");
            let expression = expression(w, f, None);
            Some((field?, expression?))
        })
    }

    /// The single form (`keys` directly in `with`) or the `fields:` list form of a block.
    fn list<T>(
        &mut self,
        w: &mut Walker,
        with: &Fields,
        keys: &[&str],
        mut read: impl FnMut(&mut Self, &mut Walker, &Fields) -> Option<T>,
    ) -> Option<Vec<T>> {
        let Some(list) = with.get("fields") else {
            with.reject_unknown(w, keys);
            return read(self, w, with).map(|one| vec![one]);
        };
        let mut allowed = vec!["fields"];
        allowed.extend_from_slice(keys);
        with.reject_unknown(w, &allowed);
        if let Some((name, key, _)) = with.iter().find(|(name, _, _)| keys.contains(name)) {
            let message =
                format!("use either `fields: [...]` or `{name}` directly in `with`, not both");
            w.problem(key.pos, &with.child(name), message);
            return None;
        }
        let path = with.child("fields");
        let items = w.seq(list, &path)?;
        if items.is_empty() {
            w.problem(list.pos, &path, "must list at least one entry");
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let item_path = item_path(&path, i);
            let Some(fields) = w.map(item, &item_path) else {
                ok = false;
                continue;
            };
            fields.reject_unknown(w, keys);
            match read(self, w, &fields) {
                Some(v) => out.push(v),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// A required field path; `after.x` is read as `x` for `data_only` records, with a note.
    fn field(&mut self, w: &mut Walker, fields: &Fields, key: &str) -> Option<String> {
        let written = w.required_string(fields, key)?;
        let path = fields.child(key);
        if self.row_format == RowFormat::Full {
            return Some(written);
        }
        let Some(name) = written.strip_prefix(AFTER_PREFIX) else {
            return Some(written);
        };
        if !self.noted_after {
            self.noted_after = true;
            let pos = fields.get(key).map_or(fields.pos, |n| n.pos);
            let message = format!(
                "`{written}` is read as `{name}`, as are other `after.` fields of this job (RDI compatibility)"
            );
            w.note(pos, &path, message);
        }
        Some(name.to_string())
    }
}

/// The required `language` of a block.
fn language(w: &mut Walker, fields: &Fields) -> Option<Language> {
    let node = fields.required(w, "language")?;
    let name = w.choice(node, &fields.child("language"), Language::NAMES)?;
    Language::parse(name)
}

/// `expression` + `language` of `fields`; `language` given when the caller already read it.
fn expression(
    w: &mut Walker,
    fields: &Fields,
    language_given: Option<Language>,
) -> Option<Expression> {
    let language = match language_given {
        Some(l) => Some(l),
        None => language(w, fields),
    };
    let node = fields.required(w, "expression")?;
    compile(w, node, &fields.child("expression"), language?)
}

/// Compiles a string node as an expression, or records where and why it does not parse.
fn compile(w: &mut Walker, node: &Node, path: &str, language: Language) -> Option<Expression> {
    let source = w.string(node, path)?;
    match Expression::compile(language, &source) {
        Ok(e) => Some(e),
        Err(e) => {
            w.problem(
                node.pos,
                path,
                format!("{e}; fix the expression or its `language`"),
            );
            None
        }
    }
}

/// `map`: `expression` is an object of field: expression, or one expression giving an object.
fn map(w: &mut Walker, with: &Fields) -> Option<MapBlock> {
    with.reject_unknown(w, &["expression", "language"]);
    let language = language(w, with);
    let node = with.required(w, "expression")?;
    let path = with.child("expression");
    if let Value::Map(_) = node.value {
        let fields = w.map(node, &path)?;
        let mut out = Vec::new();
        let mut ok = true;
        for (name, _, value) in fields.iter() {
            match compile(w, value, &child_path(&path, name), language?) {
                Some(e) => out.push((name.to_string(), e)),
                None => ok = false,
            }
        }
        return ok.then_some(MapBlock::Fields(out));
    }
    let language = language?;
    if language == Language::Sql {
        // An SQL expression gives one value: every record would be rejected for not being an object.
        w.problem(
            node.pos,
            &path,
            "one SQL expression gives a single value, not a record: write `expression` as an object of \
             field: expression, or use `language: jmespath`",
        );
        return None;
    }
    compile(w, node, &path, language).map(MapBlock::Whole)
}
