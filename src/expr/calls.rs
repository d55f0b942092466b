//! The function calls of a JMESPath expression, checked when it compiles (at deploy): the name is
//! known, the argument count fits the function, and literal arguments that would fail on every record
//! (a regular expression that does not compile, an unknown hash algorithm) are refused now, rather
//! than sending every change to the dead-letter queue later.

use jmespath::ast::Ast;

use super::digest::ALGORITHMS;
use super::functions::{arity, Arity};

/// The first problem of a function call in `ast`, outer calls first.
pub fn check(ast: &Ast) -> Option<String> {
    // An explicit stack: the depth of an expression is the user's to choose.
    let mut stack = vec![ast];
    while let Some(node) = stack.pop() {
        match node {
            Ast::Function { name, args, .. } => {
                if let Some(problem) = call(name, args) {
                    return Some(problem);
                }
                stack.extend(args.iter().rev());
            }
            Ast::Comparison { lhs, rhs, .. }
            | Ast::Projection { lhs, rhs, .. }
            | Ast::And { lhs, rhs, .. }
            | Ast::Or { lhs, rhs, .. }
            | Ast::Subexpr { lhs, rhs, .. } => {
                stack.push(rhs);
                stack.push(lhs);
            }
            Ast::Condition {
                predicate, then, ..
            } => {
                stack.push(then);
                stack.push(predicate);
            }
            Ast::Expref { ast, .. } => stack.push(ast),
            Ast::Flatten { node, .. } | Ast::Not { node, .. } | Ast::ObjectValues { node, .. } => {
                stack.push(node)
            }
            Ast::MultiList { elements, .. } => stack.extend(elements.iter().rev()),
            Ast::MultiHash { elements, .. } => {
                stack.extend(elements.iter().rev().map(|kv| &kv.value))
            }
            Ast::Identity { .. }
            | Ast::Field { .. }
            | Ast::Index { .. }
            | Ast::Literal { .. }
            | Ast::Slice { .. } => {}
        }
    }
    None
}

/// What is wrong with one call, if anything.
fn call(name: &str, args: &[Ast]) -> Option<String> {
    let Some(arity) = arity(name) else {
        return Some(format!("unknown function `{name}`"));
    };
    let got = args.len();
    if got < arity.min || arity.max.is_some_and(|max| got > max) {
        return Some(format!("`{name}` takes {}, got {got}", takes(arity)));
    }
    match name {
        "regex_replace" => {
            let pattern = literal_string(args, 1)?;
            let e = regex::Regex::new(pattern).err()?;
            let why = e.to_string();
            let why = why.lines().last().unwrap_or_default().trim().to_string();
            Some(format!(
                "`regex_replace`: argument 2 is not a valid regular expression: {why}"
            ))
        }
        "hash" => {
            let algo = literal_string(args, 1)?.to_ascii_lowercase();
            (!ALGORITHMS.contains(&algo.as_str())).then(|| {
                format!(
                    "`hash`: unknown algorithm `{algo}`; use one of: {}",
                    ALGORITHMS.join(", ")
                )
            })
        }
        "filter_entries" => {
            let predicate = literal_string(args, 1)?;
            let e = super::jmes::JmesExpr::compile(predicate).err()?;
            Some(format!(
                "`filter_entries`: the predicate does not parse: {e}"
            ))
        }
        "split" => literal_string(args, 1)
            .filter(|d| d.is_empty())
            .map(|_| "`split`: the delimiter must not be empty".to_string()),
        "left" | "right" => count(name, args, 1),
        "mid" => count(name, args, 1).or_else(|| count(name, args, 2)),
        _ => None,
    }
}

/// `1 argument`, `1 or 2 arguments`, `at least 1 argument`...
fn takes(arity: Arity) -> String {
    let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
    match arity.max {
        Some(0) => "no arguments".to_string(),
        Some(max) if max == arity.min => format!("{max} {}", plural(max)),
        Some(max) if max == arity.min + 1 => format!("{} or {max} arguments", arity.min),
        Some(max) => format!("{} to {max} arguments", arity.min),
        None => format!("at least {} {}", arity.min, plural(arity.min)),
    }
}

/// Argument `i` when it is a string literal (`'x'` or `` `"x"` ``).
fn literal_string(args: &[Ast], i: usize) -> Option<&str> {
    match args.get(i)? {
        Ast::Literal { value, .. } => value.as_string().map(String::as_str),
        _ => None,
    }
}

/// A problem when argument `i` is a literal that is not a non-negative integer.
fn count(name: &str, args: &[Ast], i: usize) -> Option<String> {
    let Ast::Literal { value, .. } = args.get(i)? else {
        return None;
    };
    match value.as_number() {
        Some(f) if f >= 0.0 && f.fract() == 0.0 => None,
        _ => Some(format!(
            "`{name}`: argument {} must be a non-negative integer",
            i + 1
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::super::jmes::JmesExpr;

    fn problem(source: &str) -> String {
        match JmesExpr::compile(source) {
            Ok(_) => panic!("{source} compiled"),
            Err(e) => e
                .to_string()
                .trim_start_matches("jmespath expression does not parse: ")
                .to_string(),
        }
    }

    #[test]
    fn argument_counts_are_checked_at_compile_time() {
        for (source, want) in [
            ("upper(a, b)", "`upper` takes 1 argument, got 2"),
            (
                "name[?contains(tags)]",
                "`contains` takes 2 arguments, got 1",
            ),
            ("uuid(a)", "`uuid` takes no arguments, got 1"),
            ("split(a, ',', b)", "`split` takes 1 or 2 arguments, got 3"),
            ("hash()", "`hash` takes 1 or 2 arguments, got 0"),
            ("merge()", "`merge` takes at least 1 argument, got 0"),
            ("{x: mid(s, `1`)}", "`mid` takes 3 arguments, got 2"),
            ("lower(upper(a, b))", "`upper` takes 1 argument, got 2"),
            ("nope(a)", "unknown function `nope`"),
        ] {
            assert_eq!(problem(source), want, "{source}");
        }
        for source in [
            "upper(a)",
            "split(a)",
            "split(a, ';')",
            "hash(a, 'md5')",
            "merge(a, b, c)",
            "not_null(a, b)",
            "uuid()",
            "sort_by(@, &name)",
        ] {
            assert!(JmesExpr::compile(source).is_ok(), "{source}");
        }
    }

    #[test]
    fn literal_arguments_that_fail_on_every_record_are_refused() {
        assert!(problem("regex_replace(s, '(', 'x')")
            .starts_with("`regex_replace`: argument 2 is not a valid regular expression: "));
        assert_eq!(
            problem("hash(s, 'MD4')"),
            format!(
                "`hash`: unknown algorithm `md4`; use one of: {}",
                super::ALGORITHMS.join(", ")
            )
        );
        assert_eq!(
            problem("split(s, '')"),
            "`split`: the delimiter must not be empty"
        );
        assert_eq!(
            problem("left(s, `-1`)"),
            "`left`: argument 2 must be a non-negative integer"
        );
        assert_eq!(
            problem("mid(s, `0`, `1.5`)"),
            "`mid`: argument 3 must be a non-negative integer"
        );
        // Arguments read from the record are checked when it is evaluated.
        assert!(JmesExpr::compile("regex_replace(s, p, 'x')").is_ok());
        assert!(JmesExpr::compile("hash(s, 'SHA256')").is_ok());
    }
}
