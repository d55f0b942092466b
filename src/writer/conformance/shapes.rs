//! Test-only: its `mod` line carries #[cfg(test)].
//! The suite's records, the rows they become in each kind of target, and the state each kind must hold
//! after a list of changes: the documented rules of SQL tables and of each `redis.write` data type
//! (SPEC §3: deletes remove the key or the member; strings and hash/JSON replace; streams append a
//! message with `op_code` for every change, replays included).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};

use super::Rows;
use crate::config::{OnUpdate, RedisDataType};
use crate::writer::{RedisShape, RowChange, RowOp, TableTarget};

/// One record of the suite: an employee.
#[derive(Debug, Clone, PartialEq)]
pub struct Emp {
    /// The key.
    pub id: i64,
    /// A text field.
    pub name: &'static str,
    /// A number field.
    pub age: i64,
}

/// A change the suite writes. A delete carries the record as it was last written (set and sorted
/// set deletes remove its member, stream deletes append it).
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Create or update the record.
    Put(Emp),
    /// Delete the record.
    Del(Emp),
}

impl Change {
    fn emp(&self) -> &Emp {
        match self {
            Change::Put(e) | Change::Del(e) => e,
        }
    }
}

/// How records look in a target, and so what its read-back gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The table `emp (id, name, email, age)`: a row `[id, name, email, age]` per live record, email
    /// NULL.
    Table,
    /// A `redis.write` output of this type and update mode. Keys: `emp:<id>` for hash, JSON and
    /// string; `emps` for the collections. Read back as: hash and JSON `[id, name, age]`; string
    /// `[id, name]` (the value is the name); set `[id]` (the member is the id); sorted set
    /// `[id, age]` (member id, score age), one row per live record; stream one `[op_code, id, name,
    /// age]` per message, in stream order.
    Redis(RedisDataType, OnUpdate),
}

impl Shape {
    /// Whether the target keeps one entry per record (everything but streams).
    pub fn is_keyed(self) -> bool {
        !matches!(self, Shape::Redis(RedisDataType::Stream, _))
    }

    /// The Redis key a record goes to.
    pub fn key(self, id: i64) -> String {
        match self {
            Shape::Redis(
                RedisDataType::Set | RedisDataType::SortedSet | RedisDataType::Stream,
                _,
            ) => "emps".into(),
            _ => format!("emp:{id}"),
        }
    }
}

fn table_target() -> TableTarget {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    TableTarget {
        redis: None,
        schema: None,
        table: "emp".into(),
        keys: strings(&["id"]),
        columns: strings(&["id", "name", "email", "age"]),
    }
}

/// The `emp` table as a job's output declares it.
pub fn emp_target() -> Arc<TableTarget> {
    Arc::new(table_target())
}

/// The row of a change.
pub fn row(shape: Shape, change: &Change) -> RowChange {
    row_at(shape, change, &shape.key(change.emp().id))
}

/// The row of a change written to Redis key `key` (ignored for tables).
pub fn row_at(shape: Shape, change: &Change, key: &str) -> RowChange {
    let e = change.emp();
    let delete = matches!(change, Change::Del(_));
    let op = if delete { RowOp::Delete } else { RowOp::Upsert };
    let Shape::Redis(data_type, on_update) = shape else {
        // As a hash source gives them: text on upsert; a delete's key as a JSON number, which must
        // find the same row.
        let values = match delete {
            true => vec![json!(e.id)],
            false => vec![
                json!(e.id.to_string()),
                json!(e.name),
                Value::Null,
                json!(e.age.to_string()),
            ],
        };
        return RowChange {
            target: emp_target(),
            op,
            values,
        };
    };
    let payload = match (data_type, delete) {
        (RedisDataType::Hash | RedisDataType::Json | RedisDataType::String, true) => Value::Null,
        (RedisDataType::Hash | RedisDataType::Json, false) => json!({"name": e.name, "age": e.age}),
        (RedisDataType::String, false) => json!(e.name),
        (RedisDataType::Set, _) => json!(e.id.to_string()),
        (RedisDataType::SortedSet, _) => json!([e.id.to_string(), if delete { 0 } else { e.age }]),
        (RedisDataType::Stream, _) => json!({
            "op_code": if delete { "d" } else { "c" },
            "id": e.id,
            "name": e.name,
            "age": e.age,
        }),
    };
    RowChange {
        target: Arc::new(TableTarget {
            schema: None,
            table: "emp".into(),
            keys: vec!["key".into()],
            columns: vec!["key".into(), "value".into()],
            redis: Some(RedisShape {
                data_type,
                on_update,
                expire: 0,
            }),
        }),
        op,
        values: vec![json!(key), payload],
    }
}

/// What a target of `shape` holds after `applied` (in order, replays included).
pub fn shown(shape: Shape, applied: &[Change]) -> Rows {
    let text = |v: &dyn ToString| Some(v.to_string());
    if !shape.is_keyed() {
        return applied
            .iter()
            .map(|c| {
                let e = c.emp();
                let op = if matches!(c, Change::Del(_)) {
                    "d"
                } else {
                    "c"
                };
                vec![text(&op), text(&e.id), text(&e.name), text(&e.age)]
            })
            .collect();
    }
    let mut live: BTreeMap<i64, &Emp> = BTreeMap::new();
    for change in applied {
        match change {
            Change::Put(e) => live.insert(e.id, e),
            Change::Del(e) => live.remove(&e.id),
        };
    }
    live.values()
        .map(|e| match shape {
            Shape::Table => vec![text(&e.id), text(&e.name), None, text(&e.age)],
            Shape::Redis(RedisDataType::String, _) => vec![text(&e.id), text(&e.name)],
            Shape::Redis(RedisDataType::Set, _) => vec![text(&e.id)],
            Shape::Redis(RedisDataType::SortedSet, _) => vec![text(&e.id), text(&e.age)],
            Shape::Redis(..) => vec![text(&e.id), text(&e.name), text(&e.age)],
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<Option<String>> {
        v.iter().map(|x| Some(x.to_string())).collect()
    }

    #[test]
    fn the_expected_state_follows_each_types_rules() {
        let a = Emp {
            id: 2,
            name: "a",
            age: 7,
        };
        let b = Emp {
            id: 1,
            name: "b",
            age: 9,
        };
        let changes = [
            Change::Put(a.clone()),
            Change::Put(b.clone()),
            Change::Del(a.clone()),
            Change::Put(Emp {
                age: 8,
                ..b.clone()
            }),
        ];
        assert_eq!(
            shown(Shape::Table, &changes),
            [vec![
                Some("1".into()),
                Some("b".into()),
                None,
                Some("8".into())
            ]]
        );
        let zset = Shape::Redis(RedisDataType::SortedSet, OnUpdate::Replace);
        assert_eq!(shown(zset, &changes), [s(&["1", "8"])]);
        let stream = Shape::Redis(RedisDataType::Stream, OnUpdate::Replace);
        assert_eq!(
            shown(stream, &changes),
            [
                s(&["c", "2", "a", "7"]),
                s(&["c", "1", "b", "9"]),
                s(&["d", "2", "a", "7"]),
                s(&["c", "1", "b", "8"])
            ]
        );
        assert_eq!(stream.key(5), "emps");
        let hash = Shape::Redis(RedisDataType::Hash, OnUpdate::Merge);
        assert_eq!(hash.key(5), "emp:5");
        assert_eq!(
            row(hash, &Change::Put(a.clone())).values,
            [json!("emp:2"), json!({"name": "a", "age": 7})]
        );
        assert_eq!(row(Shape::Table, &Change::Del(a)).values, [json!(2)]);
    }
}
