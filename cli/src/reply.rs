//! Replies to JSON: RESP3 maps and RESP2 flat arrays alike become objects where a map is expected.

use redis::Value;
use serde_json::{Map, Value as Json};

/// What a reply is expected to look like, so that a RESP2 flat array can be read back as a map.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// Whatever arrives, converted as is.
    Any,
    /// A map; the listed fields have their own shape, the others are [`Shape::Any`].
    Map(&'static [(&'static str, Shape)]),
    /// A map from names to values of one shape.
    MapOf(&'static Shape),
    /// A list of values of one shape.
    List(&'static Shape),
}

/// One job's fields, in RDI.STATUS and RDI.DESCRIBE-JOB.
pub const JOB: Shape = Shape::Map(&[("reset", Shape::Map(&[]))]);
/// `RDI.STATUS`.
pub const STATUS: Shape = Shape::Map(&[
    ("connections", Shape::MapOf(&Shape::Map(&[]))),
    ("jobs", Shape::MapOf(&JOB)),
]);
/// A plain map of scalars and lists (RDI.WAIT, RDI.LIST-JOBS items, RDI.GET-REJECTED items).
pub const RECORD: Shape = Shape::Map(&[]);
/// A list of plain maps.
pub const RECORDS: Shape = Shape::List(&RECORD);
/// `RDI.TRACE`: records whose `before` and `after` are documents.
pub const TRACE: Shape = Shape::List(&Shape::Map(&[]));

/// Converts a reply to JSON following `shape`.
pub fn to_json(value: &Value, shape: Shape) -> Json {
    match (shape, value) {
        (_, Value::Attribute { data, .. }) => to_json(data, shape),
        (Shape::Map(fields), v) => match pairs(v) {
            Some(pairs) => Json::Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| {
                        let sub = fields
                            .iter()
                            .find(|(name, _)| *name == k)
                            .map_or(Shape::Any, |(_, s)| *s);
                        (k, to_json(v, sub))
                    })
                    .collect(),
            ),
            None => to_json(v, Shape::Any),
        },
        (Shape::MapOf(inner), v) => match pairs(v) {
            Some(pairs) => Json::Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k, to_json(v, *inner)))
                    .collect(),
            ),
            None => to_json(v, Shape::Any),
        },
        (Shape::List(inner), Value::Array(items) | Value::Set(items)) => {
            Json::Array(items.iter().map(|v| to_json(v, *inner)).collect())
        }
        (_, v) => any(v),
    }
}

/// The entries of a map reply: a RESP3 map, or a RESP2 array of alternating names and values.
fn pairs(value: &Value) -> Option<Vec<(String, &Value)>> {
    match value {
        Value::Map(entries) => Some(entries.iter().map(|(k, v)| (text(k), v)).collect()),
        Value::Array(items) if items.len() % 2 == 0 => items
            .chunks(2)
            .map(|c| match &c[0] {
                Value::BulkString(_) | Value::SimpleString(_) => Some((text(&c[0]), &c[1])),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// A scalar reply as text (lossy for binary data).
pub fn text(value: &Value) -> String {
    match any(value) {
        Json::String(s) => s,
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

fn any(value: &Value) -> Json {
    match value {
        Value::Nil => Json::Null,
        Value::Int(i) => Json::from(*i),
        Value::BulkString(b) => Json::String(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Json::String(s.clone()),
        Value::Okay => Json::String("OK".into()),
        Value::Double(d) => serde_json::Number::from_f64(*d).map_or(Json::Null, Json::Number),
        Value::Boolean(b) => Json::Bool(*b),
        Value::VerbatimString { text, .. } => Json::String(text.clone()),
        Value::BigNumber(n) => Json::String(n.to_string()),
        Value::Array(items) | Value::Set(items) => Json::Array(items.iter().map(any).collect()),
        Value::Push { data, .. } => Json::Array(data.iter().map(any).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| (text(k), any(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Attribute { data, .. } => any(data),
        Value::ServerError(e) => {
            Json::String(format!("{} {}", e.code(), e.details().unwrap_or_default()))
        }
    }
}

/// A field of a JSON object as text: strings as they are, null and absent as `-`, others as JSON.
pub fn field(obj: &Json, name: &str) -> String {
    match obj.get(name) {
        None | Some(Json::Null) => "-".into(),
        Some(Json::String(s)) if s.is_empty() => "-".into(),
        Some(Json::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A numeric field (integers may arrive as strings from some servers); 0 when absent.
pub fn number(obj: &Json, name: &str) -> u64 {
    match obj.get(name) {
        Some(Json::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().map(|f| f.max(0.0) as u64))
            .unwrap_or(0),
        Some(Json::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn resp2_flat_status_becomes_nested_objects() {
        let job = Value::Array(vec![
            b("key_pattern"),
            b("emp:*"),
            b("outputs"),
            Value::Array(vec![b("a"), b("b")]),
            b("inserted"),
            Value::Int(3),
        ]);
        let reply = Value::Array(vec![
            b("engine"),
            b("RUNNING"),
            b("connections"),
            Value::Array(vec![
                b("target"),
                Value::Array(vec![b("type"), b("sqlite")]),
            ]),
            b("jobs"),
            Value::Array(vec![b("emp"), job]),
            b("warnings"),
            Value::Array(vec![]),
        ]);
        let j = to_json(&reply, STATUS);
        assert_eq!(j["engine"], "RUNNING");
        assert_eq!(j["connections"]["target"]["type"], "sqlite");
        assert_eq!(j["jobs"]["emp"]["inserted"], 3);
        // A list of two strings stays a list: its shape says so.
        assert_eq!(j["jobs"]["emp"]["outputs"], json!(["a", "b"]));
        assert_eq!(j["warnings"], json!([]));
    }

    #[test]
    fn resp3_maps_and_scalars_convert() {
        let reply = Value::Map(vec![
            (b("written"), Value::Int(2)),
            (Value::SimpleString("rejected".into()), Value::Int(0)),
            (b("none"), Value::Nil),
            (b("ratio"), Value::Double(0.5)),
            (b("ok"), Value::Boolean(true)),
        ]);
        assert_eq!(
            to_json(&reply, RECORD),
            json!({"written": 2, "rejected": 0, "none": null, "ratio": 0.5, "ok": true})
        );
    }

    #[test]
    fn a_list_of_flat_records_converts_item_by_item() {
        let reply = Value::Array(vec![
            Value::Array(vec![b("name"), b("emp"), b("pending"), Value::Int(0)]),
            Value::Map(vec![(b("name"), b("dept")), (b("pending"), Value::Int(4))]),
        ]);
        assert_eq!(
            to_json(&reply, RECORDS),
            json!([{"name": "emp", "pending": 0}, {"name": "dept", "pending": 4}])
        );
    }

    #[test]
    fn odd_arrays_are_not_taken_for_maps() {
        let reply = Value::Array(vec![b("a"), b("b"), b("c")]);
        assert_eq!(to_json(&reply, RECORD), json!(["a", "b", "c"]));
    }

    #[test]
    fn fields_and_numbers_read_defensively() {
        let obj = json!({"s": "x", "n": 7, "t": "12", "z": null, "e": ""});
        assert_eq!(field(&obj, "s"), "x");
        assert_eq!(field(&obj, "n"), "7");
        assert_eq!(field(&obj, "z"), "-");
        assert_eq!(field(&obj, "e"), "-");
        assert_eq!(field(&obj, "missing"), "-");
        assert_eq!(number(&obj, "t"), 12);
        assert_eq!(number(&obj, "s"), 0);
    }
}
