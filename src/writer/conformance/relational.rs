//! Test-only: its `mod` line carries #[cfg(test)].
//! The conformance cases of SQL writers only: values converted from text, typed JSON and missing
//! fields, null keys, constraint violations that commit nothing, checkpoints, schema errors.

use serde_json::{json, Value};

use super::shapes::{emp_target, Emp};
use super::{Harness, Poison, Rows};
use crate::writer::{RowChange, RowOp, WriteError, WriteOutcome};

/// The table every case writes to; portable between the databases.
pub const EMP_DDL: &str = "CREATE TABLE emp (id bigint PRIMARY KEY, name text NOT NULL, \
                           email text UNIQUE, age integer CHECK (age >= 0))";

/// The query that reads `emp` back.
pub const EMP_ROWS: &str = "SELECT id, name, email, age FROM emp ORDER BY id";

fn up(values: Vec<Value>) -> RowChange {
    RowChange {
        target: emp_target(),
        op: RowOp::Upsert,
        values,
    }
}

fn del(id: Value) -> RowChange {
    RowChange {
        target: emp_target(),
        op: RowOp::Delete,
        values: vec![id],
    }
}

/// An expected `emp` row.
fn row(id: i64, name: &str, email: Option<&str>, age: Option<i64>) -> Vec<Option<String>> {
    vec![
        Some(id.to_string()),
        Some(name.to_string()),
        email.map(str::to_string),
        age.map(|a| a.to_string()),
    ]
}

impl Harness {
    fn emp(&self) -> Rows {
        self.state()
    }
}

/// The poisoned record of a table: an age that is not a number, refused by the conversion.
pub fn bad_age(e: &Emp) -> Poison {
    Poison::Refused(
        up(vec![json!(e.id), json!(e.name), Value::Null, json!("abc")]),
        "column `age` of type integer cannot take a JSON string: not an integer".into(),
    )
}

/// A reason with the type name after `of type ` spelled `integer` (each database spells it its own
/// way: `INTEGER`, `integer`, `int(11)`, `NUMBER(38,0)`).
pub fn same_type_name(reason: &str) -> String {
    match (reason.find(" of type "), reason.find(" cannot take ")) {
        (Some(start), Some(end)) if start < end => {
            format!("{} of type integer{}", &reason[..start], &reason[end..])
        }
        _ => reason.to_string(),
    }
}

/// Hash-style text values, JSON-typed values and short rows (missing trailing fields are NULL) all
/// land, and a second upsert updates.
pub fn values_convert_from_text_typed_json_and_missing_fields(mut h: Harness) {
    let out = h.writer.write(&[up(vec![
        json!("1"),
        json!("ann"),
        json!("a@x"),
        json!("30"),
    ])]);
    assert_eq!(out, Ok(WriteOutcome::default()));
    let batch = [
        up(vec![json!(1), json!("anne"), json!(null), json!(31)]),
        up(vec![json!(2), json!("bob")]),
    ];
    assert_eq!(h.writer.write(&batch), Ok(WriteOutcome::default()));
    assert_eq!(
        h.emp(),
        [row(1, "anne", None, Some(31)), row(2, "bob", None, None)]
    );
}

/// A row whose key is null or missing is listed and skipped; the rest commit.
pub fn a_null_key_rejects_only_its_row(mut h: Harness) {
    let batch = [
        up(vec![json!(1), json!("a"), json!(null), json!("1")]),
        up(vec![json!(null), json!("c")]),
        del(json!(null)),
        up(vec![json!(3), json!("c"), json!(null), json!(3)]),
    ];
    let out = h.writer.write(&batch).unwrap();
    let missing = "key column `id` is null or missing".to_string();
    assert_eq!(out.rejected, [(1, missing.clone()), (2, missing)]);
    assert_eq!(
        h.emp(),
        [row(1, "a", None, Some(1)), row(3, "c", None, Some(3))]
    );
}

/// A constraint violation refuses the whole batch, names no value, commits nothing, and the writer
/// goes on with the next batch.
pub fn a_constraint_violation_commits_nothing(mut h: Harness) {
    let unique = [
        up(vec![json!(1), json!("a"), json!("same@x")]),
        up(vec![json!(2), json!("b"), json!("same@x")]),
    ];
    let err = h.writer.write(&unique).unwrap_err();
    assert!(
        matches!(&err, WriteError::Batch(m) if !m.contains("same@x")),
        "{err:?}"
    );
    let not_null = [
        up(vec![json!(1), json!("a")]),
        up(vec![json!(2), json!(null)]),
    ];
    assert!(matches!(
        h.writer.write(&not_null),
        Err(WriteError::Batch(_))
    ));
    let check = [
        up(vec![json!(1), json!("a")]),
        up(vec![json!(2), json!("b"), json!(null), json!(-5)]),
    ];
    let err = h.writer.write(&check).unwrap_err();
    assert!(
        matches!(&err, WriteError::Batch(m) if !m.contains("-5")),
        "{err:?}"
    );
    assert!(h.emp().is_empty());
    h.writer.write(&unique[..1]).unwrap();
    assert_eq!(h.emp(), [row(1, "a", Some("same@x"), None)]);
}

/// A missing table or column fails `check` and `write` with a schema error naming it.
pub fn missing_table_and_column_are_schema_errors(mut h: Harness) {
    let mut missing = (*emp_target()).clone();
    missing.table = "nope".into();
    let want = format!("table {}nope does not exist", h.default_schema_prefix);
    // A writer may add where it looked (SQLite names the file).
    let names = |r: Result<_, WriteError>, want: &str| {
        matches!(&r, Err(WriteError::Schema(m)) if m.starts_with(want)) || panic!("{r:?}: {want}")
    };
    assert!(names(h.writer.check(&missing).map(|_| ()), &want));
    let row = RowChange {
        target: std::sync::Arc::new(missing),
        op: RowOp::Upsert,
        values: vec![json!(1)],
    };
    assert!(names(h.writer.write(&[row]).map(|_| ()), &want));
    let mut no_column = (*emp_target()).clone();
    no_column.columns.push("salary".into());
    let want = "table emp has no column `salary`".to_string();
    assert!(names(h.writer.check(&no_column).map(|_| ()), &want));
    let row = RowChange {
        target: std::sync::Arc::new(no_column),
        op: RowOp::Upsert,
        values: vec![json!(1), json!("a")],
    };
    assert!(names(h.writer.write(&[row]).map(|_| ()), &want));
    h.writer.check(&emp_target()).unwrap();
}

/// A checkpoint is written in the batch's transaction: it moves with a committed batch and stays put
/// when the batch is refused. The table is created on first use.
pub fn checkpoints_commit_with_their_batch(mut h: Harness) {
    if !h.writer.supports_checkpoints() {
        eprintln!("skipped: this writer keeps no checkpoints (at-least-once only)");
        return;
    }
    let cp = |pos: &str| crate::writer::Checkpoint {
        table: "rdi_checkpoints".into(),
        stream: "emp".into(),
        position: pos.into(),
    };
    assert_eq!(
        h.writer.read_checkpoint("rdi_checkpoints", "emp").unwrap(),
        None
    );
    h.writer
        .write_checkpointed(
            &[up(vec![json!(1), json!("a"), json!(null), json!(1)])],
            &cp("5-0"),
        )
        .unwrap();
    assert_eq!(
        h.writer
            .read_checkpoint("rdi_checkpoints", "emp")
            .unwrap()
            .as_deref(),
        Some("5-0")
    );
    let refused = h.writer.write_checkpointed(
        &[up(vec![json!(2), json!("b"), json!(null), json!(-1)])],
        &cp("9-0"),
    );
    assert!(matches!(refused, Err(WriteError::Batch(_))), "{refused:?}");
    assert_eq!(
        h.writer
            .read_checkpoint("rdi_checkpoints", "emp")
            .unwrap()
            .as_deref(),
        Some("5-0"),
        "a refused batch must not move the checkpoint"
    );
    assert_eq!(h.emp().len(), 1);
    assert_eq!(
        h.writer
            .read_checkpoint("rdi_checkpoints", "other")
            .unwrap(),
        None
    );
}
