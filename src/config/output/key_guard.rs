//! The loop guard of `redis.write`: whether the keys of a key expression may match a job's key pattern,
//! told from the literal text the keys start with.

use crate::expr::Expression;

/// The literal text every key of the expression starts with, when the expression begins with a string
/// literal (`concat(['copy:', id])`, `'copy:' || id`); `None` when that cannot be told.
pub fn static_prefix(expression: &Expression) -> Option<String> {
    if expression.as_field().is_some() {
        return None;
    }
    let source = expression.source().trim();
    let rest = source
        .strip_prefix("concat(")
        .map(|r| r.trim_start().trim_start_matches('[').trim_start())
        .unwrap_or(source);
    let (quote, body) = match rest.chars().next()? {
        '\'' => ('\'', &rest[1..]),
        '`' => {
            let inner = rest[1..].trim_start().strip_prefix('"')?;
            ('"', inner)
        }
        _ => return None,
    };
    // Stop at an escape: the text before it is literal whatever follows.
    let end = body.find([quote, '\\']).unwrap_or(body.len());
    let prefix = &body[..end];
    (!prefix.is_empty()).then(|| prefix.to_string())
}

/// Whether a key that starts with `prefix` may match the Redis glob `pattern`. Conservative: only the
/// pattern's literal beginning is compared.
pub fn may_match(pattern: &str, prefix: &str) -> bool {
    match pattern.find(['*', '?', '[', '\\']) {
        None => pattern.starts_with(prefix),
        Some(at) => {
            let literal = &pattern[..at];
            prefix.starts_with(literal) || literal.starts_with(prefix)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::expr::Language;

    #[test]
    fn literal_prefixes_are_compared_with_the_pattern() {
        assert!(may_match("emp:*", "emp:"));
        assert!(may_match("emp:*", "em"));
        assert!(!may_match("emp:*", "copy:emp:"));
        assert!(may_match("*", "anything"));
        assert!(!may_match("exact", "exacto"));
        let sql = Expression::compile(Language::Sql, "'copy:' || id").unwrap();
        assert_eq!(static_prefix(&sql).as_deref(), Some("copy:"));
        let raw = Expression::compile(Language::Jmespath, "concat([`\"raw:\"`, id])").unwrap();
        assert_eq!(static_prefix(&raw).as_deref(), Some("raw:"));
        let field = Expression::compile(Language::Jmespath, "id").unwrap();
        assert_eq!(static_prefix(&field), None);
        let constant = Expression::compile(Language::Jmespath, "'emp:all'").unwrap();
        assert!(may_match("emp:*", &static_prefix(&constant).unwrap()));
    }
}
