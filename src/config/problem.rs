//! One problem found in a deployment's YAML, located by file, line, column and field path.

use std::fmt;

/// One problem found in the YAML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// `config.yaml` or `jobs/<name>.yaml`.
    pub file: String,
    /// Line of the offending node, from 1.
    pub line: usize,
    /// Column of the offending node, from 1.
    pub column: usize,
    /// Dotted field path with list indexes (`output[0].with.keys[1]`); empty for the whole file.
    pub path: String,
    /// What is wrong and what to change: lowercase, no final period, never a secret.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    /// `config.yaml:3:5: connections.pg.port: must be an integer between 1 and 65535`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigProblem {}

/// Puts problems in reading order: by file, then line, then column (stable otherwise).
pub fn sort_problems(problems: &mut [ConfigProblem]) {
    problems.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
}

/// Joins a map key onto a field path: `connections` + `pg` gives `connections.pg`.
pub fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Joins a list index onto a field path: `output` + 0 gives `output[0]`.
pub fn item_path(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn problem(file: &str, line: usize, column: usize, path: &str) -> ConfigProblem {
        ConfigProblem {
            file: file.into(),
            line,
            column,
            path: path.into(),
            message: "must be an integer between 1 and 65535".into(),
        }
    }

    #[test]
    fn display_is_file_line_column_path_message() {
        assert_eq!(
            problem("config.yaml", 3, 5, "connections.pg.port").to_string(),
            "config.yaml:3:5: connections.pg.port: must be an integer between 1 and 65535"
        );
    }

    #[test]
    fn display_leaves_out_an_empty_path() {
        assert_eq!(
            problem("jobs/a.yaml", 1, 1, "").to_string(),
            "jobs/a.yaml:1:1: must be an integer between 1 and 65535"
        );
    }

    #[test]
    fn problems_sort_by_file_then_line_then_column() {
        let mut problems = vec![
            problem("jobs/b.yaml", 1, 1, "b"),
            problem("jobs/a.yaml", 9, 1, "a9"),
            problem("config.yaml", 4, 7, "c4.7"),
            problem("jobs/a.yaml", 2, 1, "a2"),
            problem("config.yaml", 4, 3, "c4.3"),
        ];
        sort_problems(&mut problems);
        let order: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(order, ["c4.3", "c4.7", "a2", "a9", "b"]);
    }

    #[test]
    fn paths_join_keys_and_indexes() {
        assert_eq!(child_path("", "output"), "output");
        let with = child_path(&item_path("output", 0), "with");
        assert_eq!(
            item_path(&child_path(&with, "keys"), 1),
            "output[0].with.keys[1]"
        );
    }
}
