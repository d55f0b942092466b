//! A key column that `mapping` lists too: one expression gives its value, for upserts and deletes
//! alike (a delete evaluates the key expressions over the value captured before the key went, so the
//! key's expression is the one place that must say where the value comes from).

use super::super::model::ColumnMapping;
use super::super::problem::item_path;
use super::super::walker::Walker;
use super::super::yaml::Node;
use crate::expr::Expression;

/// Settles each mapping entry that names a key column: a key written as a bare column name
/// (`keys: [emp_id]`) takes the mapping's expression (`mapping: [{emp_id: id}]`); a bare name in the
/// mapping keeps the key's; two different expressions are a problem at the mapping entry.
/// `items` are the nodes of `mapping`, one per entry. Returns `false` when a problem was recorded.
pub(super) fn settle_key_expressions(
    w: &mut Walker,
    keys: &mut [ColumnMapping],
    mapping: &[ColumnMapping],
    items: &[Node],
    path: &str,
) -> bool {
    let mut ok = true;
    for (i, (entry, item)) in mapping.iter().zip(items).enumerate() {
        let Some(key) = keys.iter_mut().find(|k| k.column == entry.column) else {
            continue;
        };
        if same(&key.expression, &entry.expression) || is_bare(entry) {
            continue;
        }
        if is_bare(key) {
            key.expression = entry.expression.clone();
            continue;
        }
        let message = format!(
            "key column `{}` is read from `{}` in `keys`; give it one expression: write the same \
             one here or remove this entry",
            key.column,
            key.expression.source()
        );
        w.problem(item.pos, &item_path(path, i), message);
        ok = false;
    }
    ok
}

/// Whether the column is read from the field of its own name (written as a bare column name).
fn is_bare(column: &ColumnMapping) -> bool {
    column.expression.as_field() == Some(column.column.as_str())
}

/// Whether two expressions are written the same (a bare field and a JMESPath of the same text are).
fn same(a: &Expression, b: &Expression) -> bool {
    a.language() == b.language() && a.source() == b.source()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::super::super::model::{Output, RelationalOutput};
    use super::*;
    use crate::expr::Language;

    fn read(yaml: &str) -> (Option<Vec<Output>>, Vec<String>) {
        let (outputs, problems, _) = super::super::tests::read_with(&["pg", "cass"], yaml);
        (outputs, problems)
    }

    fn relational(outputs: &Option<Vec<Output>>) -> &RelationalOutput {
        match outputs.as_deref() {
            Some([Output::Relational(out)]) => out,
            other => panic!("{other:?}"),
        }
    }

    fn jmes(column: &str, source: &str) -> ColumnMapping {
        ColumnMapping {
            column: column.into(),
            expression: Expression::compile(Language::Jmespath, source).unwrap(),
        }
    }

    #[test]
    fn a_bare_key_column_takes_its_mapping_expression_for_upserts_and_deletes() {
        for with in [
            "{connection: pg, table: emp, keys: [emp_id], mapping: [{emp_id: id}, name]}",
            "{connection: cass, keyspace: hr, table: emp, keys: [emp_id], mapping: [{emp_id: id}, name]}",
        ] {
            let writer = if with.contains("keyspace") {
                "cassandra.write"
            } else {
                "relational.write"
            };
            let (outputs, problems) = read(&format!("- uses: {writer}\n  with: {with}\n"));
            assert!(problems.is_empty(), "{problems:?}");
            let out = relational(&outputs);
            // The key expression is what both upserts and deletes evaluate.
            assert_eq!(out.keys, [jmes("emp_id", "id")]);
            let columns: Vec<&ColumnMapping> = out.upsert_columns();
            assert_eq!(
                columns,
                [&jmes("emp_id", "id"), &ColumnMapping::field("name", "name")]
            );
        }
    }

    #[test]
    fn a_bare_mapping_entry_or_the_same_expression_keeps_the_key_as_written() {
        let (outputs, problems) = read(
            "- uses: relational.write\n  with: {connection: pg, table: emp, keys: [{emp_id: id}], \
             mapping: [emp_id, {id2: id}]}\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(relational(&outputs).keys, [jmes("emp_id", "id")]);
        let (outputs, problems) = read(
            "- uses: relational.write\n  with: {connection: pg, table: emp, keys: [{emp_id: id}], \
             mapping: [{emp_id: id}]}\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(relational(&outputs).keys, [jmes("emp_id", "id")]);
    }

    #[test]
    fn two_different_expressions_for_a_key_column_are_a_problem_at_the_mapping_entry() {
        let (outputs, problems) = read(
            "- uses: relational.write\n  with:\n    connection: pg\n    table: emp\n    \
             keys: [{emp_id: id}]\n    mapping: [name, {emp_id: badge}]\n",
        );
        assert_eq!(outputs, None);
        assert_eq!(
            problems,
            ["jobs/emp.yaml:6:21: output[0].with.mapping[1]: key column `emp_id` is read from `id` \
              in `keys`; give it one expression: write the same one here or remove this entry"]
        );
    }
}
