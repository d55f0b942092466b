//! `cassandra.write`: read into the same shape as `relational.write`, with the keyspace as the schema,
//! so that the applier plans and batches it like any table.

use super::super::model::{LoadStrategy, RelationalOutput};
use super::super::walker::Walker;
use super::super::yaml::Node;
use super::OutputReader;

const CASSANDRA_KEYS: &[&str] = &[
    "connection",
    "keyspace",
    "table",
    "keys",
    "mapping",
    "opcode_field",
];

impl OutputReader<'_> {
    /// The `with` of a `cassandra.write` output; `None` if anything in it is invalid.
    pub(super) fn cassandra(
        &mut self,
        w: &mut Walker,
        node: &Node,
        path: &str,
    ) -> Option<RelationalOutput> {
        let fields = w.map(node, path)?;
        fields.reject_unknown(w, CASSANDRA_KEYS);
        let connection = fields.required(w, "connection").and_then(|node| {
            self.table_connection(w, node, &fields.child("connection"), "cassandra.write")
        });
        let keyspace = w.required_string(&fields, "keyspace");
        let table = w.required_string(&fields, "table");
        let keys_path = fields.child("keys");
        let keys = fields.required(w, "keys").and_then(|node| {
            let keys = self.columns(w, node, &keys_path)?;
            if keys.is_empty() {
                w.problem(node.pos, &keys_path, "must list the primary key columns");
                return None;
            }
            Some(keys)
        });
        let (keys, mapping) = self.keys_and_mapping(w, &fields, keys);
        let opcode_field = match fields.get("opcode_field") {
            Some(node) => self.field(w, node, &fields.child("opcode_field")).map(Some),
            None => Some(None),
        };
        Some(RelationalOutput {
            connection: connection?,
            schema: Some(keyspace?),
            table: table?,
            keys: keys?,
            mapping: mapping?,
            foreach: None,
            opcode_field: opcode_field?,
            load_strategy: LoadStrategy::Upsert,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::super::super::model::{ColumnMapping, Output};
    use super::super::super::reference::SystemResolver;
    use super::super::super::yaml::parse;
    use super::*;

    fn read(yaml: &str) -> (Option<Vec<Output>>, Vec<String>) {
        read_with_kinds(yaml, &[])
    }

    fn read_with_kinds(
        yaml: &str,
        kinds: &[(String, &'static str)],
    ) -> (Option<Vec<Output>>, Vec<String>) {
        let resolver = SystemResolver::default();
        let mut w = Walker::new("jobs/emp.yaml", &resolver);
        let names = ["cass".to_string(), "pg".to_string()];
        let mut reader = OutputReader {
            connections: Some(&names),
            noted_after: false,
            kinds,
            key_pattern: None,
        };
        let outputs = reader.outputs(&mut w, &parse(yaml).unwrap());
        (
            outputs,
            w.problems.iter().map(ToString::to_string).collect(),
        )
    }

    #[test]
    fn cassandra_write_reads_the_keyspace_as_the_schema() {
        let yaml = "- uses: cassandra.write\n  with:\n    connection: cass\n    keyspace: hr\n    \
                    table: emp\n    keys: [id]\n    mapping: [name, {full_name: name}]\n";
        let (outputs, problems) = read(yaml);
        assert!(problems.is_empty(), "{problems:?}");
        let Some([Output::Relational(out)]) = outputs.as_deref() else {
            panic!("{outputs:?}")
        };
        assert_eq!(out.schema.as_deref(), Some("hr"));
        assert_eq!(out.table, "emp");
        let col = |c: &str, f: &str| ColumnMapping::field(c, f);
        assert_eq!(out.keys, [col("id", "id")]);
        assert_eq!(out.mapping[0], col("name", "name"));
        assert_eq!(out.mapping[1].column, "full_name");
    }

    #[test]
    fn keyspace_and_keys_are_required_and_unknown_keys_reported() {
        let yaml = "- uses: cassandra.write\n  with:\n    connection: nope\n    table: emp\n    schema: x\n";
        let (outputs, problems) = read(yaml);
        assert_eq!(outputs, None);
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("unknown key `schema`"), "{problems:?}");
        assert!(problems
            .iter()
            .any(|p| p.contains("unknown connection `nope`")));
        assert!(problems
            .iter()
            .any(|p| p.ends_with("missing required key `keyspace`")));
        assert!(problems
            .iter()
            .any(|p| p.ends_with("missing required key `keys`")));
    }

    #[test]
    fn each_writer_takes_connections_of_its_own_kind() {
        let kinds = [
            ("cass".to_string(), "cassandra"),
            ("pg".to_string(), "postgresql"),
        ];
        let cassandra_to_pg = "- uses: cassandra.write\n  with: {connection: pg, keyspace: hr, table: emp, keys: [id]}\n";
        let (_, problems) = read_with_kinds(cassandra_to_pg, &kinds);
        assert_eq!(
            problems,
            ["jobs/emp.yaml:2:22: output[0].with.connection: connection `pg` is a postgresql connection; \
              cassandra.write writes to cassandra connections (write to this one with relational.write)"]
        );
        let relational_to_cass =
            "- uses: relational.write\n  with: {connection: cass, table: emp, keys: [id]}\n";
        let (_, problems) = read_with_kinds(relational_to_cass, &kinds);
        assert_eq!(
            problems,
            ["jobs/emp.yaml:2:22: output[0].with.connection: connection `cass` is a cassandra connection; \
              write to it with cassandra.write"]
        );
        let fine = "- uses: cassandra.write\n  with: {connection: cass, keyspace: hr, table: emp, keys: [id]}\n";
        assert!(read_with_kinds(fine, &kinds).1.is_empty());
    }
}
