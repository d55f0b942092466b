//! Object and list functions: to_entries, from_entries, filter_entries, in, json_parse.

use std::collections::BTreeMap;

use jmespath::{Context, Rcvar, Variable};
use serde_json::Value;

use super::functions::{fail, null, string_arg, variable, Outcome};
use super::jmes::{to_json, JmesExpr};

/// `to_entries(obj)`: `[{key, value}]` in key order.
pub fn to_entries(args: &[Rcvar], _: &mut Context<'_>) -> Outcome {
    let entries = args[0]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| entry(k, v.clone()))
        .collect();
    Ok(Rcvar::new(Variable::Array(entries)))
}

fn entry(key: &str, value: Rcvar) -> Rcvar {
    let mut m = BTreeMap::new();
    m.insert(
        "key".to_string(),
        Rcvar::new(Variable::String(key.to_string())),
    );
    m.insert("value".to_string(), value);
    Rcvar::new(Variable::Object(m))
}

/// `from_entries(array)`: items are `{key, value}` objects (also `{name, value}`, `{k, v}`) or
/// `[key, value]` pairs.
pub fn from_entries(args: &[Rcvar], ctx: &mut Context<'_>) -> Outcome {
    let mut out = BTreeMap::new();
    for item in args[0].as_array().into_iter().flatten() {
        let (key, value) = match &**item {
            Variable::Object(o) => {
                let key = ["key", "name", "k", "Key", "Name"]
                    .iter()
                    .find_map(|k| o.get(*k));
                let value = ["value", "v", "Value"].iter().find_map(|k| o.get(*k));
                (key.cloned(), value.cloned())
            }
            Variable::Array(a) if a.len() == 2 => (Some(a[0].clone()), Some(a[1].clone())),
            _ => (None, None),
        };
        let Some(key) = key else {
            return Err(fail(
                ctx,
                "from_entries: items must be {key, value} objects or [key, value] pairs".into(),
            ));
        };
        let key = match &*key {
            Variable::String(s) => s.clone(),
            Variable::Number(n) => n.to_string(),
            _ => {
                return Err(fail(
                    ctx,
                    "from_entries: keys must be strings or numbers".into(),
                ))
            }
        };
        out.insert(key, value.unwrap_or_else(|| Rcvar::new(Variable::Null)));
    }
    Ok(Rcvar::new(Variable::Object(out)))
}

/// `filter_entries(obj, predicate)`: the entries for which the JMESPath `predicate`, evaluated against
/// `{key, value}`, is true.
pub fn filter_entries(args: &[Rcvar], ctx: &mut Context<'_>) -> Outcome {
    let Some(predicate) = string_arg(args, 1) else {
        return null();
    };
    // A predicate may call filter_entries with a predicate read from the record, and so on as deep
    // as the record nests: each level is a whole search on this thread's stack.
    let depth = PREDICATE_DEPTH.with(|d| d.get());
    if depth >= MAX_PREDICATE_DEPTH {
        return Err(fail(
            ctx,
            format!(
                "filter_entries: a predicate may not call filter_entries itself (predicates nest \
                 at most {MAX_PREDICATE_DEPTH} deep)"
            ),
        ));
    }
    let predicate = JmesExpr::compile(predicate)
        .map_err(|e| fail(ctx, format!("filter_entries: the predicate {e}")))?;
    let _level = Level::enter(depth);
    keep_entries(args, &predicate, ctx)
}

/// How deep `filter_entries` predicates may nest (see [`filter_entries`]): one, so that an
/// expression and its predicate, each within [`super::jmes::MAX_NESTING`], fit a thread's stack.
const MAX_PREDICATE_DEPTH: usize = 1;

thread_local! {
    /// The `filter_entries` predicates being searched on this thread.
    static PREDICATE_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// One predicate being searched: counted in [`PREDICATE_DEPTH`] until dropped, however the search ends.
struct Level(usize);

impl Level {
    fn enter(depth: usize) -> Level {
        PREDICATE_DEPTH.with(|d| d.set(depth + 1));
        Level(depth)
    }
}

impl Drop for Level {
    fn drop(&mut self) {
        PREDICATE_DEPTH.with(|d| d.set(self.0));
    }
}

/// The entries of `args[0]` for which `predicate` is true.
fn keep_entries(args: &[Rcvar], predicate: &JmesExpr, ctx: &mut Context<'_>) -> Outcome {
    let mut out = BTreeMap::new();
    for (k, v) in args[0].as_object().into_iter().flatten() {
        let probe = serde_json::json!({"key": k, "value": to_json(v)});
        let keep = predicate
            .eval(&probe)
            .map_err(|e| fail(ctx, format!("filter_entries: the predicate failed: {e}")))?;
        if is_truthy(&keep) {
            out.insert(k.clone(), v.clone());
        }
    }
    Ok(Rcvar::new(Variable::Object(out)))
}

/// JMESPath's truth: false, null, and empty strings, arrays and objects are false.
fn is_truthy(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// `in(el, list)`: whether `list` holds `el`.
pub fn is_in(args: &[Rcvar], _: &mut Context<'_>) -> Outcome {
    let found = args[1]
        .as_array()
        .is_some_and(|list| list.iter().any(|x| **x == *args[0]));
    Ok(Rcvar::new(Variable::Bool(found)))
}

/// `json_parse(s)` (also `parse_json`): the JSON text as a value.
pub fn json_parse(args: &[Rcvar], ctx: &mut Context<'_>) -> Outcome {
    let Some(s) = string_arg(args, 0) else {
        return null();
    };
    let value: Value = serde_json::from_str(s).map_err(|e| {
        fail(
            ctx,
            format!(
                "json_parse: not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    variable(&value, ctx)
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
    fn golden_entry_and_list_functions() {
        let rec =
            json!({"o": {"b": 2, "a": 1, "c": null}, "j": "{\"x\": [1, true]}", "l": ["a", "b"]});
        let cases = [
            (
                "to_entries(o)",
                json!([{"key": "a", "value": 1}, {"key": "b", "value": 2}, {"key": "c", "value": null}]),
            ),
            (
                "from_entries(to_entries(o))",
                json!({"a": 1, "b": 2, "c": null}),
            ),
            (
                "from_entries([['k', `1`], {name: 'n', value: 'v'}])",
                json!({"k": 1, "n": "v"}),
            ),
            ("filter_entries(o, 'value > `1`')", json!({"b": 2})),
            // JMESPath's truth: an empty array is false.
            ("filter_entries(o, 'value && `[]`')", json!({})),
            // RDI's documented form: the predicate as a back-quoted literal that is not JSON.
            (
                "filter_entries(o, `key == 'a' || key == 'c'`)",
                json!({"a": 1, "c": null}),
            ),
            (
                "filter_entries(o, 'key != `\"c\"`')",
                json!({"a": 1, "b": 2}),
            ),
            ("in('a', l)", json!(true)),
            ("in('z', l)", json!(false)),
            ("in(missing, l)", json!(false)),
            ("json_parse(j)", json!({"x": [1, true]})),
            ("parse_json(j).x[0]", json!(1)),
            ("json_parse(missing)", Value::Null),
        ];
        for (expr, want) in cases {
            assert_eq!(eval(expr, rec.clone()), Ok(want), "{expr}");
        }
    }

    #[test]
    fn entry_function_errors() {
        let rec = json!({"s": "not {json", "o": {"a": 1}});
        for (expr, want) in [
            ("to_entries(s)", "argument 1 must be object, not string"),
            ("from_entries([`1`])", "from_entries: items must be"),
            (
                "from_entries([{key: `true`, value: `1`}])",
                "from_entries: keys must be strings",
            ),
            (
                "filter_entries(o, 'a.[')",
                "`filter_entries`: the predicate does not parse: jmespath expression does not parse",
            ),
            ("in('a', s)", "argument 2 must be array, not string"),
            (
                "json_parse(s)",
                "json_parse: not valid JSON (line 1, column 2)",
            ),
            (
                "json_parse(o)",
                "argument 1 must be string|null, not object",
            ),
        ] {
            let e = eval(expr, rec.clone()).unwrap_err();
            assert!(e.contains(want), "{expr}: {e}");
            assert!(!e.contains("not {json"), "{expr}: {e}");
        }
    }
}
