//! The Redis commands of one planned row, per data type, and their shape with placeholders for
//! `RDI.TRACE`.

use redis::Cmd;
use serde_json::Value;

use crate::config::{OnUpdate, RedisDataType};
use crate::writer::{RowChange, RowOp};

/// One command as words: the name, then key and arguments, each flagged `true` when it is a record
/// value (a `?` in statements).
pub type Words = Vec<(String, bool)>;

/// The commands a row becomes, each as its words (`(text, is_value)`). Fails when the row is not a
/// Redis row (a planning bug) with a reason that holds no value.
pub fn words(row: &RowChange) -> Result<Vec<Words>, String> {
    let Some(shape) = row.target.redis else {
        return Err("not a redis.write row".into());
    };
    let (Some(Value::String(key)), Some(payload)) = (row.values.first(), row.values.get(1)) else {
        return Err("the row has no key".into());
    };
    let w = |s: &str| (s.to_string(), false);
    let v = |s: String| (s, true);
    let delete = row.op == RowOp::Delete;
    let mut out: Vec<Words> = Vec::new();
    let mut written = !delete;
    match (shape.data_type, delete) {
        (RedisDataType::Hash | RedisDataType::Json | RedisDataType::String, true) => {
            out.push(vec![w("DEL"), w(key)]);
        }
        (RedisDataType::Hash, false) => {
            let Value::Object(fields) = payload else {
                return Err("a hash row needs an object of fields".into());
            };
            if shape.on_update == OnUpdate::Replace {
                out.push(vec![w("DEL"), w(key)]);
            }
            let gone: Vec<&String> = fields
                .iter()
                .filter(|(_, v)| v.is_null())
                .map(|(k, _)| k)
                .collect();
            if !gone.is_empty() && shape.on_update == OnUpdate::Merge {
                let mut hdel = vec![w("HDEL"), w(key)];
                hdel.extend(gone.into_iter().map(|f| w(f)));
                out.push(hdel);
            }
            let mut hset = vec![w("HSET"), w(key)];
            for (f, value) in fields.iter().filter(|(_, v)| !v.is_null()) {
                hset.push(w(f));
                hset.push(v(text(value)));
            }
            written = hset.len() > 2;
            if written {
                out.push(hset);
            }
        }
        (RedisDataType::Json, false) => {
            let verb = match shape.on_update {
                OnUpdate::Replace => "JSON.SET",
                OnUpdate::Merge => "JSON.MERGE",
            };
            out.push(vec![w(verb), w(key), w("$"), v(payload.to_string())]);
        }
        (RedisDataType::Set, _) => {
            let verb = if delete { "SREM" } else { "SADD" };
            out.push(vec![w(verb), w(key), v(text(payload))]);
        }
        (RedisDataType::SortedSet, _) => {
            let (Some(member), Some(score)) = (payload.get(0), payload.get(1)) else {
                return Err("a sorted_set row needs a member and a score".into());
            };
            out.push(match delete {
                true => vec![w("ZREM"), w(key), v(text(member))],
                false => vec![w("ZADD"), w(key), v(text(score)), v(text(member))],
            });
        }
        (RedisDataType::String, false) => {
            let mut set = vec![w("SET"), w(key), v(text(payload))];
            if shape.expire > 0 {
                set.extend([w("EX"), w(&shape.expire.to_string())]);
            }
            out.push(set);
            written = false;
        }
        (RedisDataType::Stream, _) => {
            let Value::Object(fields) = payload else {
                return Err("a stream row needs an object of fields".into());
            };
            let mut xadd = vec![w("XADD"), w(key), w("*")];
            for (f, value) in fields {
                xadd.push(w(f));
                xadd.push(v(text(value)));
            }
            out.push(xadd);
            written = true;
        }
    }
    if written && shape.expire > 0 {
        out.push(vec![w("EXPIRE"), w(key), w(&shape.expire.to_string())]);
    }
    Ok(out)
}

/// The commands of a row, ready to send.
pub fn commands(row: &RowChange) -> Result<Vec<Cmd>, String> {
    Ok(words(row)?
        .into_iter()
        .map(|words| {
            let mut iter = words.into_iter();
            let mut cmd = redis::cmd(
                iter.next()
                    .map(|(name, _)| name)
                    .unwrap_or_default()
                    .as_str(),
            );
            for (word, _) in iter {
                cmd.arg(word);
            }
            cmd
        })
        .collect())
}

/// The commands of a row with `?` for every value.
pub fn statement(row: &RowChange) -> String {
    match words(row) {
        Ok(commands) => commands
            .iter()
            .map(|words| {
                words
                    .iter()
                    .map(|(word, value)| if *value { "?" } else { word.as_str() })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join("; "),
        Err(_) => String::new(),
    }
}

/// A value as Redis text: strings as they are, numbers and booleans spelled out, JSON otherwise.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::writer::{RedisShape, TableTarget};

    fn row(
        data_type: RedisDataType,
        on_update: OnUpdate,
        expire: u64,
        op: RowOp,
        payload: Value,
    ) -> RowChange {
        RowChange {
            target: Arc::new(TableTarget {
                schema: None,
                table: "k".into(),
                keys: vec!["key".into()],
                columns: vec!["key".into(), "value".into()],
                redis: Some(RedisShape {
                    data_type,
                    on_update,
                    expire,
                }),
            }),
            op,
            values: vec![json!("k:1"), payload],
        }
    }

    use OnUpdate::{Merge, Replace};
    use RedisDataType as T;
    use RowOp::{Delete, Upsert};

    #[test]
    fn hashes_replace_or_merge_and_expire() {
        let fields = json!({"name": "Ada", "age": 36, "gone": null});
        let replace = row(T::Hash, Replace, 60, Upsert, fields.clone());
        assert_eq!(
            statement(&replace),
            "DEL k:1; HSET k:1 name ? age ?; EXPIRE k:1 60"
        );
        let merge = row(T::Hash, Merge, 0, Upsert, fields);
        assert_eq!(statement(&merge), "HDEL k:1 gone; HSET k:1 name ? age ?");
        assert_eq!(
            statement(&row(T::Hash, Merge, 9, Delete, Value::Null)),
            "DEL k:1"
        );
        assert_eq!(
            statement(&row(T::Hash, Replace, 9, Upsert, json!({}))),
            "DEL k:1"
        );
        let sent: Vec<Vec<u8>> = commands(&replace)
            .unwrap()
            .iter()
            .map(|c| c.get_packed_command())
            .collect();
        assert!(String::from_utf8_lossy(&sent[1]).contains("Ada"));
        assert!(String::from_utf8_lossy(&sent[1]).contains("\r\n36\r\n"));
    }

    #[test]
    fn other_types_use_their_own_commands() {
        let doc = json!({"a": {"b": 1}});
        assert_eq!(
            statement(&row(T::Json, Replace, 0, Upsert, doc.clone())),
            "JSON.SET k:1 $ ?"
        );
        assert_eq!(
            statement(&row(T::Json, Merge, 5, Upsert, doc)),
            "JSON.MERGE k:1 $ ?; EXPIRE k:1 5"
        );
        assert_eq!(
            statement(&row(T::Set, Replace, 0, Upsert, json!("m"))),
            "SADD k:1 ?"
        );
        assert_eq!(
            statement(&row(T::Set, Replace, 0, Delete, json!("m"))),
            "SREM k:1 ?"
        );
        let z = json!(["m", 1.5]);
        assert_eq!(
            statement(&row(T::SortedSet, Replace, 0, Upsert, z.clone())),
            "ZADD k:1 ? ?"
        );
        assert_eq!(
            statement(&row(T::SortedSet, Replace, 0, Delete, z)),
            "ZREM k:1 ?"
        );
        assert_eq!(
            statement(&row(T::String, Merge, 7, Upsert, json!("v"))),
            "SET k:1 ? EX 7"
        );
        assert_eq!(
            statement(&row(T::String, Merge, 7, Delete, Value::Null)),
            "DEL k:1"
        );
        let msg = json!({"op_code": "d", "name": "a"});
        assert_eq!(
            statement(&row(T::Stream, Merge, 0, Delete, msg)),
            "XADD k:1 * op_code ? name ?"
        );
    }

    #[test]
    fn values_become_text_and_bad_rows_say_why_without_values() {
        assert_eq!(text(&json!(1.5)), "1.5");
        assert_eq!(text(&json!(true)), "true");
        assert_eq!(text(&json!({"a": [1]})), "{\"a\":[1]}");
        let bad = row(T::SortedSet, Replace, 0, Upsert, json!("secret"));
        assert_eq!(
            words(&bad).unwrap_err(),
            "a sorted_set row needs a member and a score"
        );
    }
}
