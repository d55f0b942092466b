//! A job's `output` list: `relational.write` (and `cassandra.write`) writers with their connection,
//! table, keys and mapping; `redis.write` in [`redis`].

use super::model::{ColumnMapping, Foreach, LoadStrategy, Output, RelationalOutput};
use super::problem::{child_path, item_path};
use super::walker::{Fields, Walker};
use super::yaml::{Node, Value};
use crate::expr::{Expression, Language};

mod cassandra;
mod key_columns;
mod key_guard;
mod redis;

/// Writers this build supports.
const WRITERS: &[&str] = &["relational.write", "cassandra.write", "redis.write"];
/// Writers of the specification that are not built yet.
const PLANNED_WRITERS: &[&str] = &[];
const RELATIONAL_KEYS: &[&str] = &[
    "connection",
    "schema",
    "table",
    "keys",
    "mapping",
    "foreach",
    "opcode_field",
    "load_strategy",
];
/// `load_strategy` values this build supports.
const LOAD_STRATEGIES: &[&str] = &["UPSERT", "APPEND", "REPLACE"];

/// The prefix that published RDI examples put before field names; the record is the value itself.
const AFTER_PREFIX: &str = "after.";

/// Reads one job's outputs.
pub struct OutputReader<'a> {
    /// Connection names declared in `config.yaml`; `None` when that section could not be read.
    pub connections: Option<&'a [String]>,
    /// Whether this job already has its note about `after.` fields.
    pub noted_after: bool,
    /// The type of each valid connection (`redis`, `postgresql`...); empty when unknown.
    pub kinds: &'a [(String, &'static str)],
    /// The job's `key_pattern`, when it could be read (`redis.write` keys must stay outside it).
    pub key_pattern: Option<String>,
}

impl OutputReader<'_> {
    /// The required, non-empty `output` list; `None` if any entry is invalid.
    pub fn outputs(&mut self, w: &mut Walker, node: &Node) -> Option<Vec<Output>> {
        let items = w.seq(node, "output")?;
        if items.is_empty() {
            w.problem(node.pos, "output", "must list at least one writer");
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.output(w, item, &item_path("output", i)) {
                Some(output) => out.push(output),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn output(&mut self, w: &mut Walker, node: &Node, path: &str) -> Option<Output> {
        let fields = w.map(node, path)?;
        fields.reject_unknown(w, &["uses", "with"]);
        let uses = fields.required(w, "uses");
        let with = fields.required(w, "with");
        let uses_path = fields.child("uses");
        let writer = w.text(uses?, &uses_path)?;
        let supported = WRITERS.join(", ");
        if !WRITERS.contains(&writer.text.as_str()) {
            let message = if PLANNED_WRITERS.contains(&writer.text.as_str()) {
                format!(
                    "writer `{}` is not supported yet (supported: {supported})",
                    writer.text
                )
            } else {
                let shown = writer.mention();
                format!("unknown writer{shown}; expected one of: {supported}")
            };
            w.problem(uses?.pos, &uses_path, message);
            return None;
        }
        if writer.text == "redis.write" {
            return self
                .redis(w, with?, &fields.child("with"))
                .map(Output::Redis);
        }
        if writer.text == "cassandra.write" {
            return self
                .cassandra(w, with?, &fields.child("with"))
                .map(Output::Relational);
        }
        self.relational(w, with?, &fields.child("with"))
            .map(Output::Relational)
    }

    fn relational(&mut self, w: &mut Walker, node: &Node, path: &str) -> Option<RelationalOutput> {
        let fields = w.map(node, path)?;
        fields.reject_unknown(w, RELATIONAL_KEYS);
        let connection = fields.required(w, "connection").and_then(|node| {
            self.table_connection(w, node, &fields.child("connection"), "relational.write")
        });
        let schema = w
            .optional_string(&fields, "schema")
            .filter(|s| !s.is_empty());
        let table = w.required_string(&fields, "table");
        let load_strategy = match (fields.get("load_strategy"), fields.get("keys")) {
            (Some(node), _) => load_strategy(w, node, &fields.child("load_strategy")),
            (None, Some(_)) => Some(LoadStrategy::Upsert),
            // UPSERT is the default when keys are set (SPEC 3.5); without them nothing can be
            // upserted or deleted, so every change is a new row.
            (None, None) => {
                let message =
                    "no `keys`: `load_strategy: APPEND`, every change is inserted as a new \
                               row (list the key columns in `keys` to upsert and delete instead)";
                w.note(node.pos, path, message);
                Some(LoadStrategy::Append)
            }
        };
        let keys_path = fields.child("keys");
        let keys = match fields.get("keys") {
            None if load_strategy == Some(LoadStrategy::Append) => Some(Vec::new()),
            _ => fields.required(w, "keys").and_then(|node| {
                let keys = self.columns(w, node, &keys_path)?;
                if keys.is_empty() && load_strategy != Some(LoadStrategy::Append) {
                    let message = "must list at least one key column (only `load_strategy: APPEND` may omit keys)";
                    w.problem(node.pos, &keys_path, message);
                    return None;
                }
                Some(keys)
            }),
        };
        if fields.get("mapping").is_none() {
            let message =
                "no `mapping`: only the key columns are written (list the columns to write \
                           in `mapping`; keys are included automatically)";
            w.note(node.pos, path, message);
        }
        let (keys, mapping) = self.keys_and_mapping(w, &fields, keys);
        let foreach = match fields.get("foreach") {
            Some(node) => foreach(w, node, &fields.child("foreach")).map(Some),
            None => Some(None),
        };
        let opcode_field = match fields.get("opcode_field") {
            Some(node) => self.field(w, node, &fields.child("opcode_field")).map(Some),
            None => Some(None),
        };
        Some(RelationalOutput {
            connection: connection?,
            schema,
            table: table?,
            keys: keys?,
            mapping: mapping?,
            foreach: foreach?,
            opcode_field: opcode_field?,
            load_strategy: load_strategy?,
        })
    }

    /// `mapping`, read after `keys`; a key column it lists gets one expression (see [`key_columns`]).
    fn keys_and_mapping(
        &mut self,
        w: &mut Walker,
        fields: &Fields,
        mut keys: Option<Vec<ColumnMapping>>,
    ) -> (Option<Vec<ColumnMapping>>, Option<Vec<ColumnMapping>>) {
        let Some(node) = fields.get("mapping") else {
            return (keys, Some(Vec::new()));
        };
        let path = fields.child("mapping");
        let mapping = self.columns(w, node, &path);
        if let (Some(k), Some(m), Value::Seq(items)) =
            (keys.as_mut(), mapping.as_ref(), &node.value)
        {
            if !key_columns::settle_key_expressions(w, k, m, items, &path) {
                return (keys, None);
            }
        }
        (keys, mapping)
    }

    /// A non-empty field name, read without an `after.` prefix.
    fn field(&mut self, w: &mut Walker, node: &Node, path: &str) -> Option<String> {
        let written = w.string(node, path)?;
        let name = self.field_name(w, node, path, written);
        if name.is_empty() {
            w.problem(node.pos, path, "the field name must not be empty");
            return None;
        }
        Some(name)
    }

    /// The name of a declared connection that `writer` writes tables to: a Cassandra one for
    /// `cassandra.write`, a SQL one for `relational.write`.
    fn table_connection(
        &self,
        w: &mut Walker,
        node: &Node,
        path: &str,
        writer: &str,
    ) -> Option<String> {
        let name = self.connection(w, node, path)?;
        // A connection that is not valid has its own problem already.
        let Some(kind) = self.kinds.iter().find(|(n, _)| *n == name).map(|(_, k)| *k) else {
            return Some(name);
        };
        let fits = match writer {
            "cassandra.write" => kind == "cassandra",
            _ => kind != "redis" && kind != "cassandra",
        };
        if fits {
            return Some(name);
        }
        let message = match kind {
            "redis" => {
                format!("connection `{name}` is a redis connection; write to it with redis.write")
            }
            "cassandra" => format!(
                "connection `{name}` is a cassandra connection; write to it with cassandra.write"
            ),
            _ => format!(
                "connection `{name}` is a {kind} connection; cassandra.write writes to cassandra \
                 connections (write to this one with relational.write)"
            ),
        };
        w.problem(node.pos, path, message);
        None
    }

    /// The name of a connection that `config.yaml` declares.
    fn connection(&self, w: &mut Walker, node: &Node, path: &str) -> Option<String> {
        let name = w.text(node, path)?;
        let Some(declared) = self.connections else {
            return Some(name.text);
        };
        if declared.contains(&name.text) {
            return Some(name.text);
        }
        let shown = name.mention();
        let message = if declared.is_empty() {
            format!("unknown connection{shown}; config.yaml declares no connections")
        } else {
            format!(
                "unknown connection{shown}; config.yaml declares: {}",
                declared.join(", ")
            )
        };
        w.problem(node.pos, path, message);
        None
    }

    /// A `keys` or `mapping` list; each column at most once.
    fn columns(&mut self, w: &mut Walker, node: &Node, path: &str) -> Option<Vec<ColumnMapping>> {
        let items = w.seq(node, path)?;
        let mut out: Vec<ColumnMapping> = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let path = item_path(path, i);
            let Some(mapping) = self.column(w, item, &path) else {
                ok = false;
                continue;
            };
            if out.iter().any(|c| c.column == mapping.column) {
                let message = format!(
                    "duplicate column `{}`; list each column once",
                    mapping.column
                );
                w.problem(item.pos, &path, message);
                ok = false;
                continue;
            }
            out.push(mapping);
        }
        ok.then_some(out)
    }

    /// `column` (the field of the same name) or `{column: field}`.
    fn column(&mut self, w: &mut Walker, node: &Node, path: &str) -> Option<ColumnMapping> {
        let (column, value) = match &node.value {
            Value::Map(pairs) if pairs.len() == 1 => {
                let fields = w.map(node, path)?;
                let (column, _, value) = fields.iter().next()?;
                (column.to_string(), Some((value, child_path(path, column))))
            }
            Value::Scalar { .. } => (w.string(node, path)?, None),
            _ => {
                let message = "must be a column name or a one-entry map `column: expression`";
                w.problem(node.pos, path, message);
                return None;
            }
        };
        if column.is_empty() {
            w.problem(node.pos, path, "the column name must not be empty");
            return None;
        }
        let Some((value, value_path)) = value else {
            let field = self.field_name(w, node, path, column);
            return Some(ColumnMapping {
                column: field.clone(),
                expression: Expression::field(&field),
            });
        };
        let source = self.field(w, value, &value_path)?;
        let expression = match Expression::compile(Language::Jmespath, &source) {
            Ok(e) => e,
            // A field name JMESPath cannot spell unquoted (`first-name`) keeps meaning that field.
            Err(_) if is_plain_name(&source) => Expression::field(&source),
            Err(e) => {
                let message = format!("{e}; write a field name or a JMESPath expression (quote odd names: \"first-name\")");
                w.problem(value.pos, &value_path, message);
                return None;
            }
        };
        Some(ColumnMapping { column, expression })
    }

    /// Reads `after.x` as `x`, noting it once per job.
    fn field_name(&mut self, w: &mut Walker, node: &Node, path: &str, written: String) -> String {
        let Some(name) = written.strip_prefix(AFTER_PREFIX) else {
            return written;
        };
        if !self.noted_after {
            self.noted_after = true;
            let message = format!(
                "`{written}` is read as `{name}`, as are other `after.` fields of this job (RDI compatibility)"
            );
            w.note(node.pos, path, message);
        }
        name.to_string()
    }
}

/// Whether `s` is a bare field name (letters, digits and `_-:$@` only).
fn is_plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || "_-:$@".contains(c))
}

/// `load_strategy`: `UPSERT`, `APPEND` or `REPLACE` (any case); `TYPE2` is planned.
fn load_strategy(w: &mut Walker, node: &Node, path: &str) -> Option<LoadStrategy> {
    let text = w.string(node, path)?;
    match text.to_ascii_uppercase().as_str() {
        "UPSERT" => Some(LoadStrategy::Upsert),
        "APPEND" => Some(LoadStrategy::Append),
        "REPLACE" => Some(LoadStrategy::Replace),
        "TYPE2" => {
            let message =
                "load strategy `TYPE2` is not supported yet; use UPSERT, APPEND or REPLACE";
            w.problem(node.pos, path, message);
            None
        }
        _ => {
            let message = format!(
                "must be one of: {}, not `{text}`",
                LOAD_STRATEGIES.join(", ")
            );
            w.problem(node.pos, path, message);
            None
        }
    }
}

/// `foreach: "alias: <JMESPath to an array>"`.
fn foreach(w: &mut Walker, node: &Node, path: &str) -> Option<Foreach> {
    let text = w.string(node, path)?;
    let Some((alias, expression)) = text.split_once(':') else {
        let message = "must be `alias: <JMESPath to an array>`, for example `line: order_lines`";
        w.problem(node.pos, path, message);
        return None;
    };
    let alias = alias.trim();
    if alias.is_empty() || !alias.chars().all(|c| c.is_alphanumeric() || c == '_') {
        let message = "the alias before `:` must be a name of letters, digits and `_`";
        w.problem(node.pos, path, message);
        return None;
    }
    match Expression::compile(Language::Jmespath, expression.trim()) {
        Ok(expression) => Some(Foreach {
            alias: alias.to_string(),
            expression,
        }),
        Err(e) => {
            w.problem(
                node.pos,
                path,
                format!("{e}; fix the expression after `{alias}:`"),
            );
            None
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::super::reference::SystemResolver;
    use super::super::yaml::parse;
    use super::*;

    fn read(yaml: &str) -> (Option<Vec<Output>>, Vec<String>, Vec<String>) {
        read_with(&["local", "pg"], yaml)
    }

    /// The outputs of `yaml` with connections `names` declared, the problems and the notes.
    pub(super) fn read_with(
        names: &[&str],
        yaml: &str,
    ) -> (Option<Vec<Output>>, Vec<String>, Vec<String>) {
        let resolver = SystemResolver::default();
        let mut w = Walker::new("jobs/emp.yaml", &resolver);
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut reader = OutputReader {
            connections: Some(&names),
            noted_after: false,
            kinds: &[],
            key_pattern: None,
        };
        let outputs = reader.outputs(&mut w, &parse(yaml).unwrap());
        let problems = w.problems.iter().map(ToString::to_string).collect();
        (outputs, problems, w.notes)
    }

    fn column(column: &str, field: &str) -> ColumnMapping {
        ColumnMapping::field(column, field)
    }

    fn jmes(column: &str, source: &str) -> ColumnMapping {
        ColumnMapping {
            column: column.into(),
            expression: Expression::compile(Language::Jmespath, source).unwrap(),
        }
    }

    #[test]
    fn relational_write_reads_keys_and_mapping() {
        let yaml = "- uses: relational.write\n  with:\n    connection: pg\n    schema: hr\n    table: emp\n    \
                    keys: [id]\n    mapping:\n      - name\n      - full_name: fname\n";
        let (outputs, problems, notes) = read(yaml);
        assert!(problems.is_empty(), "{problems:?}");
        assert!(notes.is_empty());
        let expected = RelationalOutput {
            connection: "pg".into(),
            schema: Some("hr".into()),
            table: "emp".into(),
            keys: vec![column("id", "id")],
            mapping: vec![column("name", "name"), jmes("full_name", "fname")],
            foreach: None,
            opcode_field: None,
            load_strategy: LoadStrategy::Upsert,
        };
        assert_eq!(outputs, Some(vec![Output::Relational(expected)]));
    }

    #[test]
    fn after_prefixed_fields_are_read_without_it_and_noted_once() {
        let yaml = "- uses: relational.write\n  with:\n    connection: local\n    table: emp\n    \
                    keys: [after.id]\n    mapping: [{name: after.fname}, after.age]\n";
        let (outputs, problems, notes) = read(yaml);
        assert!(problems.is_empty(), "{problems:?}");
        let Some([Output::Relational(out)]) = outputs.as_deref() else {
            panic!("{outputs:?}")
        };
        assert_eq!(out.keys, [column("id", "id")]);
        assert_eq!(out.mapping, [jmes("name", "fname"), column("age", "age")]);
        assert_eq!(
            notes,
            ["jobs/emp.yaml:5:12: output[0].with.keys[0]: `after.id` is read as `id`, as are other `after.` \
              fields of this job (RDI compatibility)"]
        );
    }

    #[test]
    fn every_problem_of_a_writer_is_reported() {
        let yaml = "- uses: relational.write\n  with:\n    connection: pgg\n    tabel: emp\n    keys: []\n    \
                    mapping: [a, b, a, {x: 1, y: 2}]\n";
        let (outputs, problems, _) = read(yaml);
        assert_eq!(outputs, None);
        assert_eq!(
            problems,
            [
                "jobs/emp.yaml:4:5: output[0].with.tabel: unknown key `tabel`; expected one of: connection, \
                 schema, table, keys, mapping, foreach, opcode_field, load_strategy",
                "jobs/emp.yaml:3:17: output[0].with.connection: unknown connection `pgg`; config.yaml declares: \
                 local, pg",
                "jobs/emp.yaml:3:5: output[0].with: missing required key `table`",
                "jobs/emp.yaml:5:11: output[0].with.keys: must list at least one key column (only `load_strategy: \
                 APPEND` may omit keys)",
                "jobs/emp.yaml:6:21: output[0].with.mapping[2]: duplicate column `a`; list each column once",
                "jobs/emp.yaml:6:24: output[0].with.mapping[3]: must be a column name or a one-entry map \
                 `column: expression`",
            ]
        );
    }

    #[test]
    fn without_keys_or_a_load_strategy_every_change_is_appended_with_a_note() {
        let yaml =
            "- uses: relational.write\n  with: {connection: pg, table: audit, mapping: [name]}\n";
        let (outputs, problems, notes) = read(yaml);
        assert!(problems.is_empty(), "{problems:?}");
        let Some([Output::Relational(out)]) = outputs.as_deref() else {
            panic!("{outputs:?}")
        };
        assert_eq!(out.load_strategy, LoadStrategy::Append);
        assert!(out.keys.is_empty());
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("load_strategy: APPEND"), "{notes:?}");
    }

    #[test]
    fn without_mapping_only_the_keys_are_written_with_a_note() {
        let yaml = "- uses: relational.write\n  with: {connection: pg, table: emp, keys: [id]}\n";
        let (outputs, problems, notes) = read(yaml);
        assert!(problems.is_empty(), "{problems:?}");
        let Some([Output::Relational(out)]) = outputs.as_deref() else {
            panic!("{outputs:?}")
        };
        assert!(out.mapping.is_empty());
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].contains("no `mapping`: only the key columns"),
            "{notes:?}"
        );
    }

    #[test]
    fn unsupported_and_unknown_writers_are_problems() {
        let yaml = "- uses: sql.write\n  with: {}\n- with: {}\n";
        let (_, problems, _) = read(yaml);
        assert_eq!(
            problems,
            [
                "jobs/emp.yaml:1:9: output[0].uses: unknown writer `sql.write`; expected one of: relational.write, \
                 cassandra.write, redis.write",
                "jobs/emp.yaml:3:3: output[1]: missing required key `uses`",
            ]
        );
    }

    #[test]
    fn output_must_be_a_non_empty_list() {
        let (_, problems, _) = read("[]");
        assert_eq!(
            problems,
            ["jobs/emp.yaml:1:1: output: must list at least one writer"]
        );
        let (_, problems, _) = read("uses: relational.write\n");
        assert_eq!(problems, ["jobs/emp.yaml:1:1: output: must be a list"]);
    }
}
