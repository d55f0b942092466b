//! `delete_fields` and `upsert_fields`: a change planned from only those fields of the value gives
//! the same rows as one planned from every field. Test-only: its `mod` line carries #[cfg(test)].

use super::*;
use crate::applier::change::EntryId;
use crate::config::{ColumnMapping, LoadStrategy, Output, RelationalOutput};
use crate::expr::{Expression, Language};
use serde_json::json;

fn relational(table: &str, keys: Vec<ColumnMapping>, strategy: LoadStrategy) -> RelationalOutput {
    RelationalOutput {
        connection: "pg".into(),
        schema: None,
        table: table.into(),
        keys,
        mapping: vec![
            ColumnMapping::field("name", "name"),
            ColumnMapping::field("city", "town"),
        ],
        foreach: None,
        opcode_field: None,
        load_strategy: strategy,
    }
}

fn job(outputs: Vec<RelationalOutput>) -> Job {
    Job {
        name: "emp".into(),
        key_pattern: "emp:*".into(),
        exclude_commands: vec![],
        row_format: RowFormat::DataOnly,
        propagate_expired: false,
        transforms: vec![],
        outputs: outputs.into_iter().map(Output::Relational).collect(),
    }
}

/// The rows of a delete of `value` (as `(table, values)`), and whether it was rejected.
fn delete_rows(job: &Job, value: serde_json::Value) -> (Vec<(String, Vec<Value>)>, bool) {
    rows_of(job, Opcode::Delete, value)
}

/// The rows of a change of `value` (as `(table, values)`), and whether it was rejected.
fn rows_of(
    job: &Job,
    opcode: Opcode,
    value: serde_json::Value,
) -> (Vec<(String, Vec<Value>)>, bool) {
    let serde_json::Value::Object(m) = value else {
        unreachable!()
    };
    let plans: Vec<OutputPlan> = job.outputs.iter().map(OutputPlan::new).collect();
    let mut changes = [Change {
        id: EntryId { ms: 1, seq: 1 },
        key: "emp:1".into(),
        opcode,
        value: KeyValue::Record(m),
    }];
    let p = prepare(&mut changes, job, &plans);
    let rows = p
        .rows
        .iter()
        .map(|r| (r.row.target.table.clone(), r.row.values.clone()))
        .collect();
    (rows, p.rejected[0])
}

/// Only `fields` of `full`.
fn only(full: &serde_json::Value, fields: &[String]) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for f in fields {
        if let Some(v) = full.get(f) {
            m.insert(f.clone(), v.clone());
        }
    }
    serde_json::Value::Object(m)
}

#[test]
fn a_delete_needs_only_its_key_fields_and_plans_the_same_rows_from_them() {
    let full = json!({"id": "7", "code": "x9", "name": "Ann", "town": "Oslo", "other": "big"});
    let jobs = [
        job(vec![relational(
            "emp",
            vec![ColumnMapping::field("id", "id")],
            LoadStrategy::Upsert,
        )]),
        // Two outputs, a key read from a field of another name, the replace strategy.
        job(vec![
            relational(
                "emp",
                vec![ColumnMapping::field("id", "id")],
                LoadStrategy::Upsert,
            ),
            relational(
                "codes",
                vec![
                    ColumnMapping::field("code_id", "code"),
                    ColumnMapping::field("id", "id"),
                ],
                LoadStrategy::Replace,
            ),
        ]),
    ];
    let expected = [vec!["id"], vec!["id", "code"]];
    for (job, expected) in jobs.iter().zip(expected) {
        let fields = delete_fields(job).expect("keys only");
        assert_eq!(fields, expected);
        let (rows, rejected) = delete_rows(job, full.clone());
        assert!(!rejected && !rows.is_empty());
        assert_eq!(delete_rows(job, only(&full, &fields)), (rows, false));
    }
    // A hash without the key fields is refused either way.
    let job = &jobs[0];
    let no_key = json!({"name": "Ann"});
    let fields = delete_fields(job).unwrap();
    assert!(delete_rows(job, no_key.clone()).1);
    assert!(delete_rows(job, only(&no_key, &fields)).1);
}

#[test]
fn a_job_that_may_read_other_fields_on_delete_reads_them_all() {
    let key = || vec![ColumnMapping::field("id", "id")];
    let append = job(vec![relational("log", key(), LoadStrategy::Append)]);
    assert_eq!(delete_fields(&append), None);

    let mut opcode = job(vec![relational("emp", key(), LoadStrategy::Upsert)]);
    if let Output::Relational(r) = &mut opcode.outputs[0] {
        r.opcode_field = Some("op".into());
    }
    assert_eq!(delete_fields(&opcode), None);

    let computed = job(vec![relational(
        "emp",
        vec![ColumnMapping {
            column: "id".into(),
            expression: Expression::compile(Language::Jmespath, "join('-', [a, b])").unwrap(),
        }],
        LoadStrategy::Upsert,
    )]);
    assert_eq!(delete_fields(&computed), None);

    let mut full = job(vec![relational("emp", key(), LoadStrategy::Upsert)]);
    full.row_format = RowFormat::Full;
    assert_eq!(delete_fields(&full), None);

    let mut transformed = job(vec![relational("emp", key(), LoadStrategy::Upsert)]);
    transformed.transforms = vec![crate::transform::Block::RemoveField(
        crate::transform::RemoveField {
            fields: vec!["town".into()],
        },
    )];
    assert_eq!(delete_fields(&transformed), None);
}

#[test]
fn an_upsert_needs_only_its_key_and_mapped_fields_and_plans_the_same_rows_from_them() {
    let full = json!({"id": "7", "code": "x9", "name": "Ann", "town": "Oslo", "other": "big"});
    let key = || vec![ColumnMapping::field("id", "id")];
    let jobs = [
        job(vec![relational("emp", key(), LoadStrategy::Upsert)]),
        // Two outputs, a key read from a field of another name; the append strategy writes the same
        // columns.
        job(vec![
            relational("emp", key(), LoadStrategy::Append),
            relational(
                "codes",
                vec![ColumnMapping::field("code_id", "code")],
                LoadStrategy::Replace,
            ),
        ]),
    ];
    let expected = [
        vec!["id", "name", "town"],
        vec!["id", "name", "town", "code"],
    ];
    for (job, expected) in jobs.iter().zip(expected) {
        let fields = upsert_fields(job).expect("plain fields");
        assert_eq!(fields, expected);
        let (rows, rejected) = rows_of(job, Opcode::Update, full.clone());
        assert!(!rejected && !rows.is_empty());
        assert_eq!(
            rows_of(job, Opcode::Update, only(&full, &fields)),
            (rows, false)
        );
    }
    // A hash without its key field is refused either way.
    let no_key = json!({"name": "Ann", "other": "big"});
    let fields = upsert_fields(&jobs[0]).unwrap();
    assert!(rows_of(&jobs[0], Opcode::Update, no_key.clone()).1);
    assert!(rows_of(&jobs[0], Opcode::Update, only(&no_key, &fields)).1);
}

#[test]
fn a_job_that_may_read_other_fields_on_upsert_reads_them_all() {
    let key = || vec![ColumnMapping::field("id", "id")];
    let mut opcode = job(vec![relational("emp", key(), LoadStrategy::Upsert)]);
    if let Output::Relational(r) = &mut opcode.outputs[0] {
        r.opcode_field = Some("op".into());
    }
    assert_eq!(upsert_fields(&opcode), None);

    let mut computed = job(vec![relational("emp", key(), LoadStrategy::Upsert)]);
    if let Output::Relational(r) = &mut computed.outputs[0] {
        r.mapping.push(ColumnMapping {
            column: "full".into(),
            expression: Expression::compile(Language::Jmespath, "join(' ', [name, town])").unwrap(),
        });
    }
    assert_eq!(upsert_fields(&computed), None);

    let mut full = job(vec![relational("emp", key(), LoadStrategy::Upsert)]);
    full.row_format = RowFormat::Full;
    assert_eq!(upsert_fields(&full), None);

    let mut transformed = job(vec![relational("emp", key(), LoadStrategy::Upsert)]);
    transformed.transforms = vec![crate::transform::Block::RemoveField(
        crate::transform::RemoveField {
            fields: vec!["town".into()],
        },
    )];
    assert_eq!(upsert_fields(&transformed), None);
}
