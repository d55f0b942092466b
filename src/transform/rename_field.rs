//! `rename_field`: moves a field to a new name (dotted paths on either side), others unchanged.

use serde_json::Value;

use super::path;

/// `uses: rename_field` with `from_field` + `to_field`, or `fields: [{from_field, to_field}]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RenameField {
    /// (from, to) pairs, applied in order.
    pub fields: Vec<(String, String)>,
}

impl RenameField {
    /// Renames every field that is there; a missing source leaves the record as it is.
    pub fn apply(&self, record: &mut Value) {
        for (from, to) in &self.fields {
            if let Some(value) = path::remove(record, from) {
                path::set(record, to, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn golden_rename_field() {
        let block = RenameField {
            fields: vec![
                ("fname".into(), "first_name".into()),
                ("addr.city".into(), "city".into()),
                ("zip".into(), "address.zip".into()),
                ("missing".into(), "other".into()),
            ],
        };
        let mut rec = json!({"fname": "Ada", "addr": {"city": "London"}, "zip": "N1", "n": null});
        block.apply(&mut rec);
        assert_eq!(
            rec,
            json!({"addr": {}, "n": null, "first_name": "Ada", "city": "London", "address": {"zip": "N1"}})
        );
    }
}
