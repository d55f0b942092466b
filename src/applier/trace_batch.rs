//! What `RDI.TRACE` shows of a committed batch, built from the planned rows and the writers' statements.

use std::time::Duration;

use super::batch::{PlannedRow, Prepared};
use super::change::{Change, KeyValue};
use super::engine::JobRuntime;
use super::trace::TraceRecord;
use super::writers::Writers;

/// What `RDI.TRACE` shows of each change of a committed batch.
pub(crate) fn traced(
    job: &JobRuntime,
    changes: &[Change],
    prep: &Prepared,
    writers: &Writers,
    took: Duration,
) -> Vec<TraceRecord> {
    changes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let rows: Vec<&PlannedRow> = prep.rows.iter().filter(|r| r.change == i).collect();
            let statement = rows
                .iter()
                .filter_map(|r| {
                    let w = writers.get(&job.outputs[r.output].connection)?;
                    Some(w.statement(&r.row))
                })
                .collect::<Vec<_>>()
                .join("; ");
            let outcome = if prep.rejected[i] {
                let reason = prep
                    .dead
                    .iter()
                    .find(|d| d.key == c.key)
                    .map_or("", |d| d.reason.as_str());
                format!("rejected: {reason}")
            } else if prep.filtered[i] {
                "filtered".into()
            } else if prep.coalesced[i] {
                "coalesced into a newer change of the key".into()
            } else if rows.is_empty() {
                "skipped: the key is gone, a later delete follows".into()
            } else {
                "written".into()
            };
            let before = match &c.value {
                KeyValue::Record(m) => serde_json::Value::Object(m.clone()).to_string(),
                KeyValue::Missing => "null".into(),
                KeyValue::Unsupported(t) => serde_json::Value::String(t.clone()).to_string(),
                KeyValue::NotUtf8 { fields, .. } => {
                    serde_json::Value::Object(fields.clone()).to_string()
                }
            };
            TraceRecord {
                job: job.job.name.clone(),
                key: c.key.clone(),
                opcode: c.opcode.as_str().into(),
                before,
                after: prep.after[i].as_ref().map(|v| v.to_string()),
                statement,
                outcome,
                took_us: took.as_micros() as u64,
            }
        })
        .collect()
}
