//! Finding where a field path (`output[0].with.table`) is written in a YAML text, for problems found
//! after parsing (a table the target does not have), so that they carry a line and column too.

use super::problem::ConfigProblem;
use super::yaml::{parse, Node, Pos, Value};

/// Where `path` is written in `text`: a scalar's own position, or the key of a map or list entry.
/// `None` when the text does not parse or has no such path.
pub fn locate(text: &str, path: &str) -> Option<Pos> {
    let mut node = parse(text).ok()?;
    let mut at = node.pos;
    for segment in path.split('.') {
        let (key, indexes) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        if !key.is_empty() {
            let (k, v) = entry(&node, key)?;
            at = k.pos;
            node = v.clone();
        }
        for index in indexes.split(']').filter(|s| !s.is_empty()) {
            let i: usize = index.strip_prefix('[')?.parse().ok()?;
            let Value::Seq(items) = &node.value else {
                return None;
            };
            node = items.get(i)?.clone();
            at = node.pos;
        }
    }
    Some(match node.value {
        Value::Scalar { .. } => node.pos,
        _ => at,
    })
}

fn entry<'n>(node: &'n Node, key: &str) -> Option<(&'n Node, &'n Node)> {
    let Value::Map(pairs) = &node.value else {
        return None;
    };
    pairs
        .iter()
        .find(|(k, _)| matches!(&k.value, Value::Scalar { text, .. } if text == key))
        .map(|(k, v)| (k, v))
}

/// A problem of `file` (whose text is `text`) at `path`, located where the path is written (at 1:1 if
/// it cannot be found).
pub fn problem_at(file: &str, text: &str, path: &str, message: String) -> ConfigProblem {
    let pos = locate(text, path).unwrap_or(Pos::START);
    ConfigProblem {
        file: file.to_string(),
        line: pos.line,
        column: pos.column,
        path: path.to_string(),
        message,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const JOB: &str = "source:\n  redis:\n    key_pattern: emp:*\noutput:\n  - uses: relational.write\n    with:\n      connection: pg\n      table: emp\n  - uses: redis.write\n    with:\n      data_type: hash\n";

    #[test]
    fn paths_are_found_where_they_are_written() {
        let at = |path| locate(JOB, path).map(|p| (p.line, p.column));
        assert_eq!(at("output[0].with.table"), Some((8, 14)));
        assert_eq!(at("output[1].with.data_type"), Some((11, 18)));
        assert_eq!(at("output[1]"), Some((9, 5)));
        assert_eq!(at("source.redis"), Some((2, 3)));
        assert_eq!(at("output[2].with.table"), None);
        assert_eq!(at("nope"), None);
        let config = "connections:\n  pg:\n    type: postgresql\n";
        assert_eq!(
            locate(config, "connections.pg").map(|p| (p.line, p.column)),
            Some((2, 3))
        );
    }

    #[test]
    fn a_problem_is_located_or_put_at_the_start() {
        let p = problem_at(
            "jobs/emp.yaml",
            JOB,
            "output[0].with.table",
            "no such table".into(),
        );
        assert_eq!(
            p.to_string(),
            "jobs/emp.yaml:8:14: output[0].with.table: no such table"
        );
        let p = problem_at("jobs/emp.yaml", "{", "output", "x".into());
        assert_eq!(p.to_string(), "jobs/emp.yaml:1:1: output: x");
    }
}
