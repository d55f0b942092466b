//! A `redis.write` output, planned: each record becomes one row whose values are the Redis key and the
//! payload the writer sends (fields of a hash or stream, a JSON document, a member, a score, a value).

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::config::{OnUpdate, RedisDataType, RedisField, RedisOutput};
use crate::expr::Expression;
use crate::transform::path;
use crate::writer::{RedisShape, RowChange, RowOp, TableTarget};

/// How a record becomes a Redis row.
#[derive(Debug, Clone)]
pub struct RedisPlan {
    key: Expression,
    data_type: RedisDataType,
    on_update: OnUpdate,
    member: Option<String>,
    score: Option<String>,
    value: Option<String>,
    mapping: Vec<RedisField>,
}

impl RedisPlan {
    /// The plan and the target its rows name.
    pub fn new(out: &RedisOutput) -> (RedisPlan, Arc<TableTarget>) {
        let target = Arc::new(TableTarget {
            schema: None,
            table: out.key.source().to_string(),
            keys: vec!["key".into()],
            columns: vec!["key".into(), "value".into()],
            redis: Some(RedisShape {
                data_type: out.data_type,
                on_update: out.on_update,
                expire: out.expire,
            }),
        });
        let plan = RedisPlan {
            key: out.key.clone(),
            data_type: out.data_type,
            on_update: out.on_update,
            member: out.member.clone(),
            score: out.score.clone(),
            value: out.value.clone(),
            mapping: out.mapping.clone(),
        };
        (plan, target)
    }

    /// The row of one record: `[key, payload]`. `opcode` (`c`, `u`, `r`, `d`) goes into stream messages.
    /// Reasons name fields and types, never values.
    pub fn row(
        &self,
        target: &Arc<TableTarget>,
        op: RowOp,
        opcode: &str,
        view: &Value,
    ) -> Result<RowChange, String> {
        let key = self.key(view)?;
        let delete = op == RowOp::Delete;
        let payload = match self.data_type {
            RedisDataType::Hash | RedisDataType::Json if delete => Value::Null,
            RedisDataType::String if delete => Value::Null,
            RedisDataType::Hash => {
                Value::Object(self.fields(view, self.on_update == OnUpdate::Merge))
            }
            RedisDataType::Json => self.document(view),
            RedisDataType::Stream => {
                let mut fields = Map::new();
                fields.insert("op_code".into(), Value::String(opcode.to_string()));
                fields.extend(self.fields(view, false));
                Value::Object(fields)
            }
            RedisDataType::Set => Value::String(required(view, self.member.as_deref(), "member")?),
            RedisDataType::SortedSet => {
                let member = required(view, self.member.as_deref(), "member")?;
                let score = if delete {
                    0.0
                } else {
                    score(view, self.score.as_deref().unwrap_or_default())?
                };
                Value::Array(vec![Value::String(member), Value::from(score)])
            }
            RedisDataType::String => Value::String(required(view, self.value.as_deref(), "value")?),
        };
        Ok(RowChange {
            target: target.clone(),
            op,
            values: vec![Value::String(key), payload],
        })
    }

    fn key(&self, view: &Value) -> Result<String, String> {
        let source = self.key.source();
        match self.key.eval(view) {
            Ok(Value::String(s)) if !s.is_empty() => Ok(s),
            Ok(Value::Number(n)) => Ok(n.to_string()),
            Ok(Value::Bool(b)) => Ok(b.to_string()),
            Ok(Value::String(_)) => Err(format!("key expression `{source}` gave an empty key")),
            Ok(Value::Null) => Err(format!("key expression `{source}` gave nothing (null)")),
            Ok(other) => Err(format!(
                "key expression `{source}` must give a string, not {}",
                kind(&other)
            )),
            Err(e) => Err(format!("key expression `{source}`: {e}")),
        }
    }

    /// The mapped fields (every field without a mapping); missing ones are left out unless `keep_null`
    /// (a merge removes them).
    fn fields(&self, view: &Value, keep_null: bool) -> Map<String, Value> {
        let mut out = Map::new();
        if self.mapping.is_empty() {
            if let Value::Object(record) = view {
                for (name, value) in record {
                    if keep_null || !value.is_null() {
                        out.insert(name.clone(), value.clone());
                    }
                }
            }
            return out;
        }
        for f in &self.mapping {
            let value = f.expression.eval(view).unwrap_or(Value::Null);
            if keep_null || !value.is_null() {
                out.insert(f.alias.clone(), value);
            }
        }
        out
    }

    /// A JSON document: aliases that are dotted paths create nesting.
    fn document(&self, view: &Value) -> Value {
        if self.mapping.is_empty() {
            return view.clone();
        }
        let merge = self.on_update == OnUpdate::Merge;
        let mut doc = Value::Object(Map::new());
        for f in &self.mapping {
            let value = f.expression.eval(view).unwrap_or(Value::Null);
            if merge || !value.is_null() {
                path::set(&mut doc, &f.alias, value);
            }
        }
        doc
    }
}

/// The text of the field named by `args.<arg>`; missing or null rejects the record.
fn required(view: &Value, field: Option<&str>, arg: &str) -> Result<String, String> {
    let field = field.unwrap_or_default();
    match path::get(view, field) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::Bool(b)) => Ok(b.to_string()),
        None | Some(Value::Null) => {
            Err(format!("{arg} field `{field}` is missing from the record"))
        }
        Some(other) => Err(format!(
            "{arg} field `{field}` must be a string or number, not {}",
            kind(other)
        )),
    }
}

/// The score of a sorted-set member: a number, or text that reads as one.
fn score(view: &Value, field: &str) -> Result<f64, String> {
    let found = path::get(view, field);
    let number = match found {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        None | Some(Value::Null) => {
            return Err(format!("score field `{field}` is missing from the record"))
        }
        _ => None,
    };
    number.ok_or_else(|| {
        let shown = found.map_or("nothing", kind);
        format!("score field `{field}` must be a number, not {shown}")
    })
}

/// A value's JSON type, for messages (never the value).
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::config::{parse_deployment, Output, SystemResolver};
    use serde_json::json;

    /// The plan of the first output of a job reading `k:*` and writing `with` to a `redis` connection.
    fn plan(with: &str) -> (RedisPlan, Arc<TableTarget>) {
        let config = "connections:\n  target: {type: redis, host: h, port: 6379}\n";
        let job = format!(
            "source:\n  redis: {{key_pattern: 'k:*', trigger: write-behind}}\n\
             output:\n- uses: redis.write\n  with: {with}\n"
        );
        let parsed = parse_deployment(config, &[("j".into(), job)], &SystemResolver::default())
            .unwrap_or_else(|e| panic!("{e:?}"));
        let Output::Redis(out) = &parsed.deployment.jobs[0].outputs[0] else {
            panic!()
        };
        RedisPlan::new(out)
    }

    const KEY: &str = "key: {expression: \"concat(['copy:', id])\", language: jmespath}";

    fn row(
        p: &(RedisPlan, Arc<TableTarget>),
        op: RowOp,
        view: Value,
    ) -> Result<Vec<Value>, String> {
        p.0.row(&p.1, op, if op == RowOp::Delete { "d" } else { "c" }, &view)
            .map(|r| r.values)
    }

    #[test]
    fn hash_rows_carry_the_key_and_the_mapped_fields_under_their_aliases() {
        let p = plan(&format!("{{{KEY}, mapping: [name, {{age: years}}]}}"));
        assert_eq!(p.1.display_name(), "redis hash concat(['copy:', id])");
        let rec = json!({"id": 7, "name": "Ada", "age": "36", "other": "x"});
        assert_eq!(
            row(&p, RowOp::Upsert, rec.clone()),
            Ok(vec![json!("copy:7"), json!({"name": "Ada", "years": "36"})])
        );
        assert_eq!(
            row(&p, RowOp::Delete, rec),
            Ok(vec![json!("copy:7"), Value::Null])
        );
        let all = plan(&format!("{{{KEY}, on_update: merge}}"));
        assert_eq!(
            row(&all, RowOp::Upsert, json!({"id": "1", "gone": null})),
            Ok(vec![json!("copy:1"), json!({"id": "1", "gone": null})])
        );
    }

    #[test]
    fn json_aliases_with_dots_nest() {
        let p = plan(&format!(
            "{{{KEY}, data_type: json, mapping: [{{city: address.city}}, {{zip: address.zip}}, name]}}"
        ));
        assert_eq!(
            row(
                &p,
                RowOp::Upsert,
                json!({"id": 1, "city": "Oslo", "zip": 150, "name": "A"})
            ),
            Ok(vec![
                json!("copy:1"),
                json!({"address": {"city": "Oslo", "zip": 150}, "name": "A"})
            ])
        );
    }

    #[test]
    fn sets_sorted_sets_strings_and_streams() {
        let set = plan(&format!(
            "{{{KEY}, data_type: set, args: {{member: name}}}}"
        ));
        assert_eq!(
            row(&set, RowOp::Delete, json!({"id": 1, "name": "a"})).unwrap()[1],
            json!("a")
        );
        let zset = plan(&format!(
            "{{{KEY}, data_type: sorted_set, args: {{member: name, score: age}}}}"
        ));
        assert_eq!(
            row(
                &zset,
                RowOp::Upsert,
                json!({"id": 1, "name": "a", "age": "4.5"})
            )
            .unwrap()[1],
            json!(["a", 4.5])
        );
        let s = plan(&format!(
            "{{{KEY}, data_type: string, args: {{value: name}}, expire: 60}}"
        ));
        assert_eq!(s.1.redis.unwrap().expire, 60);
        assert_eq!(
            row(&s, RowOp::Upsert, json!({"id": 1, "name": 5})).unwrap()[1],
            json!("5")
        );
        let stream = plan(&format!("{{{KEY}, data_type: stream, mapping: [name]}}"));
        assert_eq!(
            row(&stream, RowOp::Delete, json!({"id": 1, "name": "a"})).unwrap()[1],
            json!({"op_code": "d", "name": "a"})
        );
    }

    #[test]
    fn a_bad_key_or_argument_rejects_the_record_without_its_values() {
        let zset = plan(&format!(
            "{{{KEY}, data_type: sorted_set, args: {{member: name, score: age}}}}"
        ));
        assert_eq!(
            row(
                &zset,
                RowOp::Upsert,
                json!({"id": 1, "name": "a", "age": "secret"})
            ),
            Err("score field `age` must be a number, not text".into())
        );
        assert_eq!(
            row(&zset, RowOp::Upsert, json!({"id": 1, "age": 1})),
            Err("member field `name` is missing from the record".into())
        );
        let by_id = plan("{key: {expression: id, language: jmespath}}");
        assert_eq!(
            row(&by_id, RowOp::Upsert, json!({"name": "a"})),
            Err("key expression `id` gave nothing (null)".into())
        );
        let obj = plan("{key: {expression: address, language: jmespath}}");
        let err = row(&obj, RowOp::Upsert, json!({"address": {"secret": 1}})).unwrap_err();
        assert_eq!(
            err,
            "key expression `address` must give a string, not an object"
        );
    }
}
