//! Turning a slice of queued changes into rows: coalescing per key, then one row per change and output.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::change::{Change, KeyValue, Opcode};
use super::queue::DeadLetter;
use crate::config::RelationalOutput;
use crate::writer::{RowChange, RowOp, TableTarget};

/// One output of a job, ready to produce rows.
#[derive(Debug, Clone)]
pub struct OutputPlan {
    /// The connection it writes through.
    pub connection: String,
    /// The table and its columns.
    pub target: Arc<TableTarget>,
    /// The record field of each of `target.columns`.
    fields: Vec<String>,
    /// How many of `target.columns` (the first ones) are keys.
    key_count: usize,
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
            fields: columns.iter().map(|c| c.field.clone()).collect(),
            key_count: out.keys.len(),
        }
    }

    /// The row for one record, or why there is none.
    fn row(&self, op: RowOp, record: &serde_json::Map<String, Value>) -> Result<RowChange, String> {
        for (i, field) in self.fields.iter().take(self.key_count).enumerate() {
            if matches!(record.get(field), None | Some(Value::Null)) {
                return Err(format!(
                    "key field `{field}` (column `{}`) is missing from the record",
                    self.target.columns[i]
                ));
            }
        }
        let take = match op {
            RowOp::Upsert | RowOp::Insert => self.fields.len(),
            RowOp::Delete => self.key_count,
        };
        let mut values: Vec<Value> = self.fields[..take]
            .iter()
            .map(|f| record.get(f).cloned().unwrap_or(Value::Null))
            .collect();
        values.resize(self.fields.len(), Value::Null);
        Ok(RowChange {
            target: self.target.clone(),
            op,
            values,
        })
    }
}

/// A row and where it came from.
#[derive(Debug, Clone)]
pub struct PlannedRow {
    /// Index of the change in the batch.
    pub change: usize,
    /// Index of the output in the job.
    pub output: usize,
    /// The row.
    pub row: RowChange,
}

/// A batch of changes turned into rows.
#[derive(Debug, Default)]
pub struct Prepared {
    /// Rows in queue order (outputs in job order within one change).
    pub rows: Vec<PlannedRow>,
    /// Per change: rejected before reaching a target (the reason is in `dead`).
    pub rejected: Vec<bool>,
    /// Per change: folded into a newer change of the same key.
    pub coalesced: Vec<bool>,
    /// Records that produced no row, with the reason.
    pub dead: Vec<DeadLetter>,
}

/// Plans the rows of a batch.
///
/// Upserts read the key's newest state, so of several upserts of one key only the last produces rows
/// (the others are coalesced into it); deletes are never dropped, since the deleted value may map to
/// another row than the new one. An upsert whose key is gone produces nothing: a later delete entry
/// removes the row.
pub fn prepare(changes: &[Change], outputs: &[OutputPlan]) -> Prepared {
    let mut last_upsert: HashMap<&str, usize> = HashMap::new();
    for (i, c) in changes.iter().enumerate() {
        if c.opcode != Opcode::Delete {
            last_upsert.insert(c.key.as_str(), i);
        }
    }
    let mut p = Prepared {
        rejected: vec![false; changes.len()],
        coalesced: vec![false; changes.len()],
        ..Prepared::default()
    };
    for (i, c) in changes.iter().enumerate() {
        let op = match c.opcode {
            Opcode::Delete => RowOp::Delete,
            _ => {
                if last_upsert.get(c.key.as_str()) != Some(&i) {
                    p.coalesced[i] = true;
                    continue;
                }
                RowOp::Upsert
            }
        };
        let record = match &c.value {
            KeyValue::Record(r) => r,
            KeyValue::Missing if op == RowOp::Upsert => continue,
            KeyValue::Missing => {
                reject(&mut p, i, c, "", "the value was gone before it could be captured, so the row to delete is unknown".into());
                continue;
            }
            KeyValue::Unsupported(t) => {
                reject(
                    &mut p,
                    i,
                    c,
                    "",
                    format!("unsupported type: key holds a {t}, not a hash or JSON document"),
                );
                continue;
            }
        };
        for (o, plan) in outputs.iter().enumerate() {
            match plan.row(op, record) {
                Ok(row) => p.rows.push(PlannedRow {
                    change: i,
                    output: o,
                    row,
                }),
                Err(reason) => reject(&mut p, i, c, &plan.target.display_name(), reason),
            }
        }
    }
    p
}

fn reject(p: &mut Prepared, i: usize, c: &Change, output: &str, reason: String) {
    p.rejected[i] = true;
    p.dead.push(DeadLetter {
        key: c.key.clone(),
        opcode: c.opcode,
        reason,
        output: output.to_string(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applier::change::EntryId;
    use crate::config::ColumnMapping;
    use serde_json::json;

    fn col(c: &str, f: &str) -> ColumnMapping {
        ColumnMapping {
            column: c.into(),
            field: f.into(),
        }
    }

    fn plan() -> OutputPlan {
        OutputPlan::relational(&RelationalOutput {
            connection: "pg".into(),
            schema: None,
            table: "emp".into(),
            keys: vec![col("id", "id")],
            mapping: vec![col("name", "name"), col("id", "id"), col("city", "town")],
        })
    }

    fn change(seq: u64, key: &str, opcode: Opcode, value: KeyValue) -> Change {
        Change {
            id: EntryId { ms: 1, seq },
            key: key.into(),
            opcode,
            value,
        }
    }

    fn rec(v: serde_json::Value) -> KeyValue {
        match v {
            serde_json::Value::Object(m) => KeyValue::Record(m),
            _ => unreachable!(),
        }
    }

    #[test]
    fn keys_come_first_and_are_not_repeated_from_mapping() {
        let p = plan();
        assert_eq!(p.target.columns, vec!["id", "name", "city"]);
        assert_eq!(p.target.keys, vec!["id"]);
    }

    #[test]
    fn upsert_maps_fields_and_renames() {
        let c = [change(
            1,
            "emp:1",
            Opcode::Create,
            rec(json!({"id": "1", "name": "a", "town": "x"})),
        )];
        let p = prepare(&c, &[plan()]);
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.rows[0].row.op, RowOp::Upsert);
        assert_eq!(
            p.rows[0].row.values,
            vec![json!("1"), json!("a"), json!("x")]
        );
    }

    #[test]
    fn repeated_upserts_of_one_key_are_coalesced_into_the_last() {
        let v = rec(json!({"id": "1", "name": "b"}));
        let c = [
            change(1, "emp:1", Opcode::Create, v.clone()),
            change(2, "emp:2", Opcode::Create, rec(json!({"id": "2"}))),
            change(3, "emp:1", Opcode::Update, v),
        ];
        let p = prepare(&c, &[plan()]);
        assert_eq!(p.coalesced, vec![true, false, false]);
        let from: Vec<usize> = p.rows.iter().map(|r| r.change).collect();
        assert_eq!(from, vec![1, 2]);
    }

    #[test]
    fn deletes_are_kept_in_order_between_upserts() {
        let c = [
            change(1, "emp:1", Opcode::Create, rec(json!({"id": "9"}))),
            change(2, "emp:1", Opcode::Delete, rec(json!({"id": "1"}))),
            change(3, "emp:1", Opcode::Create, rec(json!({"id": "9"}))),
        ];
        let p = prepare(&c, &[plan()]);
        let ops: Vec<(usize, RowOp)> = p.rows.iter().map(|r| (r.change, r.row.op)).collect();
        assert_eq!(ops, vec![(1, RowOp::Delete), (2, RowOp::Upsert)]);
        assert_eq!(p.rows[0].row.values[0], json!("1"));
        assert_eq!(p.rows[0].row.values[1], serde_json::Value::Null);
    }

    #[test]
    fn upsert_of_a_vanished_key_writes_nothing() {
        let c = [change(1, "emp:1", Opcode::Update, KeyValue::Missing)];
        let p = prepare(&c, &[plan()]);
        assert!(p.rows.is_empty() && p.dead.is_empty());
    }

    #[test]
    fn missing_key_field_and_unsupported_type_are_rejected_with_reasons() {
        let c = [
            change(1, "emp:1", Opcode::Create, rec(json!({"name": "a"}))),
            change(
                2,
                "emp:2",
                Opcode::Create,
                KeyValue::Unsupported("string".into()),
            ),
            change(3, "emp:3", Opcode::Delete, KeyValue::Missing),
            change(4, "emp:4", Opcode::Create, rec(json!({"id": "4"}))),
        ];
        let p = prepare(&c, &[plan()]);
        assert_eq!(p.rejected, vec![true, true, true, false]);
        assert!(p.dead[0].reason.contains("key field `id`"));
        assert!(p.dead[1].reason.starts_with("unsupported type"));
        assert_eq!(p.rows.len(), 1);
    }
}
