//! CQL collections (`list<T>`, `set<T>`, `map<K, V>`, frozen or not, nested) from JSON arrays and
//! objects, or from text holding one (a hash field keeps them as text). Each element is converted to
//! its own CQL type as a column of that type would be; a map's keys are the object's keys.

use scylla::value::CqlValue;
use serde_json::Value;

use super::cql::{cql_kind, cql_value};
use crate::writer::relational::convert::convert_value;

/// A collection type with its element types (as the catalog spells them).
#[derive(Debug, PartialEq, Eq)]
pub enum Collection<'t> {
    List(&'t str),
    Set(&'t str),
    Map(&'t str, &'t str),
}

/// The collection `cql_type` names (`frozen<...>` seen through); `None` for any other type.
pub fn collection(cql_type: &str) -> Option<Collection<'_>> {
    let t = cql_type.trim();
    let t = t
        .strip_prefix("frozen<")
        .and_then(|inner| inner.strip_suffix('>'))
        .map_or(t, str::trim);
    let (name, args) = t.split_once('<')?;
    let args = args.strip_suffix('>')?.trim();
    match name.trim() {
        "list" => Some(Collection::List(args)),
        "set" => Some(Collection::Set(args)),
        "map" => {
            let (k, v) = split_pair(args)?;
            Some(Collection::Map(k.trim(), v.trim()))
        }
        _ => None,
    }
}

/// Splits `K, V` at the comma outside angle brackets.
fn split_pair(args: &str) -> Option<(&str, &str)> {
    let mut depth = 0i32;
    for (i, c) in args.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            ',' if depth == 0 => return Some((args.get(..i)?, args.get(i + 1..)?)),
            _ => {}
        }
    }
    None
}

/// Converts a JSON array (a list or a set) or object (a map), or a string that holds one.
pub fn collection_value(value: &Value, collection: &Collection) -> Result<CqlValue, &'static str> {
    let parsed;
    let value = match value {
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s).map_err(|_| match collection {
                Collection::Map(..) => "not a JSON object",
                _ => "not a JSON array",
            })?;
            &parsed
        }
        other => other,
    };
    match (collection, value) {
        (Collection::List(t), Value::Array(items)) => Ok(CqlValue::List(elements(items, t)?)),
        (Collection::Set(t), Value::Array(items)) => Ok(CqlValue::Set(elements(items, t)?)),
        (Collection::Map(k, v), Value::Object(entries)) => entries
            .iter()
            .map(|(key, item)| Ok((element(&Value::String(key.clone()), k)?, element(item, v)?)))
            .collect::<Result<_, _>>()
            .map(CqlValue::Map),
        (Collection::Map(..), _) => Err("not a JSON object"),
        _ => Err("not a JSON array"),
    }
}

fn elements(items: &[Value], cql_type: &str) -> Result<Vec<CqlValue>, &'static str> {
    items.iter().map(|item| element(item, cql_type)).collect()
}

/// One element, converted as a column of its type would be; collections nest.
fn element(value: &Value, cql_type: &str) -> Result<CqlValue, &'static str> {
    if let Some(inner) = collection(cql_type) {
        return collection_value(value, &inner);
    }
    let converted = convert_value(cql_kind(cql_type), value)?;
    cql_value(converted, cql_type)?.ok_or("a collection cannot hold null")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn collection_types_are_parsed_through_frozen_and_nesting() {
        assert_eq!(collection("list<int>"), Some(Collection::List("int")));
        assert_eq!(
            collection("frozen<set<text>>"),
            Some(Collection::Set("text"))
        );
        assert_eq!(
            collection("map<text, frozen<list<int>>>"),
            Some(Collection::Map("text", "frozen<list<int>>"))
        );
        assert_eq!(
            collection("map<frozen<map<int, int>>, text>"),
            Some(Collection::Map("frozen<map<int, int>>", "text"))
        );
        assert_eq!(collection("int"), None);
        assert_eq!(collection("tuple<int, text>"), None);
        assert_eq!(collection("frozen<address>"), None);
    }

    #[test]
    fn arrays_and_objects_become_typed_collections() {
        let list = collection("list<int>").unwrap();
        assert_eq!(
            collection_value(&json!([1, "2"]), &list),
            Ok(CqlValue::List(vec![CqlValue::Int(1), CqlValue::Int(2)]))
        );
        assert_eq!(
            collection_value(&json!("[3]"), &list),
            Ok(CqlValue::List(vec![CqlValue::Int(3)]))
        );
        let set = collection("set<text>").unwrap();
        assert_eq!(
            collection_value(&json!(["a"]), &set),
            Ok(CqlValue::Set(vec![CqlValue::Text("a".into())]))
        );
        let map = collection("map<int, frozen<list<bigint>>>").unwrap();
        assert_eq!(
            collection_value(&json!({"7": [1, 2]}), &map),
            Ok(CqlValue::Map(vec![(
                CqlValue::Int(7),
                CqlValue::List(vec![CqlValue::BigInt(1), CqlValue::BigInt(2)])
            )]))
        );
        assert_eq!(
            collection_value(&json!({}), &map),
            Ok(CqlValue::Map(vec![]))
        );
    }

    #[test]
    fn values_that_do_not_fit_give_a_reason() {
        let list = collection("list<int>").unwrap();
        assert_eq!(
            collection_value(&json!({"a": 1}), &list),
            Err("not a JSON array")
        );
        assert_eq!(
            collection_value(&json!("[1,"), &list),
            Err("not a JSON array")
        );
        assert_eq!(
            collection_value(&json!(["x"]), &list),
            Err("not an integer")
        );
        assert_eq!(
            collection_value(&json!([3000000000i64]), &list),
            Err("out of range")
        );
        assert_eq!(
            collection_value(&json!([null]), &list),
            Err("a collection cannot hold null")
        );
        let map = collection("map<int, text>").unwrap();
        assert_eq!(
            collection_value(&json!([1]), &map),
            Err("not a JSON object")
        );
        assert_eq!(
            collection_value(&json!({"k": "v"}), &map),
            Err("not an integer")
        );
    }
}
