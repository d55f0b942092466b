//! JMESPath expressions on one runtime holding the standard functions and RDI's custom ones.

use std::borrow::Cow;
use std::sync::LazyLock;

use jmespath::{ErrorReason, Expression as Compiled, Rcvar, Runtime, RuntimeError, Variable};
use serde_json::Value;

use super::calls;
use super::expression::ExprError;
use super::functions::register;

/// The runtime every job expression compiles against: built once, shared by every thread.
static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    let mut runtime = Runtime::new();
    runtime.register_builtin_functions();
    register(&mut runtime);
    runtime
});

/// Most operators and brackets an expression may hold (see [`nesting`]). The `jmespath` crate parses
/// and searches by recursion, one level per nested operator, with no limit of its own: 3,000 nested
/// `!` overflow a thread's 2 MiB stack, which aborts the server. 1,000 levels of each kind were
/// measured to fit; the cap leaves room for a `filter_entries` predicate searched inside.
pub const MAX_NESTING: usize = 400;

/// How many characters of `source` may open a level of the parse tree: `!`, `(`, `[`, `{`, `.`, `|`,
/// `&`, `<`, `>`, `=` and `?` outside quoted names, raw strings and literals. An upper bound on the
/// depth of the tree (a level needs at least one of them), cheap to count before parsing.
pub fn nesting(source: &str) -> usize {
    let mut count = 0;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in source.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None if matches!(c, '\'' | '"' | '`') => quote = Some(c),
            None if "!([{.|&<>=?".contains(c) => count += 1,
            None => {}
        }
    }
    count
}

/// A compiled JMESPath expression.
pub struct JmesExpr {
    compiled: Compiled<'static>,
}

impl JmesExpr {
    /// Parses `source` and checks every function call it makes (see [`calls`]).
    pub fn compile(source: &str) -> Result<JmesExpr, ExprError> {
        let parse_error = |message: String| ExprError::Parse {
            language: "jmespath",
            message,
        };
        let nesting = nesting(source);
        if nesting > MAX_NESTING {
            return Err(parse_error(format!(
                "it has {nesting} operators and brackets, more than the {MAX_NESTING} an expression \
                 may hold (the parser and the search go one level deeper for each); split it over \
                 several transform blocks"
            )));
        }
        let source = legacy_literals(source);
        let compiled = RUNTIME
            .compile(&source)
            .map_err(|e| parse_error(reason(&e.reason, e.offset)))?;
        if let Some(problem) = calls::check(compiled.as_ast()) {
            return Err(parse_error(problem));
        }
        Ok(JmesExpr { compiled })
    }

    /// Searches a record.
    pub fn eval(&self, record: &Value) -> Result<Value, ExprError> {
        let data = Variable::try_from(record)
            .map_err(|e| ExprError::Eval(format!("record cannot be searched: {}", e.reason)))?;
        let found = self
            .compiled
            .search(Rcvar::new(data))
            .map_err(|e| ExprError::Eval(reason(&e.reason, e.offset)))?;
        Ok(to_json(&found))
    }
}

/// The expression with each back-quoted literal that is not JSON made a JSON string: `` `sha1` `` is
/// read as `` `"sha1"` ``. JMESPath's first specification allowed this, Python's jmespath (which RDI
/// runs on) still does, and RDI's own examples use it (`` filter_entries(@, `key == 'a'`) ``); the
/// crate accepts JSON only. Raw strings (`'...'`) and quoted names (`"..."`) are left as they are.
fn legacy_literals(source: &str) -> Cow<'_, str> {
    if !source.contains('`') {
        return Cow::Borrowed(source);
    }
    let mut out = String::with_capacity(source.len() + 8);
    let mut chars = source.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                copy_quoted(&mut chars, c, &mut out);
            }
            '`' => copy_literal(&mut chars, &mut out),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Copies a back-quoted literal whose opening quote was read: as written when it is JSON (or not
/// closed: the parser reports it), else as the JSON string of its text.
fn copy_literal(chars: &mut std::str::Chars<'_>, out: &mut String) {
    let mut text = String::new();
    let mut closed = false;
    while let Some(d) = chars.next() {
        match d {
            '\\' => match chars.next() {
                Some('`') => text.push('`'),
                Some(e) => {
                    text.push('\\');
                    text.push(e);
                }
                None => text.push('\\'),
            },
            '`' => {
                closed = true;
                break;
            }
            d => text.push(d),
        }
    }
    let not_json = closed && serde_json::from_str::<Value>(&text).is_err();
    let body = if not_json {
        Value::String(text.trim_start().to_string()).to_string()
    } else {
        text
    };
    out.push('`');
    out.push_str(&body.replace('`', "\\`"));
    if closed {
        out.push('`');
    }
}

/// Copies a quoted string or name up to its closing `quote`, escapes included.
fn copy_quoted(chars: &mut std::str::Chars<'_>, quote: char, out: &mut String) {
    while let Some(d) = chars.next() {
        out.push(d);
        if d == '\\' {
            if let Some(e) = chars.next() {
                out.push(e);
            }
        } else if d == quote {
            return;
        }
    }
}

/// The explanation of a JMESPath error without the expression text. Custom functions report their
/// errors as `Parse` reasons (the crate has no other free-text kind), so they are shown as they are.
fn reason(reason: &ErrorReason, offset: usize) -> String {
    match reason {
        ErrorReason::Parse(m) if m.starts_with("fn ") => m.trim_start_matches("fn ").to_string(),
        ErrorReason::Parse(m) => format!("{m} (at character {offset})"),
        ErrorReason::Runtime(RuntimeError::InvalidType {
            expected,
            actual,
            position,
        }) => format!("argument {} must be {expected}, not {actual}", position + 1),
        ErrorReason::Runtime(e) => e.to_string(),
    }
}

/// A JMESPath value as JSON (expression references become null).
pub fn to_json(v: &Variable) -> Value {
    match v {
        Variable::Null | Variable::Expref(_) => Value::Null,
        Variable::String(s) => Value::String(s.clone()),
        Variable::Bool(b) => Value::Bool(*b),
        Variable::Number(n) => Value::Number(n.clone()),
        Variable::Array(a) => Value::Array(a.iter().map(|x| to_json(x)).collect()),
        Variable::Object(o) => {
            Value::Object(o.iter().map(|(k, x)| (k.clone(), to_json(x))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(expr: &str, rec: Value) -> Result<Value, ExprError> {
        JmesExpr::compile(expr)?.eval(&rec)
    }

    /// Each kind of nesting at the cap compiles and runs on a thread with the default 2 MiB stack
    /// (the module is built for release; a debug build's frames are several times larger, so there
    /// the test gives 16 MiB), inside a `filter_entries` predicate nested as deep; one more is
    /// refused before parsing.
    #[test]
    fn expressions_nest_up_to_the_cap_and_no_deeper() {
        let n = MAX_NESTING;
        let kinds = [
            format!("{}a", "!".repeat(n)),
            format!("{}a{}", "(".repeat(n), ")".repeat(n)),
            format!("a{}", ".a".repeat(n)),
            format!("a{}", "|a".repeat(n)),
            format!("a{}", "&&a".repeat(n / 2)),
            format!("{}a{}", "[".repeat(n), "]".repeat(n)),
            format!("{}a{}", "{a:".repeat(n), "}".repeat(n)),
            format!("{}a{}", "length(".repeat(n), ")".repeat(n)),
            format!("a{}", "[?a]".repeat(n / 2)),
        ];
        for source in kinds {
            assert_eq!(nesting(&source), n, "{source:.40}");
            let within = source.clone();
            std::thread::Builder::new()
                .stack_size(if cfg!(debug_assertions) {
                    16 << 20
                } else {
                    2 << 20
                })
                .spawn(move || {
                    let rec = json!({"a": {"a": 1}, "rule": within});
                    let _ = eval(&within, rec.clone());
                    // The same as a predicate, inside an expression as deep.
                    let outer = format!(
                        "{}filter_entries(@, rule){}",
                        "(".repeat(n - 2),
                        ")".repeat(n - 2)
                    );
                    let _ = eval(&outer, rec);
                })
                .unwrap()
                .join()
                .unwrap();
            let deeper = format!("!{source}");
            match JmesExpr::compile(&deeper) {
                Err(ExprError::Parse { message, .. }) => assert!(
                    message.starts_with(&format!(
                        "it has {} operators and brackets, more than the {n}",
                        n + 1
                    )),
                    "{message}"
                ),
                _ => panic!("accepted {deeper:.40}"),
            }
        }
        // Quoted names, raw strings and literals do not count.
        assert_eq!(nesting(r#""a.b" == 'c.d' && `{"e":[1]}`"#), 4);
        assert_eq!(nesting(r#"'it\'s.' || `"\`."`"#), 2);
    }

    #[test]
    fn a_predicate_may_not_call_filter_entries() {
        let rec = json!({"m": {"k": {"x": 1}}, "rule": "filter_entries(value, 'key == `x`')"});
        let e = eval("filter_entries(m, rule)", rec).unwrap_err();
        assert!(
            e.to_string()
                .contains("a predicate may not call filter_entries itself"),
            "{e}"
        );
    }

    #[test]
    fn standard_language_and_functions_work() {
        let rec = json!({"a": {"b": [1, 2, 3]}, "s": "x"});
        assert_eq!(eval("a.b[1]", rec.clone()), Ok(json!(2)));
        assert_eq!(eval("length(a.b)", rec.clone()), Ok(json!(3)));
        assert_eq!(
            eval("{x: s, n: sum(a.b)}", rec.clone()),
            Ok(json!({"x": "x", "n": 6.0}))
        );
        assert_eq!(eval("a.b[?@ > `1`]", rec), Ok(json!([2, 3])));
    }

    #[test]
    fn back_quoted_literals_that_are_not_json_are_strings() {
        let rec = json!({"s": "x", "n": 2});
        for (expr, want) in [
            ("`sha1`", json!("sha1")),
            ("`  foo bar`", json!("foo bar")),
            ("`1`", json!(1)),
            ("`\"q\"`", json!("q")),
            ("`a\\`b`", json!("a`b")),
            ("'a`b'", json!("a`b")),
            ("\"s\"", json!("x")),
            ("hash(s, `sha1`) == hash(s, 'sha1')", json!(true)),
            ("n > `1`", json!(true)),
        ] {
            assert_eq!(eval(expr, rec.clone()), Ok(want), "{expr}");
        }
        assert!(JmesExpr::compile("`unterminated").is_err());
    }

    #[test]
    fn standard_function_type_errors_name_types_not_values() {
        let e = eval("length(n)", json!({"n": 12345})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "argument 1 must be array|object|string, not number"
        );
        assert!(!e.to_string().contains("12345"), "{e}");
    }

    #[test]
    fn unknown_functions_fail_at_compile_time_even_when_nested() {
        let e = JmesExpr::compile("a[?foo(b)].c").err().unwrap();
        assert_eq!(
            e.to_string(),
            "jmespath expression does not parse: unknown function `foo`"
        );
    }

    #[test]
    fn the_standard_arities_match_the_runtime() {
        // The crate checks counts only when it evaluates: its own errors confirm the table.
        let counted = |source: &str| {
            let e = RUNTIME
                .compile(source)
                .unwrap()
                .search(Rcvar::new(Variable::Null));
            e.err().is_some_and(|e| e.to_string().contains("arguments"))
        };
        for (name, min, more) in super::super::functions::BUILTIN {
            assert!(RUNTIME.get_function(name).is_some(), "{name}");
            let args = |n: usize| vec!["@"; n].join(", ");
            assert!(!counted(&format!("{name}({})", args(*min))), "{name}");
            assert!(counted(&format!("{name}({})", args(min - 1))), "{name}");
            assert_eq!(
                counted(&format!("{name}({})", args(min + 1))),
                !more,
                "{name}"
            );
        }
    }
}
