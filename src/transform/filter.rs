//! `filter`: keeps the record only when the expression is true; dropped records count as `filtered`.

use serde_json::Value;

use super::Outcome;
use crate::expr::Expression;

/// `uses: filter` with `expression` and `language`.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The condition.
    pub expression: Expression,
}

impl Filter {
    /// Keep or drop; an expression error rejects the record.
    pub fn apply(&self, record: &Value) -> Result<Outcome, String> {
        match self.expression.is_true(record) {
            Ok(true) => Ok(Outcome::Keep),
            Ok(false) => Ok(Outcome::Drop),
            Err(e) => Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::Language;
    use serde_json::json;

    fn filter(language: Language, s: &str) -> Filter {
        Filter {
            expression: Expression::compile(language, s).unwrap(),
        }
    }

    #[test]
    fn golden_filters() {
        let rec = json!({"age": "42", "city": "Paris", "n": null});
        for (language, expr, want) in [
            (Language::Jmespath, "city == 'Paris'", Outcome::Keep),
            (Language::Jmespath, "city == 'Rome'", Outcome::Drop),
            (Language::Jmespath, "n", Outcome::Drop),
            (Language::Jmespath, "missing", Outcome::Drop),
            (Language::Sql, "age > 40 AND city LIKE 'P%'", Outcome::Keep),
            (Language::Sql, "age > 50", Outcome::Drop),
            (Language::Sql, "n", Outcome::Drop),
        ] {
            assert_eq!(filter(language, expr).apply(&rec), Ok(want), "{expr}");
        }
    }

    #[test]
    fn a_failing_condition_is_an_error() {
        let e = filter(Language::Jmespath, "length(age) > `1`").apply(&json!({"age": 5}));
        assert_eq!(
            e,
            Err("argument 1 must be array|object|string, not number".into())
        );
    }
}
