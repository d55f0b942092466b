//! String functions: base64_decode, capitalize, concat, lower, upper, left, right, mid, replace,
//! regex_replace, split, uuid.

use base64::Engine;
use jmespath::{Context, Rcvar, Variable};

use super::functions::{count_arg, fail, null, string, string_arg, Outcome};

/// `base64_decode(s)`: the decoded bytes as UTF-8 text.
pub fn base64_decode(args: &[Rcvar], ctx: &mut Context<'_>) -> Outcome {
    let Some(s) = string_arg(args, 0) else {
        return null();
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|_| {
            fail(
                ctx,
                "base64_decode: the argument is not valid base64".into(),
            )
        })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        fail(
            ctx,
            "base64_decode: the decoded bytes are not UTF-8 text".into(),
        )
    })?;
    string(text)
}

/// `capitalize(s)`: each word's first letter upper-case, the rest lower-case.
pub fn capitalize(args: &[Rcvar], _: &mut Context<'_>) -> Outcome {
    let Some(s) = string_arg(args, 0) else {
        return null();
    };
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        start = c.is_whitespace();
    }
    string(out)
}

/// `concat(array)`: the items joined as text; null items add nothing.
pub fn concat(args: &[Rcvar], ctx: &mut Context<'_>) -> Outcome {
    let mut out = String::new();
    for item in args[0].as_array().into_iter().flatten() {
        match &**item {
            Variable::Null => {}
            Variable::String(s) => out.push_str(s),
            Variable::Number(n) => out.push_str(&n.to_string()),
            Variable::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            other => {
                return Err(fail(
                    ctx,
                    format!(
                        "concat: items must be strings, numbers or booleans, not {}",
                        other.get_type()
                    ),
                ))
            }
        }
    }
    string(out)
}

/// `lower(s)`.
pub fn lower(args: &[Rcvar], _: &mut Context<'_>) -> Outcome {
    string_arg(args, 0).map_or_else(null, |s| string(s.to_lowercase()))
}

/// `upper(s)`.
pub fn upper(args: &[Rcvar], _: &mut Context<'_>) -> Outcome {
    string_arg(args, 0).map_or_else(null, |s| string(s.to_uppercase()))
}

/// `left(s, n)`: the first `n` characters.
pub fn left(args: &[Rcvar], ctx: &mut Context<'_>) -> Outcome {
    let n = count_arg(args, 1, "left", ctx)?;
    string_arg(args, 0).map_or_else(null, |s| string(s.chars().take(n).collect()))
}

/// `right(s, n)`: the last `n` characters.
pub fn right(args: &[Rcvar], ctx: &mut Context<'_>) -> Outcome {
    let n = count_arg(args, 1, "right", ctx)?;
    let Some(s) = string_arg(args, 0) else {
        return null();
    };
    let len = s.chars().count();
    string(s.chars().skip(len.saturating_sub(n)).collect())
}

/// `mid(s, start, len)`: `len` characters from `start` (0-based).
pub fn mid(args: &[Rcvar], ctx: &mut Context<'_>) -> Outcome {
    let start = count_arg(args, 1, "mid", ctx)?;
    let len = count_arg(args, 2, "mid", ctx)?;
    string_arg(args, 0).map_or_else(null, |s| string(s.chars().skip(start).take(len).collect()))
}

/// `replace(s, old, new)`: every occurrence of `old`.
pub fn replace(args: &[Rcvar], _: &mut Context<'_>) -> Outcome {
    let (Some(s), Some(old), Some(new)) = (
        string_arg(args, 0),
        string_arg(args, 1),
        string_arg(args, 2),
    ) else {
        return null();
    };
    if old.is_empty() {
        return string(s.to_string());
    }
    string(s.replace(old, new))
}

/// `regex_replace(s, pattern, repl)`: every match; `repl` may refer to groups as `\1` or `$1`.
pub fn regex_replace(args: &[Rcvar], ctx: &mut Context<'_>) -> Outcome {
    let (Some(s), Some(pattern), Some(repl)) = (
        string_arg(args, 0),
        string_arg(args, 1),
        string_arg(args, 2),
    ) else {
        return null();
    };
    let re = regex::Regex::new(pattern).map_err(|e| {
        fail(
            ctx,
            format!(
                "regex_replace: invalid pattern: {}",
                first_line(&e.to_string())
            ),
        )
    })?;
    string(re.replace_all(s, python_groups(repl).as_str()).into_owned())
}

fn first_line(s: &str) -> String {
    s.lines().last().unwrap_or(s).trim().to_string()
}

/// Rewrites Python's `\1` group references as `${1}`, and escapes a lone `$`.
fn python_groups(repl: &str) -> String {
    let mut out = String::with_capacity(repl.len());
    let mut chars = repl.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(|d| d.is_ascii_digit()) => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                out.push_str(&format!("${{{digits}}}"));
            }
            '$' if !chars
                .peek()
                .is_some_and(|d| d.is_ascii_alphanumeric() || *d == '{') =>
            {
                out.push_str("$$")
            }
            _ => out.push(c),
        }
    }
    out
}

/// `split(s, delim=',')`.
pub fn split(args: &[Rcvar], ctx: &mut Context<'_>) -> Outcome {
    if args.len() > 2 {
        return Err(fail(
            ctx,
            "split: takes a string and an optional delimiter".into(),
        ));
    }
    let delim = string_arg(args, 1).unwrap_or(",");
    if delim.is_empty() {
        return Err(fail(ctx, "split: the delimiter must not be empty".into()));
    }
    let Some(s) = string_arg(args, 0) else {
        return null();
    };
    let parts = s
        .split(delim)
        .map(|p| Rcvar::new(Variable::String(p.to_string())))
        .collect();
    Ok(Rcvar::new(Variable::Array(parts)))
}

/// `uuid()`: a random (version 4) UUID.
pub fn uuid(_: &[Rcvar], _: &mut Context<'_>) -> Outcome {
    string(uuid::Uuid::new_v4().to_string())
}

#[cfg(test)]
mod tests {
    use super::super::jmes::JmesExpr;
    use serde_json::{json, Value};

    fn eval(expr: &str, rec: Value) -> Result<Value, String> {
        JmesExpr::compile(expr)
            .map_err(|e| e.to_string())?
            .eval(&rec)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn golden_string_functions() {
        let rec = json!({"s": "hello wORLD", "b": "SGVsbG8=", "n": null, "x": 5});
        let cases = [
            ("base64_decode(b)", json!("Hello")),
            ("capitalize(s)", json!("Hello World")),
            (
                "concat([s, ' ', x, ' ', n, `true`])",
                json!("hello wORLD 5 true"),
            ),
            ("lower(s)", json!("hello world")),
            ("upper(s)", json!("HELLO WORLD")),
            ("left(s, `3`)", json!("hel")),
            ("right(s, `3`)", json!("RLD")),
            ("right(s, `99`)", json!("hello wORLD")),
            ("mid(s, `1`, `3`)", json!("ell")),
            ("mid(s, `50`, `3`)", json!("")),
            ("replace(s, 'l', 'L')", json!("heLLo wORLD")),
            (
                "regex_replace(s, '([a-z]+) (\\w+)', '\\2-\\1')",
                json!("wORLD-hello"),
            ),
            ("regex_replace('a1b22', '[0-9]+', '#')", json!("a#b#")),
            ("regex_replace('cost', 'c', '$')", json!("$ost")),
            ("split('a,b,,c')", json!(["a", "b", "", "c"])),
            ("split('a b', ' ')", json!(["a", "b"])),
        ];
        for (expr, want) in cases {
            assert_eq!(eval(expr, rec.clone()), Ok(want), "{expr}");
        }
    }

    #[test]
    fn nulls_and_missing_fields_give_null() {
        for f in [
            "base64_decode(n)",
            "capitalize(n)",
            "lower(missing)",
            "upper(n)",
            "left(n, `1`)",
            "right(n, `1`)",
            "mid(n, `0`, `1`)",
            "replace(n, 'a', 'b')",
            "regex_replace(n, 'a', 'b')",
            "split(n)",
        ] {
            assert_eq!(eval(f, json!({"n": null})), Ok(Value::Null), "{f}");
        }
        assert_eq!(eval("concat(`[]`)", json!({})), Ok(json!("")));
    }

    #[test]
    fn wrong_argument_types_are_errors_without_values() {
        // Literal arguments are checked at compile time (see `calls`); these come from the record.
        let rec = json!({"x": 4242, "s": "secret-value", "o": {"a": 1}, "neg": -1, "paren": "(",
                         "empty": ""});
        for (expr, want) in [
            ("upper(x)", "argument 1 must be string|null, not number"),
            ("left(s, s)", "argument 2 must be number, not string"),
            (
                "left(s, neg)",
                "left: argument 2 must be a non-negative integer",
            ),
            ("concat(s)", "argument 1 must be array, not string"),
            (
                "concat([o])",
                "concat: items must be strings, numbers or booleans, not object",
            ),
            (
                "base64_decode(s)",
                "base64_decode: the argument is not valid base64",
            ),
            (
                "regex_replace(s, paren, 'x')",
                "regex_replace: invalid pattern",
            ),
            ("split(s, empty)", "split: the delimiter must not be empty"),
            ("mid(s, `1`)", "`mid` takes 3 arguments, got 2"),
        ] {
            let e = eval(expr, rec.clone()).unwrap_err();
            assert!(e.contains(want), "{expr}: {e}");
            assert!(
                !e.contains("4242") && !e.contains("secret-value"),
                "{expr}: {e}"
            );
        }
    }

    #[test]
    fn uuids_are_random_v4() {
        let a = eval("uuid()", json!({})).unwrap();
        let b = eval("uuid()", json!({})).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.as_str().unwrap().len(), 36);
        assert_eq!(&a.as_str().unwrap()[14..15], "4");
    }
}
