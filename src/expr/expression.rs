//! A compiled expression: a plain field lookup, a JMESPath expression or an SQL expression.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use super::jmes::JmesExpr;
use super::sql::SqlExpr;

/// The `language` of an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// JMESPath with RDI's custom functions.
    Jmespath,
    /// An SQLite expression over the record's top-level fields.
    Sql,
}

impl Language {
    /// Every name accepted for `language`.
    pub const NAMES: &'static [&'static str] = &["jmespath", "sql"];

    /// Parses `jmespath` or `sql` (case-insensitive).
    pub fn parse(name: &str) -> Option<Language> {
        match name.to_ascii_lowercase().as_str() {
            "jmespath" => Some(Language::Jmespath),
            "sql" => Some(Language::Sql),
            _ => None,
        }
    }

    /// The name as written in job files.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Jmespath => "jmespath",
            Language::Sql => "sql",
        }
    }
}

/// Why an expression did not compile or could not be evaluated. Never holds a record value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// The expression does not parse (or names an unknown function).
    #[error("{language} expression does not parse: {message}")]
    Parse {
        /// `jmespath` or `sql`.
        language: &'static str,
        /// The parser's explanation.
        message: String,
    },
    /// Evaluating it against a record failed (wrong argument type...).
    #[error("{0}")]
    Eval(String),
}

#[derive(Clone)]
enum Compiled {
    Field(String),
    Jmes(Arc<JmesExpr>),
    Sql(Arc<SqlExpr>),
}

/// A compiled expression. Cheap to clone, `Send + Sync`; SQL expressions keep their prepared statements
/// per thread (see [`super::sql`]). Two expressions are equal when their language and text are.
#[derive(Clone)]
pub struct Expression {
    language: Language,
    source: String,
    compiled: Compiled,
}

impl Expression {
    /// Compiles `source` in `language`.
    pub fn compile(language: Language, source: &str) -> Result<Expression, ExprError> {
        let compiled = match language {
            Language::Jmespath => Compiled::Jmes(Arc::new(JmesExpr::compile(source)?)),
            Language::Sql => Compiled::Sql(Arc::new(SqlExpr::compile(source)?)),
        };
        Ok(Expression {
            language,
            source: source.to_string(),
            compiled,
        })
    }

    /// A lookup of one top-level field by its exact name (any characters), as `column` items of `keys`
    /// and `mapping` read it.
    pub fn field(name: &str) -> Expression {
        Expression {
            language: Language::Jmespath,
            source: name.to_string(),
            compiled: Compiled::Field(name.to_string()),
        }
    }

    /// The language it was written in.
    pub fn language(&self) -> Language {
        self.language
    }

    /// The text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The field name when this is a plain field lookup.
    pub fn as_field(&self) -> Option<&str> {
        match &self.compiled {
            Compiled::Field(name) => Some(name),
            _ => None,
        }
    }

    /// Evaluates against a record (a JSON object; other values are searched as they are).
    pub fn eval(&self, record: &Value) -> Result<Value, ExprError> {
        match &self.compiled {
            Compiled::Field(name) => Ok(record.get(name).cloned().unwrap_or(Value::Null)),
            Compiled::Jmes(e) => e.eval(record),
            Compiled::Sql(e) => e.eval(record),
        }
    }

    /// Evaluates to a truth value: JMESPath's truthiness, or SQL's (non-zero number, NULL is false).
    pub fn is_true(&self, record: &Value) -> Result<bool, ExprError> {
        let value = self.eval(record)?;
        Ok(match self.language {
            Language::Sql => match &value {
                Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
                Value::String(s) => s.trim().parse::<f64>().is_ok_and(|f| f != 0.0),
                Value::Bool(b) => *b,
                _ => false,
            },
            Language::Jmespath => truthy(&value),
        })
    }
}

/// JMESPath truthiness: false, null, empty strings, arrays and objects are false.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Number(_) => true,
    }
}

impl PartialEq for Expression {
    fn eq(&self, other: &Self) -> bool {
        self.language == other.language
            && self.source == other.source
            && self.as_field().is_some() == other.as_field().is_some()
    }
}

impl fmt::Debug for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_field() {
            Some(name) => write!(f, "field({name:?})"),
            None => write!(f, "{}({:?})", self.language.as_str(), self.source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jmes(s: &str) -> Expression {
        Expression::compile(Language::Jmespath, s).unwrap()
    }

    #[test]
    fn fields_read_any_name_and_missing_ones_are_null() {
        let rec = json!({"first-name": "Ada", "a.b": 1});
        assert_eq!(Expression::field("first-name").eval(&rec), Ok(json!("Ada")));
        assert_eq!(Expression::field("a.b").eval(&rec), Ok(json!(1)));
        assert_eq!(Expression::field("x").eval(&rec), Ok(Value::Null));
    }

    #[test]
    fn truth_follows_each_language() {
        let rec = json!({"n": "3", "e": "", "z": 0});
        assert!(jmes("n").is_true(&rec).unwrap());
        assert!(!jmes("e").is_true(&rec).unwrap());
        assert!(!jmes("missing").is_true(&rec).unwrap());
        let sql = |s: &str| Expression::compile(Language::Sql, s).unwrap();
        assert!(sql("n > 2").is_true(&rec).unwrap());
        assert!(!sql("z").is_true(&rec).unwrap());
        assert!(!sql("NULL").is_true(&rec).unwrap());
    }

    #[test]
    fn equality_and_debug_use_language_and_text() {
        assert_eq!(jmes("a.b"), jmes("a.b"));
        assert_ne!(jmes("a"), Expression::field("a"));
        assert_eq!(format!("{:?}", jmes("a")), "jmespath(\"a\")");
        assert_eq!(Language::parse("SQL"), Some(Language::Sql));
        assert_eq!(Language::parse("python"), None);
    }

    #[test]
    fn parse_errors_name_the_language() {
        let e = Expression::compile(Language::Jmespath, "a.[").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("jmespath expression does not parse"),
            "{e}"
        );
        let e = Expression::compile(Language::Sql, "1 +").unwrap_err();
        assert!(
            e.to_string().starts_with("sql expression does not parse"),
            "{e}"
        );
        let e = Expression::compile(Language::Jmespath, "nope(a)").unwrap_err();
        assert!(e.to_string().contains("unknown function `nope`"), "{e}");
    }
}
