//! SQL expressions: SQLite's syntax and functions, with the record's top-level fields as columns.
//!
//! `SELECT (<expr>) FROM (SELECT ?1 AS "f1", ...)` is prepared once per thread (each writer thread keeps
//! an in-memory SQLite connection with a statement cache) and run once per record with the fields bound.
//! The columns are the identifiers the expression mentions (SQL keywords and function names aside), so
//! a field the record lacks is NULL. Hash fields are strings; one that holds a number in its canonical
//! form (`42`, `-7`, `2.5`) is bound as that number, so `age > 30` compares numerically and `age || ''`
//! gives back the same text. JSON fields keep their types; objects and arrays are bound as JSON text.

use std::cell::{Cell, RefCell};

use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::Connection;
use serde_json::Value;

use super::expression::ExprError;

/// Statements each thread keeps prepared.
const STATEMENT_CACHE: usize = 256;
/// SQLite virtual-machine instructions between two checks of an evaluation's budget.
const STEPS_PER_CHECK: i32 = 10_000;
/// Checks one evaluation may pass before it is stopped: 10 million instructions, tens of
/// milliseconds. An expression over one record needs a few hundred; a recursive query that never
/// ends would otherwise hold the writer thread, and every job on it, for good.
const MAX_CHECKS: u32 = 1_000;

/// Words that SQLite reads as keywords or constants, never bound as columns (quote a field so named).
const KEYWORDS: &[&str] = &[
    "and",
    "as",
    "between",
    "binary",
    "blob",
    "case",
    "cast",
    "collate",
    "current_date",
    "current_time",
    "current_timestamp",
    "distinct",
    "else",
    "end",
    "escape",
    "exists",
    "false",
    "glob",
    "in",
    "int",
    "integer",
    "is",
    "isnull",
    "like",
    "match",
    "nocase",
    "not",
    "notnull",
    "null",
    "numeric",
    "or",
    "real",
    "regexp",
    "rtrim",
    "text",
    "then",
    "true",
    "when",
];

thread_local! {
    static CONNECTION: RefCell<Option<Connection>> = const { RefCell::new(None) };
    /// Budget checks the running evaluation of this thread has passed.
    static CHECKS: Cell<u32> = const { Cell::new(0) };
}

/// SQLite's progress handler: stops the statement once it has run its budget.
fn over_budget() -> bool {
    CHECKS.with(|checks| {
        checks.set(checks.get().saturating_add(1));
        checks.get() > MAX_CHECKS
    })
}

/// A compiled SQL expression: the statement text and the fields it binds, in parameter order.
#[derive(Debug)]
pub struct SqlExpr {
    sql: String,
    columns: Vec<String>,
}

fn with_connection<T>(f: impl FnOnce(&Connection) -> Result<T, String>) -> Result<T, String> {
    CONNECTION.with(|cell| {
        let mut slot = cell
            .try_borrow_mut()
            .map_err(|_| "sql evaluation re-entered".to_string())?;
        if slot.is_none() {
            let conn = Connection::open_in_memory().map_err(|e| e.to_string())?;
            conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            conn.progress_handler(STEPS_PER_CHECK, Some(over_budget));
            *slot = Some(conn);
        }
        match slot.as_ref() {
            Some(conn) => f(conn),
            None => Err("no sqlite connection".into()),
        }
    })
}

impl SqlExpr {
    /// Builds the statement and prepares it once, so that syntax errors and unknown functions show now.
    pub fn compile(source: &str) -> Result<SqlExpr, ExprError> {
        let parse_error = |message: String| ExprError::Parse {
            language: "sql",
            message,
        };
        if source.trim().is_empty() {
            return Err(parse_error("the expression is empty".into()));
        }
        let (columns, semicolon) = identifiers(source);
        if semicolon {
            return Err(parse_error(
                "only one expression is allowed (remove the `;`)".into(),
            ));
        }
        let select = columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("?{} AS \"{}\"", i + 1, c.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = if columns.is_empty() {
            format!("SELECT ({source}\n)")
        } else {
            format!("SELECT ({source}\n) FROM (SELECT {select})")
        };
        with_connection(|conn| {
            conn.prepare_cached(&sql)
                .map(|_| ())
                .map_err(|e| sqlite_message(&e))
        })
        .map_err(parse_error)?;
        Ok(SqlExpr { sql, columns })
    }

    /// Evaluates against a record's top-level fields.
    pub fn eval(&self, record: &Value) -> Result<Value, ExprError> {
        let params: Vec<SqlValue> = self
            .columns
            .iter()
            .map(|c| bind(field(record, c)))
            .collect();
        with_connection(|conn| {
            let mut stmt = conn
                .prepare_cached(&self.sql)
                .map_err(|e| sqlite_message(&e))?;
            CHECKS.with(|checks| checks.set(0));
            stmt.query_row(rusqlite::params_from_iter(params.iter()), |row| {
                Ok(to_json(row.get_ref(0)?))
            })
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::OperationInterrupted) => format!(
                    "it ran over {} million SQLite steps on this record (a recursive query \
                     that does not end?)",
                    u64::from(MAX_CHECKS) * STEPS_PER_CHECK as u64 / 1_000_000
                ),
                _ => sqlite_message(&e),
            })
        })
        .map_err(|e| ExprError::Eval(format!("sql expression failed: {e}")))
    }
}

/// SQLite's message without the statement text.
fn sqlite_message(e: &rusqlite::Error) -> String {
    match e {
        // SQLite appends the statement; the expression is already named by the caller.
        rusqlite::Error::SqliteFailure(_, Some(m)) => {
            m.split(" in SELECT (").next().unwrap_or(m).to_string()
        }
        rusqlite::Error::SqlInputError { msg, .. } if msg == "near \")\": syntax error" => {
            "incomplete expression".into()
        }
        rusqlite::Error::SqlInputError { msg, .. } => msg.clone(),
        rusqlite::Error::MultipleStatement => "only one expression is allowed".into(),
        other => other.to_string(),
    }
}

/// The record's field named `name`, exactly or else ignoring case (SQL names are case-insensitive).
fn field<'a>(record: &'a Value, name: &str) -> Option<&'a Value> {
    let map = record.as_object()?;
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn bind(v: Option<&Value>) -> SqlValue {
    match v {
        None | Some(Value::Null) => SqlValue::Null,
        Some(Value::Bool(b)) => SqlValue::Integer(i64::from(*b)),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().unwrap_or(0.0)),
        },
        Some(Value::String(s)) => canonical_number(s).unwrap_or_else(|| SqlValue::Text(s.clone())),
        Some(other) => SqlValue::Text(other.to_string()),
    }
}

/// A string that prints back identically as a number.
fn canonical_number(s: &str) -> Option<SqlValue> {
    if let Ok(i) = s.parse::<i64>() {
        return (i.to_string() == s).then_some(SqlValue::Integer(i));
    }
    let f = s.parse::<f64>().ok().filter(|f| f.is_finite())?;
    let digits = s.chars().filter(|c| c.is_ascii_digit()).count();
    (f.to_string() == s && s.contains('.') && digits <= 15).then_some(SqlValue::Real(f))
}

fn to_json(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) | ValueRef::Blob(t) => {
            Value::String(String::from_utf8_lossy(t).into_owned())
        }
    }
}

/// The column names an expression mentions: bare identifiers not followed by `(` and not keywords,
/// plus every quoted identifier; first spelling of each, case-insensitively.
/// Also tells whether a `;` (a second statement) appears outside quotes.
fn identifiers(sql: &str) -> (Vec<String>, bool) {
    let chars: Vec<char> = sql.chars().collect();
    let mut out: Vec<String> = Vec::new();
    let push = |name: String, out: &mut Vec<String>| {
        if !name.is_empty() && !out.iter().any(|o| o.eq_ignore_ascii_case(&name)) {
            out.push(name);
        }
    };
    let mut semicolon = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ';' => {
                semicolon = true;
                i += 1;
            }
            '\'' => i = skip_quoted(&chars, i, '\'').1,
            '"' | '`' | '[' => {
                let close = if c == '[' { ']' } else { c };
                let (name, next) = skip_quoted(&chars, i, close);
                push(name, &mut out);
                i = next;
            }
            '-' if chars.get(i + 1) == Some(&'-') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    i += 1;
                }
                i += 2;
            }
            c if c.is_ascii_digit() => {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut j = i;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                let call = chars.get(j) == Some(&'(');
                let after_dot = start > 0 && chars[start - 1] == '.';
                if !call && !after_dot && !KEYWORDS.contains(&word.to_ascii_lowercase().as_str()) {
                    push(word, &mut out);
                }
            }
            _ => i += 1,
        }
    }
    (out, semicolon)
}

/// The content of a quoted token starting at `start` (doubled closers are escapes) and the index after it.
fn skip_quoted(chars: &[char], start: usize, close: char) -> (String, usize) {
    let mut out = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        if chars[i] == close {
            if close != ']' && chars.get(i + 1) == Some(&close) {
                out.push(close);
                i += 2;
                continue;
            }
            return (out, i + 1);
        }
        out.push(chars[i]);
        i += 1;
    }
    (out, i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(expr: &str, rec: Value) -> Result<Value, ExprError> {
        SqlExpr::compile(expr)?.eval(&rec)
    }

    #[test]
    fn columns_are_the_fields_the_expression_names() {
        assert_eq!(
            identifiers(
                "CASE WHEN age > 30 THEN upper(\"first name\") ELSE x || 'lit''s' END -- c\n"
            ),
            (
                vec!["age".to_string(), "first name".into(), "x".into()],
                false
            )
        );
        assert_eq!(
            identifiers("CAST(n AS INTEGER) + N + 1e5;"),
            (vec!["n".to_string()], true)
        );
    }

    #[test]
    fn golden_sql_expressions() {
        let rec = json!({"first": "Ada", "last": "Lovelace", "age": "36", "zip": "007", "score": 2.5,
                         "ok": true, "tags": ["a"], "n": null});
        let cases = [
            ("first || ' ' || last", json!("Ada Lovelace")),
            ("UPPER(last)", json!("LOVELACE")),
            (
                "CASE WHEN age > 30 THEN 'senior' ELSE 'junior' END",
                json!("senior"),
            ),
            ("age + 1", json!(37)),
            ("zip || ''", json!("007")),
            ("score * 2", json!(5.0)),
            ("ok = TRUE", json!(1)),
            ("json_extract(tags, '$[0]')", json!("a")),
            ("n IS NULL AND missing IS NULL", json!(1)),
            ("coalesce(n, 'none')", json!("none")),
            ("strftime('%Y', '2024-05-01')", json!("2024")),
            ("1 + 1", json!(2)),
        ];
        for (expr, want) in cases {
            assert_eq!(eval(expr, rec.clone()), Ok(want), "{expr}");
        }
    }

    #[test]
    fn parse_errors_and_runtime_errors() {
        for (expr, want) in [
            ("first ||", "incomplete expression"),
            ("nosuch(first)", "no such function: nosuch"),
            // SQLite resolves functions with their argument count when it prepares the statement.
            (
                "upper(first, last)",
                "wrong number of arguments to function upper()",
            ),
            (
                "substr(first)",
                "wrong number of arguments to function substr()",
            ),
            ("1); DROP TABLE x; SELECT (1", "only one expression"),
            ("  ", "the expression is empty"),
        ] {
            let e = SqlExpr::compile(expr).unwrap_err().to_string();
            assert!(
                e.starts_with("sql expression does not parse") && e.contains(want),
                "{expr}: {e}"
            );
        }
        let e = eval("json_extract(s, '$.a')", json!({"s": "secret{"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("malformed JSON") && !e.contains("secret"), "{e}");
    }

    #[test]
    fn an_evaluation_that_does_not_end_is_stopped() {
        let endless = "(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
                       SELECT count(*) FROM c WHERE x < n)";
        let started = std::time::Instant::now();
        let err = eval(endless, json!({"n": 0})).unwrap_err().to_string();
        assert!(err.contains("ran over 10 million SQLite steps"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
        // The budget is per evaluation: the next one on the thread runs, and so does a long one
        // that ends within it.
        assert_eq!(eval("n + 1", json!({"n": 1})).unwrap(), json!(2));
        let bounded =
            "(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < n) \
                       SELECT count(*) FROM c)";
        for _ in 0..3 {
            assert_eq!(eval(bounded, json!({"n": 10_000})).unwrap(), json!(10_000));
        }
    }

    #[test]
    fn statements_are_cached_per_thread() {
        let e = SqlExpr::compile("a + 1").unwrap();
        for i in 0..100 {
            assert_eq!(e.eval(&json!({ "a": i })), Ok(json!(i + 1)));
        }
        let e2 = std::thread::spawn(move || e.eval(&json!({"a": 1})))
            .join()
            .unwrap();
        assert_eq!(e2, Ok(json!(2)));
    }
}
