//! Finding each row's checked table. A `TableTarget` hashes every name and column it holds, and rows of
//! a batch nearly always share one target (`Arc`): comparing pointers first skips the hashing, which was
//! a sixth of the writer thread when the map was searched twice per row (bench/RESULTS.md §29).

use std::collections::HashMap;
use std::sync::Arc;

use crate::writer::{RowChange, TableTarget, WriteError};

/// The targets of `rows` to look up (or load): each row's, unless it is the previous row's `Arc`.
pub(crate) fn new_targets(rows: &[RowChange]) -> impl Iterator<Item = &Arc<TableTarget>> {
    let mut previous: Option<&Arc<TableTarget>> = None;
    rows.iter().filter_map(move |row| {
        if previous.is_some_and(|p| Arc::ptr_eq(p, &row.target)) {
            return None;
        }
        previous = Some(&row.target);
        Some(&row.target)
    })
}

/// Each row's table from `tables`, searched only when the row's target is not the previous row's `Arc`.
pub(crate) fn tables_of<'t, T>(
    tables: &'t HashMap<TableTarget, T>,
    rows: &[RowChange],
) -> Result<Vec<&'t T>, WriteError> {
    let mut out = Vec::with_capacity(rows.len());
    let mut previous: Option<(&Arc<TableTarget>, &'t T)> = None;
    for row in rows {
        let table = match previous {
            Some((target, table)) if Arc::ptr_eq(target, &row.target) => table,
            _ => {
                let table = tables.get(&*row.target).ok_or_else(|| {
                    WriteError::Schema(format!(
                        "table {} was not checked",
                        row.target.display_name()
                    ))
                })?;
                previous = Some((&row.target, table));
                table
            }
        };
        out.push(table);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::writer::RowOp;

    fn target(table: &str) -> Arc<TableTarget> {
        Arc::new(TableTarget {
            schema: None,
            table: table.into(),
            keys: vec!["id".into()],
            columns: vec!["id".into()],
            redis: None,
        })
    }

    fn row(target: &Arc<TableTarget>) -> RowChange {
        RowChange {
            target: target.clone(),
            op: RowOp::Upsert,
            values: vec![serde_json::json!("1")],
        }
    }

    #[test]
    fn each_row_finds_its_own_table_even_when_targets_alternate() {
        let (a, b) = (target("a"), target("b"));
        // An equal target in another `Arc` is still found through the map.
        let a2 = target("a");
        let rows = [row(&a), row(&a), row(&b), row(&a2), row(&a)];
        let tables: HashMap<TableTarget, &str> = [((*a).clone(), "A"), ((*b).clone(), "B")]
            .into_iter()
            .collect();
        let found = tables_of(&tables, &rows).unwrap();
        assert_eq!(found, [&"A", &"A", &"B", &"A", &"A"]);
        let new: Vec<&str> = new_targets(&rows).map(|t| t.table.as_str()).collect();
        assert_eq!(new, ["a", "b", "a", "a"]);
    }

    #[test]
    fn a_row_whose_table_was_not_checked_is_an_error_that_names_it() {
        let (a, c) = (target("a"), target("c"));
        let tables: HashMap<TableTarget, &str> = [((*a).clone(), "A")].into_iter().collect();
        match tables_of(&tables, &[row(&a), row(&c)]) {
            Err(WriteError::Schema(m)) => assert_eq!(m, "table c was not checked"),
            other => panic!("{other:?}"),
        }
    }
}
