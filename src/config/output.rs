//! A job's `output` list: `relational.write` (and `cassandra.write`) writers with their connection,
//! table, keys and mapping.

use super::model::{ColumnMapping, Output, RelationalOutput};
use super::problem::{child_path, item_path};
use super::walker::Walker;
use super::yaml::{Node, Value};

mod cassandra;

/// Writers this build supports.
const WRITERS: &[&str] = &["relational.write", "cassandra.write"];
/// Writers of the specification that are not built yet.
const PLANNED_WRITERS: &[&str] = &["redis.write"];
const RELATIONAL_KEYS: &[&str] = &["connection", "schema", "table", "keys", "mapping"];

/// The prefix that published RDI examples put before field names; the record is the value itself.
const AFTER_PREFIX: &str = "after.";

/// Reads one job's outputs.
pub struct OutputReader<'a> {
    /// Connection names declared in `config.yaml`; `None` when that section could not be read.
    pub connections: Option<&'a [String]>,
    /// Whether this job already has its note about `after.` fields.
    pub noted_after: bool,
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
        let connection = fields
            .required(w, "connection")
            .and_then(|node| self.connection(w, node, &fields.child("connection")));
        let schema = w
            .optional_string(&fields, "schema")
            .filter(|s| !s.is_empty());
        let table = w.required_string(&fields, "table");
        let keys_path = fields.child("keys");
        let keys = fields.required(w, "keys").and_then(|node| {
            let keys = self.columns(w, node, &keys_path)?;
            if keys.is_empty() {
                w.problem(node.pos, &keys_path, "must list at least one key column");
                return None;
            }
            Some(keys)
        });
        let mapping = match fields.get("mapping") {
            Some(node) => self.columns(w, node, &fields.child("mapping")),
            None => Some(Vec::new()),
        };
        Some(RelationalOutput {
            connection: connection?,
            schema,
            table: table?,
            keys: keys?,
            mapping: mapping?,
        })
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
        let (column, field_node, field_path) = match &node.value {
            Value::Map(pairs) if pairs.len() == 1 => {
                let fields = w.map(node, path)?;
                let (column, _, field) = fields.iter().next()?;
                (column.to_string(), field, child_path(path, column))
            }
            Value::Scalar { .. } => {
                let written = w.string(node, path)?;
                let name = self.field_name(w, node, path, written);
                (name.clone(), node, path.to_string())
            }
            _ => {
                let message = "must be a column name or a one-entry map `column: field`";
                w.problem(node.pos, path, message);
                return None;
            }
        };
        if column.is_empty() {
            w.problem(node.pos, path, "the column name must not be empty");
            return None;
        }
        let field = if std::ptr::eq(field_node, node) {
            column.clone()
        } else {
            let written = w.string(field_node, &field_path)?;
            self.field_name(w, field_node, &field_path, written)
        };
        if field.is_empty() {
            w.problem(
                field_node.pos,
                &field_path,
                "the field name must not be empty",
            );
            return None;
        }
        Some(ColumnMapping { column, field })
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::super::reference::SystemResolver;
    use super::super::yaml::parse;
    use super::*;

    fn read(yaml: &str) -> (Option<Vec<Output>>, Vec<String>, Vec<String>) {
        let resolver = SystemResolver::default();
        let mut w = Walker::new("jobs/emp.yaml", &resolver);
        let names = ["local".to_string(), "pg".to_string()];
        let mut reader = OutputReader {
            connections: Some(&names),
            noted_after: false,
        };
        let outputs = reader.outputs(&mut w, &parse(yaml).unwrap());
        let problems = w.problems.iter().map(ToString::to_string).collect();
        (outputs, problems, w.notes)
    }

    fn column(column: &str, field: &str) -> ColumnMapping {
        ColumnMapping {
            column: column.into(),
            field: field.into(),
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
            mapping: vec![column("name", "name"), column("full_name", "fname")],
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
        assert_eq!(out.mapping, [column("name", "fname"), column("age", "age")]);
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
                 schema, table, keys, mapping",
                "jobs/emp.yaml:3:17: output[0].with.connection: unknown connection `pgg`; config.yaml declares: \
                 local, pg",
                "jobs/emp.yaml:3:5: output[0].with: missing required key `table`",
                "jobs/emp.yaml:5:11: output[0].with.keys: must list at least one key column",
                "jobs/emp.yaml:6:21: output[0].with.mapping[2]: duplicate column `a`; list each column once",
                "jobs/emp.yaml:6:24: output[0].with.mapping[3]: must be a column name or a one-entry map \
                 `column: field`",
            ]
        );
    }

    #[test]
    fn unsupported_and_unknown_writers_are_problems() {
        let yaml = "- uses: redis.write\n  with: {}\n- uses: sql.write\n  with: {}\n- with: {}\n";
        let (_, problems, _) = read(yaml);
        assert_eq!(
            problems,
            [
                "jobs/emp.yaml:1:9: output[0].uses: writer `redis.write` is not supported yet (supported: \
                 relational.write, cassandra.write)",
                "jobs/emp.yaml:3:9: output[1].uses: unknown writer `sql.write`; expected one of: relational.write, \
                 cassandra.write",
                "jobs/emp.yaml:5:3: output[2]: missing required key `uses`",
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
