//! One output of a job, planned: the expressions of its columns and how a record becomes its rows.

use std::sync::Arc;

use serde_json::Value;

use super::plan_redis::RedisPlan;
use crate::config::{Foreach, LoadStrategy, Output, RedisOutput, RelationalOutput};
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
    /// Set for a `redis.write` output, which plans its rows itself.
    redis: Option<Arc<RedisPlan>>,
}

impl OutputPlan {
    /// Plans a `relational.write` output.
    pub fn relational(out: &RelationalOutput) -> Self {
        let columns = out.upsert_columns();
        OutputPlan {
            connection: out.connection.clone(),
            target: Arc::new(TableTarget {
                redis: None,
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
            redis: None,
        }
    }

    /// Plans a `redis.write` output.
    pub fn redis(out: &RedisOutput) -> Self {
        let (plan, target) = RedisPlan::new(out);
        OutputPlan {
            connection: out.connection.clone(),
            target,
            expressions: Vec::new(),
            key_count: 1,
            foreach: None,
            opcode_field: None,
            load_strategy: LoadStrategy::Upsert,
            redis: Some(Arc::new(plan)),
        }
    }

    /// Plans any output.
    pub fn new(out: &Output) -> Self {
        match out {
            Output::Relational(r) => OutputPlan::relational(r),
            Output::Redis(r) => OutputPlan::redis(r),
        }
    }

    /// The rows for one transformed record, appended to `out` (on an error, `out` may hold some of
    /// them: the caller drops them). `view` is what keys and mapping read (the record, or its `after`
    /// in `full` format); `record` is the whole record; `op` is the change's own operation and
    /// `opcode` its letter (`c`, `u`, `r`, `d`).
    pub fn rows(
        &self,
        op: RowOp,
        opcode: &str,
        view: &Value,
        record: &Value,
        out: &mut Vec<RowChange>,
    ) -> Result<(), String> {
        if let Some(redis) = &self.redis {
            out.push(redis.row(&self.target, op, opcode, view)?);
            return Ok(());
        }
        let op = match &self.opcode_field {
            Some(field) => opcode_of(field, view, record)?,
            None => op,
        };
        let Some(each) = &self.foreach else {
            return self.rows_of(op, view, out);
        };
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
        for item in items {
            let mut ctx = view.clone();
            path::set(&mut ctx, alias, item);
            self.rows_of(op, &ctx, out)?;
        }
        Ok(())
    }

    /// The rows of one context (the view, or one element of a `foreach`) under the load strategy.
    fn rows_of(&self, op: RowOp, ctx: &Value, out: &mut Vec<RowChange>) -> Result<(), String> {
        match (self.load_strategy, op) {
            (LoadStrategy::Append, _) => out.push(self.row(RowOp::Insert, ctx)?),
            (LoadStrategy::Replace, RowOp::Upsert | RowOp::Insert) => {
                out.push(self.row(RowOp::Delete, ctx)?);
                out.push(self.row(RowOp::Insert, ctx)?);
            }
            (_, op) => out.push(self.row(op, ctx)?),
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::super::batch::prepare;
    use super::*;
    use crate::applier::change::{Change, EntryId, KeyValue, Opcode};
    use crate::config::{parse_deployment, Job, SystemResolver};
    use serde_json::json;

    /// A job read from YAML, with its outputs planned.
    fn job(source: &str, rest: &str) -> (Job, Vec<OutputPlan>) {
        let config = "connections:\n  t: {type: sqlite, path: x.db}\n";
        let yaml = format!(
            "source:\n  redis: {{key_pattern: 'k:*', trigger: write-behind{source}}}\n{rest}"
        );
        let parsed = parse_deployment(config, &[("j".into(), yaml)], &SystemResolver::default())
            .unwrap_or_else(|e| panic!("{e:?}"));
        let job = parsed.deployment.jobs[0].clone();
        let plans = job.outputs.iter().map(OutputPlan::new).collect();
        (job, plans)
    }

    fn change(seq: u64, opcode: Opcode, v: Value) -> Change {
        let Value::Object(m) = v else { unreachable!() };
        Change {
            id: EntryId { ms: 1, seq },
            key: format!("k:{seq}"),
            opcode,
            value: KeyValue::Record(m),
        }
    }

    fn rows(p: &crate::applier::batch::Prepared) -> Vec<(usize, RowOp, String, Vec<Value>)> {
        p.rows
            .iter()
            .map(|r| {
                (
                    r.change,
                    r.row.op,
                    r.row.target.table.clone(),
                    r.row.values.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn foreach_makes_one_row_per_element_in_two_tables() {
        let (job, plans) = job(
            "",
            "output:\n\
             - uses: relational.write\n  with: {connection: t, table: orders, keys: [id], mapping: [customer]}\n\
             - uses: relational.write\n  with:\n    connection: t\n    table: order_lines\n    \
             foreach: 'line: lines'\n    keys: [{order_id: id}, {line_no: line.no}]\n    mapping: [{sku: line.sku}]\n",
        );
        let mut c = [
            change(
                1,
                Opcode::Create,
                json!({"id": 7, "customer": "ada", "lines": [{"no": 1, "sku": "a"}, {"no": 2, "sku": "b"}]}),
            ),
            change(2, Opcode::Delete, json!({"id": 8, "lines": [{"no": 1}]})),
        ];
        let p = prepare(&mut c, &job, &plans);
        assert_eq!(
            rows(&p),
            [
                (
                    0,
                    RowOp::Upsert,
                    "orders".into(),
                    vec![json!(7), json!("ada")]
                ),
                (
                    0,
                    RowOp::Upsert,
                    "order_lines".into(),
                    vec![json!(7), json!(1), json!("a")]
                ),
                (
                    0,
                    RowOp::Upsert,
                    "order_lines".into(),
                    vec![json!(7), json!(2), json!("b")]
                ),
                (
                    1,
                    RowOp::Delete,
                    "orders".into(),
                    vec![json!(8), Value::Null]
                ),
                (
                    1,
                    RowOp::Delete,
                    "order_lines".into(),
                    vec![json!(8), json!(1), Value::Null]
                ),
            ]
        );
    }

    #[test]
    fn a_foreach_over_no_array_rejects_the_record() {
        let (job, plans) = job(
            "",
            "output:\n- uses: relational.write\n  with: {connection: t, table: l, foreach: 'x: lines', keys: [{n: x.n}]}\n",
        );
        let p = prepare(
            &mut [change(1, Opcode::Create, json!({"lines": "nope"}))],
            &job,
            &plans,
        );
        assert_eq!(p.rejected, [true]);
        assert_eq!(
            p.dead[0].reason,
            "foreach `x`: the expression must give an array"
        );
        let p = prepare(&mut [change(1, Opcode::Create, json!({}))], &job, &plans);
        assert!(p.rows.is_empty() && p.dead.is_empty(), "no lines, no rows");
    }

    #[test]
    fn load_strategies_append_and_replace() {
        let out = |strategy: &str| {
            format!("output:\n- uses: relational.write\n  with: {{connection: t, table: a, keys: [id], load_strategy: {strategy}}}\n")
        };
        let c = [
            change(1, Opcode::Update, json!({"id": "1"})),
            change(2, Opcode::Delete, json!({"id": "2"})),
        ];
        let (j, plans) = job("", &out("APPEND"));
        // `prepare` takes the values out of the changes: each call gets its own copy.
        let ops: Vec<RowOp> = prepare(&mut c.clone(), &j, &plans)
            .rows
            .iter()
            .map(|r| r.row.op)
            .collect();
        assert_eq!(ops, [RowOp::Insert, RowOp::Insert]);
        let (j, plans) = job("", &out("replace"));
        let ops: Vec<RowOp> = prepare(&mut c.clone(), &j, &plans)
            .rows
            .iter()
            .map(|r| r.row.op)
            .collect();
        assert_eq!(ops, [RowOp::Delete, RowOp::Insert, RowOp::Delete]);
    }

    #[test]
    fn opcode_field_decides_the_operation() {
        let (j, plans) = job(
            "",
            "output:\n- uses: relational.write\n  with: {connection: t, table: a, keys: [id], opcode_field: op}\n",
        );
        let mut c = [
            change(1, Opcode::Create, json!({"id": "1", "op": "d"})),
            change(2, Opcode::Create, json!({"id": "2", "op": "u"})),
            change(3, Opcode::Create, json!({"id": "3", "op": "x"})),
        ];
        let p = prepare(&mut c, &j, &plans);
        let ops: Vec<(usize, RowOp)> = p.rows.iter().map(|r| (r.change, r.row.op)).collect();
        assert_eq!(ops, [(0, RowOp::Delete), (1, RowOp::Upsert)]);
        assert_eq!(
            p.dead[0].reason,
            "opcode field `op` is missing or not one of c, u, r, d"
        );
    }

    #[test]
    fn full_records_carry_key_and_opcode_and_writers_read_after() {
        let (j, plans) = job(
            ", row_format: full",
            "transform:\n- uses: add_field\n  with:\n    fields:\n      - {field: after.redis_key, expression: key.key, language: jmespath}\n      \
             - {field: after.op, expression: \"opcode || '!'\", language: sql}\n\
             output:\n- uses: relational.write\n  with: {connection: t, table: a, keys: [id], mapping: [redis_key, op, {up: upper(name)}]}\n",
        );
        let p = prepare(
            &mut [change(1, Opcode::Create, json!({"id": "1", "name": "ada"}))],
            &j,
            &plans,
        );
        assert_eq!(
            rows(&p),
            [(
                0,
                RowOp::Upsert,
                "a".into(),
                vec![json!("1"), json!("k:1"), json!("c!"), json!("ADA")]
            )]
        );
    }

    #[test]
    fn filters_count_and_expression_errors_reject_one_record() {
        let (j, plans) = job(
            "",
            "transform:\n- uses: filter\n  with: {expression: age > 18, language: sql}\n\
             - uses: add_field\n  with: {field: n, expression: sum(tags), language: jmespath}\n\
             output:\n- uses: relational.write\n  with: {connection: t, table: a, keys: [id], mapping: [n]}\n",
        );
        let mut c = [
            change(
                1,
                Opcode::Create,
                json!({"id": "1", "age": "12", "tags": [1]}),
            ),
            change(
                2,
                Opcode::Create,
                json!({"id": "2", "age": "30", "tags": "secret"}),
            ),
            change(
                3,
                Opcode::Create,
                json!({"id": "3", "age": "40", "tags": [1, 2]}),
            ),
        ];
        let p = prepare(&mut c, &j, &plans);
        assert_eq!(p.filtered, [true, false, false]);
        assert_eq!(p.rejected, [false, true, false]);
        assert_eq!(
            p.dead[0].reason,
            "transform[1] (add_field): field `n`: argument 1 must be array[number], not string"
        );
        assert!(!p.dead[0].reason.contains("secret"));
        assert_eq!(
            rows(&p),
            [(2, RowOp::Upsert, "a".into(), vec![json!("3"), json!(3.0)])]
        );
    }
}
