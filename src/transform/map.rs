//! `map`: replaces the record with a new one, built field by field or by one JMESPath expression.

use serde_json::{Map, Value};

use super::path;
use crate::expr::Expression;

/// `uses: map` with `expression` (an object of field: expression, or one expression) and `language`.
#[derive(Debug, Clone, PartialEq)]
pub enum MapBlock {
    /// Each field (dotted paths nest) gets its expression's value, evaluated on the incoming record.
    Fields(Vec<(String, Expression)>),
    /// One expression (a JMESPath multiselect hash such as `{id: id, name: upper(name)}`) giving an object.
    Whole(Expression),
}

impl MapBlock {
    /// Replaces `record`.
    pub fn apply(&self, record: &mut Value) -> Result<(), String> {
        let new = match self {
            MapBlock::Fields(fields) => {
                let mut out = Value::Object(Map::new());
                for (field, expression) in fields {
                    let value = expression
                        .eval(record)
                        .map_err(|e| format!("field `{field}`: {e}"))?;
                    path::set(&mut out, field, value);
                }
                out
            }
            MapBlock::Whole(expression) => {
                match expression.eval(record).map_err(|e| e.to_string())? {
                    Value::Object(m) => Value::Object(m),
                    other => {
                        return Err(format!(
                            "the expression must give an object, not {}",
                            kind(&other)
                        ));
                    }
                }
            }
        };
        *record = new;
        Ok(())
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::Language;
    use serde_json::json;

    fn jmes(s: &str) -> Expression {
        Expression::compile(Language::Jmespath, s).unwrap()
    }

    #[test]
    fn golden_map_by_fields_and_by_expression() {
        let rec = json!({"id": "7", "name": "ada", "city": "London"});
        let block = MapBlock::Fields(vec![
            ("key".into(), jmes("id")),
            ("person.name".into(), jmes("capitalize(name)")),
            (
                "label".into(),
                Expression::compile(Language::Sql, "name || '@' || city").unwrap(),
            ),
        ]);
        let mut out = rec.clone();
        block.apply(&mut out).unwrap();
        assert_eq!(
            out,
            json!({"key": "7", "person": {"name": "Ada"}, "label": "ada@London"})
        );
        let mut out = rec;
        MapBlock::Whole(jmes("{id: id, upper: upper(city)}"))
            .apply(&mut out)
            .unwrap();
        assert_eq!(out, json!({"id": "7", "upper": "LONDON"}));
    }

    #[test]
    fn a_map_that_gives_no_object_is_an_error() {
        let e = MapBlock::Whole(jmes("name")).apply(&mut json!({"name": "x"}));
        assert_eq!(
            e,
            Err("the expression must give an object, not a string".into())
        );
        let e = MapBlock::Whole(jmes("missing")).apply(&mut json!({}));
        assert_eq!(
            e,
            Err("the expression must give an object, not null".into())
        );
    }
}
