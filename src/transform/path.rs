//! Dotted field paths (`address.city`): reading, setting (creating the nesting) and removing.

use serde_json::{Map, Value};

/// The value at `path`: a top-level field named exactly `path` first, else the nested one.
pub fn get<'a>(record: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(v) = record.get(path) {
        return Some(v);
    }
    path.split('.').try_fold(record, |v, seg| v.get(seg))
}

/// Sets `path`, creating objects on the way (a non-object on the way is replaced by an object).
pub fn set(record: &mut Value, path: &str, value: Value) {
    let mut node = record;
    let mut segments = path.split('.').peekable();
    while let Some(seg) = segments.next() {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(map) = node else { return };
        if segments.peek().is_none() {
            map.insert(seg.to_string(), value);
            return;
        }
        node = map
            .entry(seg.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Removes `path` (a top-level field named exactly `path` first) and returns what it held.
pub fn remove(record: &mut Value, path: &str) -> Option<Value> {
    if let Some(map) = record.as_object_mut() {
        if let Some(v) = map.shift_remove(path) {
            return Some(v);
        }
    }
    let (parent, last) = match path.rsplit_once('.') {
        Some((parent, last)) => (parent, last),
        None => return None,
    };
    let mut node = record;
    for seg in parent.split('.') {
        node = node.get_mut(seg)?;
    }
    node.as_object_mut()?.shift_remove(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_paths_read_set_and_remove() {
        let mut rec = json!({"a": {"b": 1}, "x.y": 2, "s": "text"});
        assert_eq!(get(&rec, "a.b"), Some(&json!(1)));
        assert_eq!(get(&rec, "x.y"), Some(&json!(2)));
        assert_eq!(get(&rec, "a.c"), None);
        set(&mut rec, "a.c.d", json!(3));
        set(&mut rec, "s.t", json!(4));
        assert_eq!(rec["a"], json!({"b": 1, "c": {"d": 3}}));
        assert_eq!(rec["s"], json!({"t": 4}));
        assert_eq!(remove(&mut rec, "a.c.d"), Some(json!(3)));
        assert_eq!(remove(&mut rec, "x.y"), Some(json!(2)));
        assert_eq!(remove(&mut rec, "nope.deeper"), None);
        assert_eq!(rec, json!({"a": {"b": 1, "c": {}}, "s": {"t": 4}}));
    }
}
