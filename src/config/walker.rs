//! Reading positioned YAML nodes into typed values while collecting every problem on the way.

use super::problem::{child_path, ConfigProblem};
use super::reference::{expand, Expanded, Hidden, Resolver};
use super::yaml::{Node, Pos, Value};

/// Reads the nodes of one file at a time, resolving references and recording problems and notes.
pub struct Walker<'r> {
    /// The file being read, as shown in problems (`config.yaml`, `jobs/<name>.yaml`).
    pub file: String,
    resolver: &'r dyn Resolver,
    /// Problems found so far, in every file read.
    pub problems: Vec<ConfigProblem>,
    /// Notes for the deploy reply (ignored keys, compatibility readings).
    pub notes: Vec<String>,
    /// Values resolved from references so far, each with its reference: messages and the deployment
    /// show the reference in their place (SPEC 2.1: never a secret value).
    pub hidden: Hidden,
    /// The values too short for [`Hidden::hide`], with their scalar's position: hidden only in
    /// messages about that scalar.
    short: Vec<(String, String, Pos)>,
    /// Reading a deployment kept from an earlier version: checks added since then are notes.
    pub lenient: bool,
}

/// The keys of one map, first occurrence of each, ready to be looked up.
pub struct Fields<'n> {
    /// Position of the map.
    pub pos: Pos,
    /// Field path of the map.
    pub path: String,
    entries: Vec<(&'n str, &'n Node, &'n Node)>,
}

impl<'n> Fields<'n> {
    /// The value of `key`, unless it is missing or empty.
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entry(key)
            .map(|(_, value)| value)
            .filter(|value| value.value != Value::Null)
    }

    /// The key node and value of `key`, empty values included.
    pub fn entry(&self, key: &str) -> Option<(&'n Node, &'n Node)> {
        self.entries
            .iter()
            .find(|(name, _, _)| *name == key)
            .map(|(_, k, v)| (*k, *v))
    }

    /// Every (key, key node, value) in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&'n str, &'n Node, &'n Node)> + '_ {
        self.entries.iter().copied()
    }

    /// The value of `key`, or a problem saying it is missing (at the map) or empty (at the key).
    pub fn required(&self, w: &mut Walker, key: &str) -> Option<&'n Node> {
        match self.entry(key) {
            None => {
                w.problem(
                    self.pos,
                    &self.path,
                    format!("missing required key `{key}`"),
                );
                None
            }
            Some((_, value)) if value.value == Value::Null => {
                w.problem(value.pos, &self.child(key), "must have a value");
                None
            }
            Some((_, value)) => Some(value),
        }
    }

    /// A problem for every key not in `allowed`, listing the allowed ones.
    pub fn reject_unknown(&self, w: &mut Walker, allowed: &[&str]) {
        for (name, key, _) in self.iter() {
            if !allowed.contains(&name) {
                let message = format!(
                    "unknown key `{name}`; expected one of: {}",
                    allowed.join(", ")
                );
                w.problem(key.pos, &self.child(name), message);
            }
        }
    }

    /// The field path of `key` in this map.
    pub fn child(&self, key: &str) -> String {
        child_path(&self.path, key)
    }
}

impl<'r> Walker<'r> {
    /// A walker that resolves references with `resolver`.
    pub fn new(file: &str, resolver: &'r dyn Resolver) -> Self {
        Walker {
            file: file.to_string(),
            resolver,
            problems: Vec::new(),
            notes: Vec::new(),
            hidden: Hidden::default(),
            short: Vec::new(),
            lenient: false,
        }
    }

    fn located(&self, pos: Pos, path: &str, message: String) -> ConfigProblem {
        ConfigProblem {
            file: self.file.clone(),
            line: pos.line,
            column: pos.column,
            path: path.to_string(),
            message: self.hide_resolved(pos, message),
        }
    }

    /// `message` with every resolved value it contains replaced by its reference; short values only
    /// in a message about their own scalar.
    fn hide_resolved(&self, pos: Pos, message: String) -> String {
        let mut message = self.hidden.hide(&message);
        for (value, reference, _) in self.short.iter().filter(|(_, _, at)| *at == pos) {
            message = message.replace(value.as_str(), reference);
        }
        message
    }

    /// Records a problem at `pos` in the current file.
    pub fn problem(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        let problem = self.located(pos, path, message.into());
        self.problems.push(problem);
    }

    /// A problem found by a check newer than some kept deployments (a value that used to be accepted
    /// and ignored): a note when [`Walker::lenient`], so that an upgrade never stops a running
    /// pipeline that deployed before. Returns whether it counts as a problem.
    pub fn tightened(&mut self, pos: Pos, path: &str, message: impl Into<String>) -> bool {
        if self.lenient {
            let message = format!(
                "{} (ignored in the deployment kept from before: redeploy to fix)",
                message.into()
            );
            self.note(pos, path, message);
            false
        } else {
            self.problem(pos, path, message);
            true
        }
    }

    /// Records a note for the deploy reply, located like a problem.
    pub fn note(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        let note = self.located(pos, path, message.into()).to_string();
        self.notes.push(note);
    }

    /// A problem saying `node` is not the `expected` kind of value (or is an alias).
    fn wrong_kind(&mut self, node: &Node, path: &str, expected: &str) {
        let message = match node.value {
            Value::Alias => "aliases (`*name`) are not supported; write the value out".to_string(),
            _ => format!("must be {expected}"),
        };
        self.problem(node.pos, path, message);
    }

    /// Opens a map, reporting non-string and duplicate keys.
    pub fn map<'n>(&mut self, node: &'n Node, path: &str) -> Option<Fields<'n>> {
        let Value::Map(pairs) = &node.value else {
            self.wrong_kind(node, path, "a map");
            return None;
        };
        let mut fields = Fields {
            pos: node.pos,
            path: path.to_string(),
            entries: Vec::new(),
        };
        for (key, value) in pairs {
            let Value::Scalar { text, .. } = &key.value else {
                self.wrong_kind(key, path, "a map whose keys are plain strings");
                continue;
            };
            if let Some((first, _)) = fields.entry(text) {
                let message = format!(
                    "duplicate key `{text}` (first at line {}); keep one",
                    first.pos.line
                );
                self.problem(key.pos, &fields.child(text), message);
                continue;
            }
            fields.entries.push((text, key, value));
        }
        Some(fields)
    }

    /// The items of a list.
    pub fn seq<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Some(items),
            _ => {
                self.wrong_kind(node, path, "a list");
                None
            }
        }
    }

    /// A scalar with its references resolved; `referenced` values must not be shown in messages.
    pub fn text(&mut self, node: &Node, path: &str) -> Option<Expanded> {
        let Value::Scalar { text, .. } = &node.value else {
            match node.value {
                Value::Null => self.problem(node.pos, path, "must have a value"),
                _ => self.wrong_kind(node, path, "a string"),
            }
            return None;
        };
        match expand(text, self.resolver) {
            Ok(expanded) => {
                if expanded.referenced() {
                    let whole = (expanded.text.as_str(), text.as_str());
                    for (value, reference) in expanded
                        .resolved
                        .iter()
                        .map(|(v, r)| (v.as_str(), r.as_str()))
                        .chain([whole])
                    {
                        self.hidden.add(value, reference);
                        if !value.is_empty() && value.len() < Hidden::SHORT {
                            self.short.push((value.into(), reference.into(), node.pos));
                        }
                    }
                }
                Some(expanded)
            }
            Err(errors) => {
                for e in errors {
                    self.problem(node.pos, path, e);
                }
                None
            }
        }
    }

    /// A scalar as a string, references resolved.
    pub fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        self.text(node, path).map(|e| e.text)
    }

    /// The string under a required key, which must not be empty.
    pub fn required_string(&mut self, fields: &Fields, key: &str) -> Option<String> {
        let node = fields.required(self, key)?;
        let path = fields.child(key);
        let text = self.string(node, &path)?;
        if text.is_empty() {
            self.problem(node.pos, &path, "must not be empty");
            return None;
        }
        Some(text)
    }

    /// The string under an optional key; `None` when missing, empty or wrong.
    pub fn optional_string(&mut self, fields: &Fields, key: &str) -> Option<String> {
        let node = fields.get(key)?;
        self.string(node, &fields.child(key))
    }

    /// A credential under an optional key (`password`, `key_password`). One written out rather than
    /// referenced is kept as written with the deployment in the keyspace: a note says so.
    pub fn credential(&mut self, fields: &Fields, key: &str) -> Option<String> {
        let node = fields.get(key)?;
        let path = fields.child(key);
        let expanded = self.text(node, &path)?;
        if !expanded.referenced() && !expanded.text.is_empty() {
            let message = "written out, it is stored with the deployment in the keyspace \
                           (`__rdi__:deploy`, so in RDB and AOF files and on replicas); use \
                           `${secrets:NAME}` (RDI.SET-SECRET) or `${env:NAME}` instead";
            self.note(node.pos, &path, message);
        }
        Some(expanded.text)
    }

    /// An integer in `min..=max` (`u64::MAX` meaning no upper bound), plain, quoted or referenced.
    pub fn integer(&mut self, node: &Node, path: &str, min: u64, max: u64) -> Option<u64> {
        if matches!(node.value, Value::Map(_) | Value::Seq(_)) {
            self.wrong_kind(node, path, "an integer");
            return None;
        }
        let text = self.text(node, path)?.text;
        match text.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ if max == u64::MAX => {
                self.problem(
                    node.pos,
                    path,
                    format!("must be an integer of at least {min}"),
                );
                None
            }
            _ => {
                let message = format!("must be an integer between {min} and {max}");
                self.problem(node.pos, path, message);
                None
            }
        }
    }

    /// One of `options`, as written (case-sensitive).
    pub fn choice(
        &mut self,
        node: &Node,
        path: &str,
        options: &[&'static str],
    ) -> Option<&'static str> {
        let expanded = self.text(node, path)?;
        let (text, referenced) = (expanded.text.as_str(), expanded.referenced());
        if let Some(found) = options.iter().find(|o| **o == text) {
            return Some(found);
        }
        let expected = match options {
            [only] => format!("must be `{only}`"),
            _ => format!("must be one of: {}", options.join(", ")),
        };
        let message = if referenced {
            format!("{expected} (the reference resolved to something else)")
        } else {
            format!("{expected}, not `{text}`")
        };
        self.problem(node.pos, path, message);
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::super::reference::SystemResolver;
    use super::super::yaml::parse;
    use super::*;

    fn problems(yaml: &str, read: impl Fn(&mut Walker, &Fields)) -> Vec<String> {
        let resolver = SystemResolver::default();
        let mut w = Walker::new("config.yaml", &resolver);
        let root = parse(yaml).unwrap();
        let fields = w.map(&root, "").unwrap();
        read(&mut w, &fields);
        w.problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn duplicate_and_non_string_keys_are_problems() {
        let found = problems("a: 1\nb: 2\na: 3\n[x]: 4\n", |_, fields| {
            assert_eq!(fields.iter().count(), 2);
        });
        assert_eq!(
            found,
            [
                "config.yaml:3:1: a: duplicate key `a` (first at line 1); keep one",
                "config.yaml:4:1: must be a map whose keys are plain strings",
            ]
        );
    }

    #[test]
    fn missing_and_empty_required_keys_are_problems() {
        let found = problems("x:\n  a:\n  b: 1\n", |w, root| {
            let x = w.map(root.get("x").unwrap(), "x").unwrap();
            assert_eq!(x.required(w, "a"), None);
            assert_eq!(x.required(w, "c"), None);
        });
        assert_eq!(
            found,
            [
                "config.yaml:2:3: x.a: must have a value",
                "config.yaml:2:3: x: missing required key `c`",
            ]
        );
    }

    #[test]
    fn unknown_keys_name_the_key_and_the_allowed_ones() {
        let found = problems("hots: x\nport: 1\n", |w, root| {
            root.reject_unknown(w, &["host", "port"])
        });
        assert_eq!(
            found,
            ["config.yaml:1:1: hots: unknown key `hots`; expected one of: host, port"]
        );
    }

    #[test]
    fn integers_accept_plain_and_quoted_digits_within_bounds() {
        let found = problems("a: 5\nb: '7'\nc: 0\nd: x\ne: 70\n", |w, root| {
            assert_eq!(w.integer(root.get("a").unwrap(), "a", 1, u64::MAX), Some(5));
            assert_eq!(w.integer(root.get("b").unwrap(), "b", 1, 10), Some(7));
            assert_eq!(w.integer(root.get("c").unwrap(), "c", 1, u64::MAX), None);
            assert_eq!(w.integer(root.get("d").unwrap(), "d", 1, 10), None);
            assert_eq!(w.integer(root.get("e").unwrap(), "e", 1, 64), None);
        });
        assert_eq!(
            found,
            [
                "config.yaml:3:4: c: must be an integer of at least 1",
                "config.yaml:4:4: d: must be an integer between 1 and 10",
                "config.yaml:5:4: e: must be an integer between 1 and 64",
            ]
        );
    }

    #[test]
    fn choices_show_a_literal_but_never_a_resolved_value() {
        let found = problems("a: dlq\nb: drop\nc: ${env:PATH}\n", |w, root| {
            let options = ["dlq", "ignore"];
            assert_eq!(w.choice(root.get("a").unwrap(), "a", &options), Some("dlq"));
            assert_eq!(w.choice(root.get("b").unwrap(), "b", &options), None);
            assert_eq!(w.choice(root.get("c").unwrap(), "c", &options), None);
        });
        assert_eq!(
            found,
            [
                "config.yaml:2:4: b: must be one of: dlq, ignore, not `drop`",
                "config.yaml:3:4: c: must be one of: dlq, ignore (the reference resolved to something else)",
            ]
        );
    }

    #[test]
    fn wrong_kinds_and_aliases_are_problems() {
        let found = problems("a: [1]\nb: &x 2\nc: *x\n", |w, root| {
            assert_eq!(w.string(root.get("a").unwrap(), "a"), None);
            assert_eq!(w.string(root.get("c").unwrap(), "c"), None);
            assert!(w.map(root.get("b").unwrap(), "b").is_none());
        });
        assert_eq!(
            found,
            [
                "config.yaml:1:4: a: must be a string",
                "config.yaml:3:4: c: aliases (`*name`) are not supported; write the value out",
                "config.yaml:2:7: b: must be a map",
            ]
        );
    }
}
