//! `add_field`: sets one field, or each of `fields`, to an expression's value (dotted paths nest).

use serde_json::Value;

use super::path;
use crate::expr::Expression;

/// `uses: add_field` with `field` + `expression` + `language`, or `fields: [...]` of them.
#[derive(Debug, Clone, PartialEq)]
pub struct AddField {
    /// (field path, expression), applied in order: a later one sees the fields set before it.
    pub fields: Vec<(String, Expression)>,
}

impl AddField {
    /// Sets every field; an expression error rejects the record.
    pub fn apply(&self, record: &mut Value) -> Result<(), String> {
        for (field, expression) in &self.fields {
            let value = expression
                .eval(record)
                .map_err(|e| format!("field `{field}`: {e}"))?;
            path::set(record, field, value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::Language;
    use serde_json::json;

    fn add(fields: &[(&str, Language, &str)]) -> AddField {
        AddField {
            fields: fields
                .iter()
                .map(|(f, l, e)| (f.to_string(), Expression::compile(*l, e).unwrap()))
                .collect(),
        }
    }

    #[test]
    fn golden_add_field() {
        let block = add(&[
            ("full_name", Language::Sql, "first || ' ' || last"),
            ("address.city", Language::Jmespath, "upper(city)"),
            (
                "initials",
                Language::Jmespath,
                "concat([left(first, `1`), left(last, `1`)])",
            ),
            ("shout", Language::Jmespath, "upper(full_name)"),
            ("gone", Language::Jmespath, "missing"),
        ]);
        let mut rec = json!({"first": "Ada", "last": "Lovelace", "city": "london"});
        block.apply(&mut rec).unwrap();
        assert_eq!(
            rec,
            json!({"first": "Ada", "last": "Lovelace", "city": "london", "full_name": "Ada Lovelace",
                   "address": {"city": "LONDON"}, "initials": "AL", "shout": "ADA LOVELACE", "gone": null})
        );
    }

    #[test]
    fn an_expression_error_names_the_field() {
        let block = add(&[("x", Language::Sql, "json_extract(doc, '$.a')")]);
        let e = block.apply(&mut json!({"doc": "{oops"})).unwrap_err();
        assert_eq!(e, "field `x`: sql expression failed: malformed JSON");
    }
}
