//! `remove_field`: removes one field, or each of `fields` (dotted paths allowed; missing ones are fine).

use serde_json::Value;

use super::path;

/// `uses: remove_field` with `field`, or `fields: [{field}]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoveField {
    /// Field paths to remove.
    pub fields: Vec<String>,
}

impl RemoveField {
    /// Removes every field that is there.
    pub fn apply(&self, record: &mut Value) {
        for field in &self.fields {
            path::remove(record, field);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn golden_remove_field() {
        let block = RemoveField {
            fields: vec![
                "password".into(),
                "address.zip".into(),
                "missing".into(),
                "a.b.c".into(),
            ],
        };
        let mut rec = json!({"id": "1", "password": "x", "address": {"zip": "75001", "city": "Paris"}, "a": 1});
        block.apply(&mut rec);
        assert_eq!(
            rec,
            json!({"id": "1", "address": {"city": "Paris"}, "a": 1})
        );
    }
}
