//! One output of a job, planned: the expressions of its columns and how a record becomes its rows.

use std::sync::Arc;

use serde_json::Value;

use crate::config::{Foreach, LoadStrategy, RelationalOutput};
use crate::expr::Expression;
use crate::transform::path;
use crate::writer::{RowChange, RowOp, TableTarget};

/// One output of a job, ready to produce rows.
#[derive(Debug, Clone)]
pub struct OutputPlan {
    /// The connection it writes through.
    pub connection: String,
    /// The table and its columns.
    pub target: Arc<TableTarget>,
    /// Where the value of each of `target.columns` comes from.
    expressions: Vec<Expression>,
    /// How many of `target.columns` (the first ones) are keys.
    key_count: usize,
    foreach: Option<Foreach>,
    opcode_field: Option<String>,
    load_strategy: LoadStrategy,
}

impl OutputPlan {
    /// Plans a `relational.write` output.
    pub fn relational(out: &RelationalOutput) -> Self {
        let columns = out.upsert_columns();
        OutputPlan {
            connection: out.connection.clone(),
            target: Arc::new(TableTarget {
                schema: out.schema.clone(),
                table: out.table.clone(),
                keys: out.keys.iter().map(|k| k.column.clone()).collect(),
                columns: columns.iter().map(|c| c.column.clone()).collect(),
            }),
            expressions: columns.iter().map(|c| c.expression.clone()).collect(),
            key_count: out.keys.len(),
            foreach: out.foreach.clone(),
            opcode_field: out.opcode_field.clone(),
            load_strategy: out.load_strategy,
        }
    }

    /// The rows for one transformed record. `view` is what keys and mapping read (the record, or its
    /// `after` in `full` format); `record` is the whole record; `op` is the change's own operation.
    pub fn rows(&self, op: RowOp, view: &Value, record: &Value) -> Result<Vec<RowChange>, String> {
        let op = match &self.opcode_field {
            Some(field) => opcode_of(field, view, record)?,
            None => op,
        };
        let contexts: Vec<std::borrow::Cow<'_, Value>> = match &self.foreach {
            None => vec![std::borrow::Cow::Borrowed(view)],
            Some(each) => {
                let alias = &each.alias;
                let items = match each.expression.eval(view) {
                    Ok(Value::Array(items)) => items,
                    Ok(Value::Null) => Vec::new(),
                    Ok(_) => {
                        return Err(format!(
                            "foreach `{alias}`: the expression must give an array"
                        ))
                    }
                    Err(e) => return Err(format!("foreach `{alias}`: {e}")),
                };
                items
                    .into_iter()
                    .map(|item| {
                        let mut ctx = view.clone();
                        path::set(&mut ctx, alias, item);
                        std::borrow::Cow::Owned(ctx)
                    })
                    .collect()
            }
        };
        let mut rows = Vec::new();
        for ctx in &contexts {
            match (self.load_strategy, op) {
                (LoadStrategy::Append, _) => rows.push(self.row(RowOp::Insert, ctx)?),
                (LoadStrategy::Replace, RowOp::Upsert | RowOp::Insert) => {
                    rows.push(self.row(RowOp::Delete, ctx)?);
                    rows.push(self.row(RowOp::Insert, ctx)?);
                }
                (_, op) => rows.push(self.row(op, ctx)?),
            }
        }
        Ok(rows)
    }

    fn row(&self, op: RowOp, ctx: &Value) -> Result<RowChange, String> {
        let take = match op {
            RowOp::Upsert | RowOp::Insert => self.expressions.len(),
            RowOp::Delete => self.key_count,
        };
        let mut values = Vec::with_capacity(self.expressions.len());
        for (i, expression) in self.expressions[..take].iter().enumerate() {
            let column = &self.target.columns[i];
            let value = expression
                .eval(ctx)
                .map_err(|e| format!("column `{column}`: {e}"))?;
            if i < self.key_count && value.is_null() {
                return Err(match expression.as_field() {
                    Some(field) => format!(
                        "key field `{field}` (column `{column}`) is missing from the record"
                    ),
                    None => format!(
                        "key column `{column}` is null: `{}` found nothing",
                        expression.source()
                    ),
                });
            }
            values.push(value);
        }
        values.resize(self.expressions.len(), Value::Null);
        Ok(RowChange {
            target: self.target.clone(),
            op,
            values,
        })
    }
}

/// The operation named by the record's `opcode_field`.
fn opcode_of(field: &str, view: &Value, record: &Value) -> Result<RowOp, String> {
    let found = path::get(view, field).or_else(|| path::get(record, field));
    match found.and_then(Value::as_str) {
        Some("c" | "u" | "r") => Ok(RowOp::Upsert),
        Some("d") => Ok(RowOp::Delete),
        _ => Err(format!(
            "opcode field `{field}` is missing or not one of c, u, r, d"
        )),
    }
}
