//! The conformance suite every relational writer passes: insert, update, delete, per-key order, replay,
//! a row rejected in the middle of a batch, a refused batch that commits nothing, schema errors.
//!
//! Each database's tests supply a [`Harness`] (a writer on an empty database holding [`EMP_DDL`], and a
//! way to read rows back) and instantiate the suite with [`conformance_tests!`].
//! Test-only: declared under #[cfg(test)] in `relational/mod.rs`.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::writer::{RowChange, RowOp, TableTarget, WriteError, WriteOutcome, Writer};

/// The table every case writes to; portable between the databases.
pub const EMP_DDL: &str = "CREATE TABLE emp (id bigint PRIMARY KEY, name text NOT NULL, \
                           email text UNIQUE, age integer CHECK (age >= 0))";

/// Rows read back: each column as text, `None` for NULL.
pub type Rows = Vec<Vec<Option<String>>>;

/// A writer under test and a read-back of its database.
pub struct Harness {
    /// The writer, opened on a database holding [`EMP_DDL`].
    pub writer: Box<dyn Writer>,
    /// Runs a query on a separate connection: each row's columns as text, `None` for NULL.
    pub read: Box<dyn Fn(&str) -> Rows>,
    /// What the database puts before a missing table's name in messages (`public.` or nothing).
    pub default_schema_prefix: &'static str,
}

impl Harness {
    fn emp(&self) -> Rows {
        (self.read)("SELECT id, name, email, age FROM emp ORDER BY id")
    }
}

/// Instantiates the suite as `#[test]` functions, given `fn(test_name: &str) -> Harness`.
macro_rules! conformance_tests {
    ($harness:path) => {
        mod conformance {
            use crate::writer::relational::conformance as suite;
            #[test]
            fn upsert_inserts_then_updates() {
                suite::upsert_inserts_then_updates($harness("c_upsert"));
            }
            #[test]
            fn delete_removes_and_per_key_order_holds() {
                suite::delete_removes_and_per_key_order_holds($harness("c_delete"));
            }
            #[test]
            fn replaying_a_batch_gives_the_same_state() {
                suite::replaying_a_batch_gives_the_same_state($harness("c_replay"));
            }
            #[test]
            fn a_bad_value_rejects_only_its_row() {
                suite::a_bad_value_rejects_only_its_row($harness("c_reject"));
            }
            #[test]
            fn a_constraint_violation_commits_nothing() {
                suite::a_constraint_violation_commits_nothing($harness("c_constraint"));
            }
            #[test]
            fn checkpoints_commit_with_their_batch() {
                suite::checkpoints_commit_with_their_batch($harness("c_checkpoint"));
            }
            #[test]
            fn missing_table_and_column_are_schema_errors() {
                suite::missing_table_and_column_are_schema_errors($harness("c_schema"));
            }
        }
    };
}
pub(crate) use conformance_tests;

fn emp_target() -> Arc<TableTarget> {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Arc::new(TableTarget {
        redis: None,
        schema: None,
        table: "emp".into(),
        keys: strings(&["id"]),
        columns: strings(&["id", "name", "email", "age"]),
    })
}

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

/// Hash-style string values and JSON-typed values both land, and a second upsert updates.
pub fn upsert_inserts_then_updates(mut h: Harness) {
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

/// Deletes remove by key (a missing key is no error), and a delete then an upsert of the same key in
/// one batch (a RENAME onto the same row) leaves the row present.
pub fn delete_removes_and_per_key_order_holds(mut h: Harness) {
    h.writer
        .write(&[
            up(vec![json!(1), json!("a")]),
            up(vec![json!(2), json!("b")]),
        ])
        .unwrap();
    let batch = [
        del(json!("2")),
        del(json!(1)),
        up(vec![json!(1), json!("again")]),
    ];
    h.writer.write(&batch).unwrap();
    assert_eq!(h.emp(), [row(1, "again", None, None)]);
    h.writer.write(&[del(json!(1)), del(json!(99))]).unwrap();
    assert!(h.emp().is_empty());
}

/// At-least-once delivery: the same batch written twice converges to the same rows.
pub fn replaying_a_batch_gives_the_same_state(mut h: Harness) {
    let batch = [
        up(vec![json!(1), json!("a"), json!("a@x"), json!(1)]),
        up(vec![json!(2), json!("b"), json!("b@x"), json!(2)]),
        del(json!(1)),
        up(vec![json!(2), json!("b2"), json!("b@x"), json!(3)]),
    ];
    h.writer.write(&batch).unwrap();
    let once = h.emp();
    h.writer.write(&batch).unwrap();
    assert_eq!(h.emp(), once);
    assert_eq!(once, [row(2, "b2", Some("b@x"), Some(3))]);
}

/// Rows whose values do not convert, or whose key is null, are listed and skipped; the rest commit.
pub fn a_bad_value_rejects_only_its_row(mut h: Harness) {
    let batch = [
        up(vec![json!(1), json!("a"), json!(null), json!("1")]),
        up(vec![json!(2), json!("b"), json!(null), json!("abc")]),
        up(vec![json!(null), json!("c")]),
        up(vec![json!(3), json!("c"), json!(null), json!(3)]),
    ];
    let out = h.writer.write(&batch).unwrap();
    // Each database spells the type its own way (`INTEGER`, `integer`, `int(11)`, `NUMBER(38,0)`).
    let reasons: Vec<_> = out
        .rejected
        .iter()
        .map(|(i, r)| (*i, same_type_name(r)))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                1,
                "column `age` of type integer cannot take a JSON string: not an integer".into()
            ),
            (2, "key column `id` is null or missing".to_string()),
        ]
    );
    assert_eq!(
        h.emp(),
        [row(1, "a", None, Some(1)), row(3, "c", None, Some(3))]
    );
}

/// A reason with the type name after `of type ` spelled `integer`.
fn same_type_name(reason: &str) -> String {
    match (reason.find(" of type "), reason.find(" cannot take ")) {
        (Some(start), Some(end)) if start < end => {
            format!("{} of type integer{}", &reason[..start], &reason[end..])
        }
        _ => reason.to_string(),
    }
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
    assert_eq!(
        h.writer.check(&missing),
        Err(WriteError::Schema(want.clone()))
    );
    let row = RowChange {
        target: Arc::new(missing),
        op: RowOp::Upsert,
        values: vec![json!(1)],
    };
    assert_eq!(h.writer.write(&[row]), Err(WriteError::Schema(want)));
    let mut no_column = (*emp_target()).clone();
    no_column.columns.push("salary".into());
    let want = "table emp has no column `salary`".to_string();
    assert_eq!(
        h.writer.check(&no_column),
        Err(WriteError::Schema(want.clone()))
    );
    let row = RowChange {
        target: Arc::new(no_column),
        op: RowOp::Upsert,
        values: vec![json!(1), json!("a")],
    };
    assert_eq!(h.writer.write(&[row]), Err(WriteError::Schema(want)));
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
