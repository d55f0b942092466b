//! Turning a slice of queued changes into rows: coalescing per key, then one row per change and output.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::change::{Change, KeyValue, Opcode};
pub use super::plan::OutputPlan;
use super::queue::DeadLetter;
use crate::config::{Job, RowFormat};
use crate::transform::{run, Outcome};
use crate::writer::{RowChange, RowOp};

/// Why a delete without a value is rejected.
const MISSING_DELETE: &str =
    "the value was gone before it could be captured (the key was not a hash or \
     JSON document, or its last hash fields expired), so the row to delete is unknown";

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
    /// Per change: dropped by a `filter` block.
    pub filtered: Vec<bool>,
    /// Records that produced no row, with the reason.
    pub dead: Vec<DeadLetter>,
    /// Per change: the record after transforms, kept only while an `RDI.TRACE` is open.
    pub after: Vec<Option<Value>>,
}

/// Plans the rows of a batch.
///
/// Upserts read the key's newest state, so of several upserts of one key only the last produces rows
/// (the others are coalesced into it), and only if no delete of the key follows it in the batch: the
/// newest state it read belongs after that delete, and the entry that made it comes in a later batch,
/// so writing it here would put the target's row back to a newer state, delete it, then write it
/// again. Deletes are never dropped, since the deleted value may map to another row than the new one. An upsert whose key is gone produces nothing: a later delete entry
/// removes the row. Each record then goes through the job's transforms (a filter may drop it) and becomes
/// the rows of every output; an expression that fails rejects that record only.
///
/// The values are moved out of `changes` into the records (they are left `Missing`), which saves a
/// deep copy of every record; while an `RDI.TRACE` is open they are copied instead, since the trace
/// shows them.
pub fn prepare(changes: &mut [Change], job: &Job, outputs: &[OutputPlan]) -> Prepared {
    // Per change: whether it is an upsert and the last change of its key in the batch.
    let mut latest = vec![false; changes.len()];
    {
        let mut last: HashMap<&str, usize> = HashMap::with_capacity(changes.len());
        for (i, c) in changes.iter().enumerate() {
            last.insert(c.key.as_str(), i);
        }
        for i in last.into_values() {
            latest[i] = changes.get(i).is_some_and(|c| c.opcode != Opcode::Delete);
        }
    }
    let mut p = Prepared {
        rejected: vec![false; changes.len()],
        coalesced: vec![false; changes.len()],
        filtered: vec![false; changes.len()],
        after: vec![None; changes.len()],
        ..Prepared::default()
    };
    let tracing = super::trace::active();
    // The rows of one output for one change, reused from change to change.
    let mut scratch: Vec<RowChange> = Vec::new();
    p.rows.reserve(changes.len() * outputs.len());
    for i in 0..changes.len() {
        let c = &changes[i];
        let op = match c.opcode {
            Opcode::Delete => RowOp::Delete,
            _ => {
                if !latest[i] {
                    p.coalesced[i] = true;
                    continue;
                }
                RowOp::Upsert
            }
        };
        if let KeyValue::NotUtf8 { names, .. } = &changes[i].value {
            if let Some(name) = names.iter().find(|n| reads(job, n)) {
                let why = format!(
                    "field `{name}` of the hash is not UTF-8 text; binary values are not written"
                );
                reject(&mut p, i, &changes[i], "", why);
                continue;
            }
            // Fields the job never reads: the record goes on without them.
            if let KeyValue::NotUtf8 { mut fields, names } =
                std::mem::replace(&mut changes[i].value, KeyValue::Missing)
            {
                for n in &names {
                    fields.remove(n);
                }
                changes[i].value = KeyValue::Record(fields);
            }
        }
        let c = &changes[i];
        match &c.value {
            KeyValue::Record(_) => {}
            KeyValue::Missing if op == RowOp::Upsert => continue,
            KeyValue::Missing => {
                reject(&mut p, i, c, "", MISSING_DELETE.into());
                continue;
            }
            KeyValue::NotUtf8 { .. } => continue,
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
        }
        let value = match (tracing, &mut changes[i].value) {
            (false, value) => match std::mem::replace(value, KeyValue::Missing) {
                KeyValue::Record(m) => m,
                _ => continue,
            },
            (true, KeyValue::Record(m)) => m.clone(),
            (true, _) => continue,
        };
        let c = &changes[i];
        let mut record = build_record(c, value, job.row_format);
        match run(&job.transforms, &mut record) {
            Ok(Outcome::Keep) => {}
            Ok(Outcome::Drop) => {
                p.filtered[i] = true;
                continue;
            }
            Err(e) => {
                reject(&mut p, i, c, "", e.to_string());
                continue;
            }
        }
        if tracing {
            p.after[i] = Some(record.clone());
        }
        let empty = Value::Object(serde_json::Map::new());
        let view = match job.row_format {
            RowFormat::DataOnly => &record,
            RowFormat::Full => record
                .get("after")
                .filter(|a| a.is_object())
                .unwrap_or(&empty),
        };
        // Rows of one change go in together or not at all, so a rejected output leaves no half record.
        let start = p.rows.len();
        let mut failed = false;
        for (o, plan) in outputs.iter().enumerate() {
            scratch.clear();
            match plan.rows(op, c.opcode.as_str(), view, &record, &mut scratch) {
                Ok(()) => p.rows.extend(scratch.drain(..).map(|row| PlannedRow {
                    change: i,
                    output: o,
                    row,
                })),
                Err(reason) => {
                    reject(&mut p, i, c, &plan.target.display_name(), reason);
                    failed = true;
                }
            }
        }
        if failed {
            p.rows.truncate(start);
        }
    }
    p
}

/// The record that transforms see: the value itself, or `{key, before, after, opcode}` in `full` format
/// (for a delete, `after` holds the value captured just before the key went, so the row can be found).
pub fn build_record(c: &Change, value: serde_json::Map<String, Value>, format: RowFormat) -> Value {
    match format {
        RowFormat::DataOnly => Value::Object(value),
        RowFormat::Full => json!({
            "key": {"key": c.key},
            "before": null,
            "after": value,
            "opcode": c.opcode.as_str(),
        }),
    }
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

/// Whether the job may read the record field `name`: it is a key, mapped or opcode field of a
/// relational output, or the job reads fields in ways not known here (transforms, expressions,
/// `foreach`, the full row format, a Redis output).
fn reads(job: &Job, name: &str) -> bool {
    if !job.transforms.is_empty() || job.row_format != crate::config::RowFormat::DataOnly {
        return true;
    }
    job.outputs.iter().any(|o| match o {
        crate::config::Output::Relational(r) => {
            r.foreach.is_some()
                || r.opcode_field.as_deref() == Some(name)
                || r.keys
                    .iter()
                    .chain(&r.mapping)
                    .any(|m| m.expression.as_field().is_none_or(|f| f == name))
        }
        crate::config::Output::Redis(_) => true,
    })
}

/// The record fields a delete of this job reads: the fields of its outputs' keys. `None` when it may
/// read others: transforms, the full row format, `foreach`, an opcode field, the append strategy (a
/// delete is a whole row then), a Redis output, or a key computed by an expression. The key-removal
/// event reads only these of a hash that goes, not every field of it (bench: a million fields take
/// over a second on the main thread).
pub fn delete_fields(job: &Job) -> Option<Vec<String>> {
    let append = job.outputs.iter().any(|o| {
        matches!(o, crate::config::Output::Relational(r)
            if r.load_strategy == crate::config::LoadStrategy::Append)
    });
    if append {
        return None;
    }
    plain_fields(job, false)
}

/// The record fields an upsert of this job reads: the fields of its outputs' keys and mapped
/// columns. `None` when it may read others, as for [`delete_fields`] (the append strategy aside: its
/// rows have the same columns). The writers read only these of a hash that has many more fields.
pub fn upsert_fields(job: &Job) -> Option<Vec<String>> {
    plain_fields(job, true)
}

/// The plain fields of the outputs' keys (and `mapped` columns), or `None` when the job may read
/// fields not listed there.
fn plain_fields(job: &Job, mapped: bool) -> Option<Vec<String>> {
    if !job.transforms.is_empty() || job.row_format != RowFormat::DataOnly {
        return None;
    }
    let mut fields: Vec<String> = Vec::new();
    for output in &job.outputs {
        let crate::config::Output::Relational(r) = output else {
            return None;
        };
        if r.foreach.is_some() || r.opcode_field.is_some() {
            return None;
        }
        let columns = r
            .keys
            .iter()
            .chain(if mapped { &r.mapping[..] } else { &[] });
        for column in columns {
            let field = column.expression.as_field()?;
            if !fields.iter().any(|f| f == field) {
                fields.push(field.to_string());
            }
        }
    }
    Some(fields)
}

#[cfg(test)]
#[path = "batch_delete_tests.rs"]
mod delete_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applier::change::EntryId;
    use crate::config::{ColumnMapping, RelationalOutput};
    use serde_json::json;

    fn col(c: &str, f: &str) -> ColumnMapping {
        ColumnMapping::field(c, f)
    }

    fn plan() -> OutputPlan {
        OutputPlan::relational(&RelationalOutput {
            connection: "pg".into(),
            schema: None,
            table: "emp".into(),
            keys: vec![col("id", "id")],
            mapping: vec![col("name", "name"), col("id", "id"), col("city", "town")],
            foreach: None,
            opcode_field: None,
            load_strategy: crate::config::LoadStrategy::Upsert,
        })
    }

    fn job() -> Job {
        Job {
            name: "emp".into(),
            key_pattern: "emp:*".into(),
            exclude_commands: vec![],
            row_format: RowFormat::DataOnly,
            propagate_expired: false,
            transforms: vec![],
            outputs: vec![],
        }
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
    fn a_field_that_is_not_utf8_rejects_the_record_only_if_the_job_reads_it() {
        let output = RelationalOutput {
            connection: "pg".into(),
            schema: None,
            table: "emp".into(),
            keys: vec![col("id", "id")],
            mapping: vec![col("name", "name"), col("city", "town")],
            foreach: None,
            opcode_field: None,
            load_strategy: crate::config::LoadStrategy::Upsert,
        };
        let j = Job {
            outputs: vec![crate::config::Output::Relational(output)],
            ..job()
        };
        let lossy = |bad: &str| {
            let KeyValue::Record(fields) =
                rec(json!({"id": "1", "name": "a\u{FFFD}", "town": "x", "thumb": "\u{FFFD}"}))
            else {
                unreachable!()
            };
            KeyValue::NotUtf8 {
                fields,
                names: vec![bad.to_string()],
            }
        };
        // `thumb` is never read: written without it.
        let mut c = [change(1, "emp:1", Opcode::Create, lossy("thumb"))];
        let p = prepare(&mut c, &j, &[plan()]);
        assert_eq!(p.rows.len(), 1);
        assert!(p.dead.is_empty());
        // `name` is mapped: rejected, naming it.
        let mut c = [change(1, "emp:1", Opcode::Create, lossy("name"))];
        let p = prepare(&mut c, &j, &[plan()]);
        assert!(p.rows.is_empty());
        assert!(p.rejected[0]);
        assert!(p.dead[0].reason.contains("field `name`"), "{:?}", p.dead);
        // A job with transforms may read anything.
        let mut with_transform = j.clone();
        with_transform.transforms = vec![crate::transform::Block::RemoveField(
            crate::transform::RemoveField {
                fields: vec!["town".into()],
            },
        )];
        let mut c = [change(1, "emp:1", Opcode::Create, lossy("thumb"))];
        let p = prepare(&mut c, &with_transform, &[plan()]);
        assert!(p.rejected[0]);
    }

    #[test]
    fn keys_come_first_and_are_not_repeated_from_mapping() {
        let p = plan();
        assert_eq!(p.target.columns, vec!["id", "name", "city"]);
        assert_eq!(p.target.keys, vec!["id"]);
    }

    #[test]
    fn upsert_maps_fields_and_renames() {
        let mut c = [change(
            1,
            "emp:1",
            Opcode::Create,
            rec(json!({"id": "1", "name": "a", "town": "x"})),
        )];
        let p = prepare(&mut c, &job(), &[plan()]);
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
        let mut c = [
            change(1, "emp:1", Opcode::Create, v.clone()),
            change(2, "emp:2", Opcode::Create, rec(json!({"id": "2"}))),
            change(3, "emp:1", Opcode::Update, v),
        ];
        let p = prepare(&mut c, &job(), &[plan()]);
        assert_eq!(p.coalesced, vec![true, false, false]);
        let from: Vec<usize> = p.rows.iter().map(|r| r.change).collect();
        assert_eq!(from, vec![1, 2]);
    }

    #[test]
    fn an_upsert_followed_by_a_delete_of_its_key_is_coalesced_into_the_delete() {
        // The key was deleted, then created again (value `2`) before this batch read its value: the
        // upsert of that newer state waits for the entry that made it, in a later batch.
        let mut c = [
            change(1, "emp:1", Opcode::Update, rec(json!({"id": "2"}))),
            change(2, "emp:1", Opcode::Delete, rec(json!({"id": "1"}))),
        ];
        let p = prepare(&mut c, &job(), &[plan()]);
        assert_eq!(p.coalesced, vec![true, false]);
        let ops: Vec<(usize, RowOp)> = p.rows.iter().map(|r| (r.change, r.row.op)).collect();
        assert_eq!(ops, vec![(1, RowOp::Delete)]);
    }

    #[test]
    fn deletes_are_kept_in_order_between_upserts() {
        let mut c = [
            change(1, "emp:1", Opcode::Create, rec(json!({"id": "9"}))),
            change(2, "emp:1", Opcode::Delete, rec(json!({"id": "1"}))),
            change(3, "emp:1", Opcode::Create, rec(json!({"id": "9"}))),
        ];
        let p = prepare(&mut c, &job(), &[plan()]);
        let ops: Vec<(usize, RowOp)> = p.rows.iter().map(|r| (r.change, r.row.op)).collect();
        assert_eq!(ops, vec![(1, RowOp::Delete), (2, RowOp::Upsert)]);
        assert_eq!(p.rows[0].row.values[0], json!("1"));
        assert_eq!(p.rows[0].row.values[1], serde_json::Value::Null);
    }

    #[test]
    fn while_a_trace_is_open_the_values_stay_in_the_changes() {
        let session = crate::applier::trace::open(1, false);
        let value = rec(json!({"id": "1", "name": "a"}));
        let mut c = [change(1, "emp:1", Opcode::Create, value.clone())];
        let p = prepare(&mut c, &job(), &[plan()]);
        crate::applier::trace::close(&session);
        assert_eq!(c[0].value, value, "the trace shows it as `before`");
        assert_eq!(p.after[0], Some(json!({"id": "1", "name": "a"})));
        assert_eq!(p.rows[0].row.values[1], json!("a"));
    }

    #[test]
    fn upsert_of_a_vanished_key_writes_nothing() {
        let mut c = [change(1, "emp:1", Opcode::Update, KeyValue::Missing)];
        let p = prepare(&mut c, &job(), &[plan()]);
        assert!(p.rows.is_empty() && p.dead.is_empty());
    }

    #[test]
    fn missing_key_field_and_unsupported_type_are_rejected_with_reasons() {
        let mut c = [
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
        let p = prepare(&mut c, &job(), &[plan()]);
        assert_eq!(p.rejected, vec![true, true, true, false]);
        assert!(p.dead[0].reason.contains("key field `id`"));
        assert!(p.dead[1].reason.starts_with("unsupported type"));
        assert_eq!(p.rows.len(), 1);
    }
}
