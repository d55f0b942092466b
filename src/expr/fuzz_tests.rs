//! Every custom function called with every kind of argument, and random expressions built from the
//! languages' tokens, against records of odd values: an expression may refuse to compile or fail on a
//! record (the record then goes to the dead-letter queue), never panic on a writer thread.
//! `RDI_EXPR_FUZZ` sets how many random expressions per language.
//! Test-only: declared under #[cfg(test)] in `expr/mod.rs`.

use crate::fuzz::{count, Rng};
use std::panic::{catch_unwind, AssertUnwindSafe};

use serde_json::{json, Value};

use super::expression::{Expression, Language};
use super::functions::{arity, BUILTIN};

/// Random expressions per language by default.
const EXPRESSIONS: usize = 20_000;

/// The custom functions of SPEC §3.3 (the names `functions::definitions` registers).
const CUSTOM: &[&str] = &[
    "base64_decode",
    "capitalize",
    "concat",
    "lower",
    "upper",
    "left",
    "right",
    "mid",
    "replace",
    "regex_replace",
    "split",
    "json_parse",
    "parse_json",
    "in",
    "to_entries",
    "from_entries",
    "filter_entries",
    "hash",
    "time_delta_days",
    "time_delta_seconds",
    "uuid",
];

/// Argument values: every JSON type, with edge cases of each.
fn values() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(-0.5),
        json!(1e300),
        json!(-1e300),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(""),
        json!("a"),
        json!("Ünïcödé ✓ 𝄞"),
        json!("(["),
        json!("$1\\"),
        json!("{\"k\": [1, {\"x\": null}]}"),
        json!("not json {"),
        json!("2024-02-29T23:59:59Z"),
        json!("2024-13-45"),
        json!("1700000000"),
        json!("-99999999999999999999"),
        json!("SGVsbG8="),
        json!("%%%"),
        json!("md5"),
        json!("sha256"),
        json!("crc32"),
        json!([]),
        json!([1, "a", null]),
        json!([{"key": "k", "value": 1}, {"key": 2}]),
        json!([["k", "v"]]),
        json!({}),
        json!({"a": 1, "b": [1, 2]}),
    ]
}

/// How far an expression got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Got {
    Refused,
    Failed,
    Evaluated,
}

/// Compiles `source` in `language` and evaluates it against `record`; `Err` names the panic.
fn run(language: Language, source: &str, record: &Value) -> Result<Got, String> {
    catch_unwind(AssertUnwindSafe(|| {
        let Ok(e) = Expression::compile(language, source) else {
            return Got::Refused;
        };
        let _ = e.is_true(record);
        match e.eval(record) {
            Ok(_) => Got::Evaluated,
            Err(_) => Got::Failed,
        }
    }))
    .map_err(|_| format!("{} {source:?} on {record}", language.as_str()))
}

/// Outcomes of many expressions, by language, and the panics among them.
#[derive(Default)]
struct Tally {
    got: std::collections::BTreeMap<(&'static str, String), usize>,
    panics: Vec<String>,
}

impl Tally {
    fn add(&mut self, language: Language, outcome: Result<Got, String>) {
        match outcome {
            Ok(got) => {
                *self
                    .got
                    .entry((language.as_str(), format!("{got:?}")))
                    .or_insert(0) += 1
            }
            Err(p) => self.panics.push(p),
        }
    }

    /// No panic, and more than one in `share` of the `count` expressions of each language evaluated.
    fn check(&self, what: &str, count: usize, share: usize) {
        eprintln!("{what}: {:?}", self.got);
        assert!(
            self.panics.is_empty(),
            "{} panics: {:#?}",
            self.panics.len(),
            self.panics
        );
        for language in ["jmespath", "sql"] {
            let evaluated = self
                .got
                .get(&(language, "Evaluated".to_string()))
                .copied()
                .unwrap_or(0);
            assert!(
                evaluated * share > count,
                "{language}: only {evaluated} of {count} evaluated: {:?}",
                self.got
            );
        }
    }
}

#[test]
fn every_custom_function_takes_every_kind_of_argument_without_panicking() {
    let values = values();
    let mut panics = Vec::new();
    let mut calls = 0usize;
    let mut evaluated = 0usize;
    for name in CUSTOM {
        let a = arity(name).unwrap_or_else(|| panic!("{name} is not registered"));
        let max = a.max.unwrap_or(a.min + 1);
        for n in a.min..=max {
            // Each argument position takes every value while the others hold a string, a number
            // and null in turn.
            for fill in [json!("abc"), json!(2), Value::Null] {
                for position in 0..n.max(1) {
                    for v in &values {
                        let mut record = serde_json::Map::new();
                        let args: Vec<String> = (0..n).map(|i| format!("a{i}")).collect();
                        for (i, arg) in args.iter().enumerate() {
                            let value = if i == position {
                                v.clone()
                            } else {
                                fill.clone()
                            };
                            record.insert(arg.clone(), value);
                        }
                        let source = format!("{name}({})", args.join(", "));
                        calls += 1;
                        match run(Language::Jmespath, &source, &Value::Object(record)) {
                            Ok(Got::Evaluated) => evaluated += 1,
                            Ok(Got::Refused) => panic!("{source} does not compile"),
                            Ok(Got::Failed) => {}
                            Err(p) => panics.push(p),
                        }
                    }
                }
            }
        }
    }
    eprintln!(
        "custom functions: {calls} calls, {evaluated} evaluated, the others refused the values"
    );
    assert!(
        calls > 1000 && evaluated * 10 > calls,
        "{calls} calls, {evaluated} evaluated"
    );
    assert!(panics.is_empty(), "{} panics: {panics:#?}", panics.len());
}

/// Random token strings: field names, literals, operators and function names of the language.
fn random_source(rng: &mut Rng, tokens: &[&str]) -> String {
    let mut out = String::new();
    for _ in 0..=rng.below(12) {
        out.push_str(tokens[rng.below(tokens.len())]);
    }
    out
}

/// A random JMESPath expression from a small grammar: fields, literals, projections, filters and
/// calls of every function with its arity, nested up to `depth`.
fn jmes_expr(rng: &mut Rng, depth: usize, functions: &[(&str, usize, usize)]) -> String {
    const LEAVES: &[&str] = &[
        "a0",
        "a1",
        "@",
        "`1`",
        "`-2.5`",
        "`\"x\"`",
        "'lit'",
        "`[1,\"b\",null]`",
        "`{\"k\":1}`",
        "`null`",
        "`true`",
        "a1.b",
        "a1.b[0]",
        "`1e300`",
        "`\"2024-01-01\"`",
        "`\"\"`",
    ];
    if depth == 0 || rng.below(3) == 0 {
        return LEAVES[rng.below(LEAVES.len())].to_string();
    }
    let d = depth - 1;
    match rng.below(8) {
        0 => format!(
            "{}.{}",
            jmes_expr(rng, d, functions),
            ["a0", "b", "*", "[0]"][rng.below(4)]
        ),
        1 => format!(
            "{}[{}]",
            jmes_expr(rng, d, functions),
            ["0", "-1", "*", "::-1", "1:", "?@ > `1`"][rng.below(6)]
        ),
        2 => format!(
            "{} {} {}",
            jmes_expr(rng, d, functions),
            ["||", "&&", "==", "<", "|"][rng.below(5)],
            jmes_expr(rng, d, functions)
        ),
        3 => format!(
            "[{}, {}]",
            jmes_expr(rng, d, functions),
            jmes_expr(rng, d, functions)
        ),
        4 => format!(
            "{{x: {}, y: {}}}",
            jmes_expr(rng, d, functions),
            jmes_expr(rng, d, functions)
        ),
        _ => {
            let (name, min, max) = functions[rng.below(functions.len())];
            let n = min + rng.below(max - min + 1);
            let args: Vec<String> = (0..n)
                .map(|_| jmes_expr(rng, depth - 1, functions))
                .collect();
            format!("{name}({})", args.join(", "))
        }
    }
}

/// A random SQL expression from a small grammar: columns, literals, operators, CASE and functions.
fn sql_expr(rng: &mut Rng, depth: usize) -> String {
    const LEAVES: &[&str] = &[
        "a0",
        "a1",
        "1",
        "-1",
        "0",
        "2.5",
        "1e308",
        "'x'",
        "''",
        "NULL",
        "'2024-01-01'",
        "'{\"a\":1}'",
    ];
    const FUNCTIONS: &[(&str, usize)] = &[
        ("upper", 1),
        ("lower", 1),
        ("length", 1),
        ("abs", 1),
        ("substr", 3),
        ("coalesce", 2),
        ("json_extract", 2),
        ("printf", 2),
        ("strftime", 2),
        ("round", 2),
        ("replace", 3),
        ("instr", 2),
        ("hex", 1),
        ("typeof", 1),
        ("date", 1),
        ("ifnull", 2),
        ("max", 2),
    ];
    if depth == 0 || rng.below(3) == 0 {
        return LEAVES[rng.below(LEAVES.len())].to_string();
    }
    let d = depth - 1;
    match rng.below(6) {
        0 => format!(
            "({} {} {})",
            sql_expr(rng, d),
            ["+", "-", "*", "/", "%", "||", "=", "<", "AND", "OR", "LIKE"][rng.below(11)],
            sql_expr(rng, d)
        ),
        1 => format!(
            "CASE WHEN {} THEN {} ELSE {} END",
            sql_expr(rng, d),
            sql_expr(rng, d),
            sql_expr(rng, d)
        ),
        2 => format!(
            "CAST({} AS {})",
            sql_expr(rng, d),
            ["INTEGER", "TEXT", "REAL"][rng.below(3)]
        ),
        _ => {
            let (name, n) = FUNCTIONS[rng.below(FUNCTIONS.len())];
            let args: Vec<String> = (0..n).map(|_| sql_expr(rng, depth - 1)).collect();
            format!("{name}({})", args.join(", "))
        }
    }
}

#[test]
fn expressions_from_the_grammars_compile_and_never_panic() {
    let count = count("RDI_EXPR_FUZZ", EXPRESSIONS);
    let functions: Vec<(&str, usize, usize)> = CUSTOM
        .iter()
        .copied()
        .chain(BUILTIN.iter().map(|(n, _, _)| *n))
        .filter_map(|name| {
            let a = arity(name)?;
            Some((name, a.min, a.max.unwrap_or(a.min + 1)))
        })
        .collect();
    let records = records();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut tally = Tally::default();
    for _ in 0..count {
        let record = &records[rng.below(records.len())];
        let jmes = jmes_expr(&mut rng, 4, &functions);
        let sql = sql_expr(&mut rng, 4);
        for (language, source) in [(Language::Jmespath, jmes), (Language::Sql, sql)] {
            let outcome = run(language, &source, record);
            if language == Language::Sql && outcome == Ok(Got::Refused) {
                tally
                    .panics
                    .push(format!("sql {source:?} does not compile"));
            }
            tally.add(language, outcome);
        }
    }
    tally.check("expressions from the grammars", count, 4);
}

/// Records with strings, nulls, arrays, objects and large numbers in the fields expressions read.
fn records() -> [Value; 4] {
    [
        json!({"a0": "abc", "a1": 2}),
        json!({"a0": null, "a1": {"b": [1, 2]}}),
        json!({"a0": [1, "x"], "a1": 1e300}),
        json!({}),
    ]
}

#[test]
fn random_expressions_compile_or_are_refused_and_never_panic() {
    let count = count("RDI_EXPR_FUZZ", EXPRESSIONS);
    let mut jmes: Vec<&str> = vec![
        "a0", "a1", "@", ".", "[", "]", "[*]", "[0]", "[-1]", "[::-1]", "[1:2:0]", "{", "}", ":",
        ",", "(", ")", "|", "||", "&&", "!", "==", "!=", "<", ">=", "`1`", "`\"x\"`", "`[1,2]`",
        "`null`", "'lit'", "\"q\"", "&", "*", "[?", "@.a0", "a0.b", "`1e400`", "`-0`",
    ];
    let names: Vec<String> = CUSTOM
        .iter()
        .copied()
        .chain(BUILTIN.iter().map(|(n, _, _)| *n))
        .map(|n| format!("{n}("))
        .collect();
    jmes.extend(names.iter().map(String::as_str));
    let sql: &[&str] = &[
        "a0",
        "a1",
        " ",
        "+",
        "-",
        "*",
        "/",
        "%",
        "||",
        "(",
        ")",
        ",",
        "1",
        "0",
        "-1",
        "1e308",
        "'x'",
        "''",
        "NULL",
        "CASE",
        "WHEN",
        "THEN",
        "ELSE",
        "END",
        "AND",
        "OR",
        "NOT",
        "=",
        "<>",
        "IS",
        "LIKE",
        "GLOB",
        "CAST(",
        " AS ",
        "INTEGER",
        "TEXT",
        "REAL",
        "upper(",
        "substr(",
        "abs(",
        "length(",
        "json_extract(",
        "'$.a'",
        "printf(",
        "'%d'",
        "coalesce(",
        "strftime(",
        "'now'",
        "SELECT",
        ";",
        "--",
        "/*",
        "randomblob(",
        "zeroblob(",
        "100000",
        "char(",
        "hex(",
    ];
    let records = records();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut tally = Tally::default();
    for _ in 0..count {
        let record = &records[rng.below(records.len())];
        for (language, tokens) in [(Language::Jmespath, &jmes[..]), (Language::Sql, sql)] {
            let source = random_source(&mut rng, tokens);
            tally.add(language, run(language, &source, record));
        }
    }
    tally.check("random expressions", count, 50);
}
