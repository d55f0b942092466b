//! Test-only: its `mod` line carries #[cfg(test)].
//! The conformance suite every writer passes, SQL tables and every Redis data type alike: insert,
//! update, delete with per-key order, replay of the same batch, a record refused in the middle of a
//! batch, a transient failure then recovery. SQL writers also pass the cases of `relational`
//! (conversions, constraints, checkpoints, schema errors).
//!
//! Each target's tests supply a [`Harness`]: a writer on an empty target, the [`Shape`] its records
//! take there, and a read-back of its state; the suite writes [`Change`]s and compares what it reads
//! back with what the shape's rules say the target must hold ([`shapes::shown`]). Instantiate it with
//! [`conformance_tests!`].

pub mod relational;
pub mod shapes;

pub use relational::EMP_DDL;
pub use shapes::{row, row_at, shown, Change, Emp, Shape};

use crate::writer::{RowChange, WriteError, WriteOutcome, Writer};

/// Rows read back: each column as text, `None` for NULL.
pub type Rows = Vec<Vec<Option<String>>>;

/// What writing a poisoned record does.
pub enum Poison {
    /// The target refuses this row with this reason (compared with type names spelled `integer`); the
    /// record is not written.
    Refused(RowChange, String),
    /// The target cannot refuse this record (its type overwrites whatever holds the key): the row is
    /// written as the record itself.
    Written(RowChange),
}

/// A writer under test and what the suite needs of its target.
pub struct Harness {
    /// The writer, opened on an empty target (for tables: a database holding [`EMP_DDL`]).
    pub writer: Box<dyn Writer>,
    /// How records look in this target.
    pub shape: Shape,
    /// Reads the target's state on a separate connection, as [`shapes::shown`] spells it for
    /// [`Harness::shape`] (any order: the suite sorts keyed shapes by id).
    pub state: Box<dyn Fn() -> Rows>,
    /// Opens a new writer on the same target (the applier drops a writer after an error).
    pub connect: Box<dyn Fn() -> Box<dyn Writer>>,
    /// Arranges the target so that writing this record fails for that record alone (or cannot fail),
    /// and gives its row.
    pub poison: Box<dyn FnMut(&Emp) -> Poison>,
    /// Starts (`true`) or ends (`false`) an outage that the writer sees as a transient error;
    /// `None` where the test cannot cause one (the case is then not instantiated).
    pub outage: Option<Box<dyn FnMut(bool)>>,
    /// What the database puts before a missing table's name in messages (`public.` or nothing).
    pub default_schema_prefix: &'static str,
}

impl Harness {
    /// A harness for the table `emp` ([`EMP_DDL`]), whose rows `read` reads with a query.
    pub fn table(
        writer: Box<dyn Writer>,
        read: impl Fn(&str) -> Rows + 'static,
        connect: impl Fn() -> Box<dyn Writer> + 'static,
        default_schema_prefix: &'static str,
    ) -> Harness {
        Harness {
            writer,
            shape: Shape::Table,
            state: Box::new(move || read(relational::EMP_ROWS)),
            connect: Box::new(connect),
            poison: Box::new(relational::bad_age),
            outage: None,
            default_schema_prefix,
        }
    }

    /// The same harness with an outage hook.
    pub fn with_outage(mut self, outage: impl FnMut(bool) + 'static) -> Harness {
        self.outage = Some(Box::new(outage));
        self
    }

    /// The state read back, keyed shapes sorted by id.
    pub fn state(&self) -> Rows {
        let mut rows = (self.state)();
        if self.shape.is_keyed() {
            rows.sort_by_key(|r| {
                r.first()
                    .cloned()
                    .flatten()
                    .and_then(|id| id.parse::<i64>().ok())
            });
        }
        rows
    }

    /// Writes `changes` as one batch, expecting every row written, and records them in `applied`.
    fn write_all(&mut self, changes: &[Change], applied: &mut Vec<Change>) {
        let rows: Vec<RowChange> = changes.iter().map(|c| row(self.shape, c)).collect();
        assert_eq!(self.writer.write(&rows), Ok(WriteOutcome::default()));
        applied.extend_from_slice(changes);
    }

    /// Checks that the target holds what `applied` leaves by the shape's rules.
    fn assert_holds(&self, applied: &[Change]) {
        assert_eq!(
            self.state(),
            shown(self.shape, applied),
            "after {applied:?}"
        );
    }
}

/// Instantiates the suite as `#[test]` functions in module `$module`, given
/// `$harness: fn(test_name: &str) -> Harness`; `relational` adds the SQL cases, `no_outage` leaves out
/// the transient case (targets whose test cannot cause an outage).
macro_rules! conformance_tests {
    ($module:ident, $harness:expr) => {
        mod $module {
            crate::writer::conformance::generic_cases!($harness);
            crate::writer::conformance::outage_case!($harness);
        }
    };
    ($module:ident, $harness:expr, relational) => {
        mod $module {
            crate::writer::conformance::generic_cases!($harness);
            crate::writer::conformance::outage_case!($harness);
            crate::writer::conformance::relational_cases!($harness);
        }
    };
}
pub(crate) use conformance_tests;

/// The cases every writer passes.
macro_rules! generic_cases {
    ($harness:expr) => {
        use crate::writer::conformance as suite;
        #[test]
        fn upsert_inserts_then_updates() {
            suite::upsert_inserts_then_updates(($harness)("c_upsert"));
        }
        #[test]
        fn delete_removes_and_per_key_order_holds() {
            suite::delete_removes_and_per_key_order_holds(($harness)("c_delete"));
        }
        #[test]
        fn replaying_a_batch_gives_the_types_documented_state() {
            suite::replaying_a_batch_gives_the_types_documented_state(($harness)("c_replay"));
        }
        #[test]
        fn a_refused_record_is_rejected_alone_and_the_rest_written() {
            suite::a_refused_record_is_rejected_alone_and_the_rest_written(($harness)("c_poison"));
        }
    };
}
pub(crate) use generic_cases;

/// The transient-failure case.
macro_rules! outage_case {
    ($harness:expr) => {
        #[test]
        fn a_transient_failure_then_recovery() {
            suite::a_transient_failure_then_recovery(($harness)("c_outage"));
        }
    };
}
pub(crate) use outage_case;

/// The cases of SQL writers only.
macro_rules! relational_cases {
    ($harness:expr) => {
        #[test]
        fn values_convert_from_text_typed_json_and_missing_fields() {
            suite::relational::values_convert_from_text_typed_json_and_missing_fields(($harness)(
                "c_convert",
            ));
        }
        #[test]
        fn a_null_key_rejects_only_its_row() {
            suite::relational::a_null_key_rejects_only_its_row(($harness)("c_nullkey"));
        }
        #[test]
        fn a_constraint_violation_commits_nothing() {
            suite::relational::a_constraint_violation_commits_nothing(($harness)("c_constraint"));
        }
        #[test]
        fn checkpoints_commit_with_their_batch() {
            suite::relational::checkpoints_commit_with_their_batch(($harness)("c_checkpoint"));
        }
        #[test]
        fn missing_table_and_column_are_schema_errors() {
            suite::relational::missing_table_and_column_are_schema_errors(($harness)("c_schema"));
        }
    };
}
pub(crate) use relational_cases;

fn emp(id: i64, name: &'static str, age: i64) -> Emp {
    Emp { id, name, age }
}

/// A first write inserts, a second updates one record and inserts another.
pub fn upsert_inserts_then_updates(mut h: Harness) {
    let mut applied = Vec::new();
    h.write_all(&[Change::Put(emp(1, "ann", 30))], &mut applied);
    h.assert_holds(&applied);
    h.write_all(
        &[
            Change::Put(emp(1, "anne", 31)),
            Change::Put(emp(2, "bob", 40)),
        ],
        &mut applied,
    );
    h.assert_holds(&applied);
    assert!(h.state().len() >= 2, "{:?}", h.state());
}

/// Deletes remove by key (a missing key is no error), and a delete then an upsert of the same key in
/// one batch (a RENAME onto the same row) leaves the record present.
pub fn delete_removes_and_per_key_order_holds(mut h: Harness) {
    let mut applied = Vec::new();
    let (a, b) = (emp(1, "a", 1), emp(2, "b", 2));
    h.write_all(
        &[Change::Put(a.clone()), Change::Put(b.clone())],
        &mut applied,
    );
    h.write_all(
        &[
            Change::Del(b),
            Change::Del(a.clone()),
            Change::Put(emp(1, "again", 3)),
        ],
        &mut applied,
    );
    h.assert_holds(&applied);
    h.write_all(
        &[
            Change::Del(emp(1, "again", 3)),
            Change::Del(emp(99, "x", 0)),
        ],
        &mut applied,
    );
    h.assert_holds(&applied);
    if h.shape.is_keyed() {
        assert!(h.state().is_empty(), "{:?}", h.state());
    }
}

/// At-least-once delivery: the same batch written twice. Keyed targets converge to the same state;
/// a stream appends the batch's messages again (SPEC: streams always append).
pub fn replaying_a_batch_gives_the_types_documented_state(mut h: Harness) {
    let mut applied = Vec::new();
    let batch = [
        Change::Put(emp(1, "a", 1)),
        Change::Put(emp(2, "b", 2)),
        Change::Del(emp(1, "a", 1)),
        Change::Put(emp(2, "b2", 3)),
    ];
    h.write_all(&batch, &mut applied);
    let once = h.state();
    h.write_all(&batch, &mut applied);
    h.assert_holds(&applied);
    if h.shape.is_keyed() {
        assert_eq!(h.state(), once);
    } else {
        assert_eq!(h.state().len(), 2 * once.len());
        assert_eq!(h.state()[..once.len()], once[..]);
    }
}

/// A record the target refuses is listed with its reason and the others of the batch are written;
/// a type that cannot refuse it writes it.
pub fn a_refused_record_is_rejected_alone_and_the_rest_written(mut h: Harness) {
    let mut applied = Vec::new();
    let bad = emp(2, "bad", 2);
    let poison = (h.poison)(&bad);
    let (poisoned, refused) = match poison {
        Poison::Refused(row, reason) => (row, Some(reason)),
        Poison::Written(row) => (row, None),
    };
    let rows = vec![
        row(h.shape, &Change::Put(emp(1, "a", 1))),
        poisoned,
        row(h.shape, &Change::Put(emp(3, "c", 3))),
    ];
    let outcome = h.writer.write(&rows).map(|o| {
        o.rejected
            .into_iter()
            .map(|(i, r)| (i, relational::same_type_name(&r)))
            .collect::<Vec<_>>()
    });
    applied.push(Change::Put(emp(1, "a", 1)));
    match refused {
        Some(reason) => assert_eq!(outcome, Ok(vec![(1, reason)])),
        None => {
            assert_eq!(outcome, Ok(vec![]));
            applied.push(Change::Put(bad));
        }
    }
    applied.push(Change::Put(emp(3, "c", 3)));
    h.assert_holds(&applied);
    // The writer goes on with the next batch.
    h.write_all(&[Change::Put(emp(4, "d", 4))], &mut applied);
    h.assert_holds(&applied);
}

/// During an outage a batch fails with a retryable transient error; after it a new writer (the
/// applier reconnects after an error) writes the same batch.
pub fn a_transient_failure_then_recovery(mut h: Harness) {
    let mut applied = Vec::new();
    h.write_all(&[Change::Put(emp(1, "a", 1))], &mut applied);
    let Some(mut outage) = h.outage.take() else {
        panic!("this harness has no outage: leave the case out");
    };
    let batch = [Change::Put(emp(2, "b", 2)), Change::Del(emp(1, "a", 1))];
    let rows: Vec<RowChange> = batch.iter().map(|c| row(h.shape, c)).collect();
    outage(true);
    let err = h.writer.write(&rows);
    outage(false);
    assert!(matches!(err, Err(WriteError::Transient(_))), "{err:?}");
    assert!(err.is_err_and(|e| e.is_retryable()));
    h.writer = (h.connect)();
    h.write_all(&batch, &mut applied);
    h.assert_holds(&applied);
    assert!(!h.state().is_empty());
}
