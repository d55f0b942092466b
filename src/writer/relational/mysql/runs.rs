//! Multi-row statements for the MySQL/MariaDB writer: consecutive upserts (or inserts) of one table are
//! written as one `INSERT ... VALUES (...), (...) [ON DUPLICATE KEY UPDATE ...]` instead of one
//! statement (one round trip) per row.
//!
//! Per-key order holds within a statement: the server inserts its rows in order, and a row whose key
//! an earlier row of the same statement inserted updates it (`ON DUPLICATE KEY UPDATE` runs per row), so
//! a run needs no break on a repeated key. Deletes stay one statement per row, between runs. A statement
//! the server refuses fails the whole transaction as before, and the applier splits the batch to find
//! the refused row. Statements are prepared once per text and kept by the driver's statement cache.

use ::mysql::prelude::Queryable;
use ::mysql::{Statement, Value};

use crate::writer::RowOp;

/// Most rows in one statement; also kept under the protocol's 65,535 placeholders.
const MAX_ROWS: usize = 500;
const MAX_PLACEHOLDERS: usize = 65_535;

/// The texts a multi-row statement of one table is built from.
pub(super) struct MultiRow {
    /// `INSERT INTO t (...) VALUES `.
    prefix: String,
    /// `(?, ?, ...)`: one row.
    tuple: String,
    /// ` ON DUPLICATE KEY UPDATE ...` for upserts, empty for plain inserts.
    suffix: String,
    /// Placeholders per row.
    columns: usize,
}

impl MultiRow {
    /// Splits a single-row statement `<prefix>(?, ...)<suffix>` as the dialect writes it; `None` if it
    /// does not have that shape (the rows are then written one statement each).
    pub(super) fn new(single: &str, insert: &str, columns: usize) -> Option<MultiRow> {
        let tuple = format!("({})", vec!["?"; columns].join(", "));
        let prefix = insert.strip_suffix(tuple.as_str())?.to_string();
        let suffix = single.strip_prefix(insert)?.to_string();
        Some(MultiRow {
            prefix,
            tuple,
            suffix,
            columns,
        })
    }

    /// The statement for `rows` rows.
    fn sql(&self, rows: usize) -> String {
        let mut sql = String::with_capacity(self.prefix.len() + rows * (self.tuple.len() + 1));
        sql.push_str(&self.prefix);
        for i in 0..rows {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&self.tuple);
        }
        sql.push_str(&self.suffix);
        sql
    }

    fn max_rows(&self) -> usize {
        MAX_ROWS.min(MAX_PLACEHOLDERS / self.columns.max(1)).max(1)
    }
}

/// One converted row: its table (by index into the caller's tables), its operation, its single-row
/// statement, and the multi-row texts of its table for this operation (none for deletes).
pub(super) struct Item<'a> {
    pub(super) table: usize,
    pub(super) op: RowOp,
    pub(super) one: &'a Statement,
    pub(super) many: Option<&'a MultiRow>,
    pub(super) params: Vec<Value>,
}

/// Whether `write_runs` would send `work` as one statement: then it needs no transaction of its own
/// (autocommit makes the statement one, atomic on InnoDB), which saves two round trips per batch.
pub(super) fn one_statement(work: &[Item]) -> bool {
    match work {
        [] | [_] => true,
        [first, rest @ ..] => first.many.is_some_and(|many| {
            work.len() <= many.max_rows()
                && rest
                    .iter()
                    .all(|n| n.table == first.table && n.op == first.op && n.many.is_some())
        }),
    }
}

/// Writes `work` in order on `tx` (a transaction, or the connection when [`one_statement`]): runs of
/// rows of one table and operation that have multi-row texts as multi-row statements, the others one
/// statement per row.
pub(super) fn write_runs(tx: &mut impl Queryable, work: Vec<Item>) -> Result<(), ::mysql::Error> {
    let mut items = work.into_iter().peekable();
    while let Some(first) = items.next() {
        let Some(many) = first.many else {
            tx.exec_drop(first.one, first.params)?;
            continue;
        };
        let mut params = first.params;
        let mut rows = 1;
        let one = first.one;
        while rows < many.max_rows() {
            match items.next_if(|n| n.table == first.table && n.op == first.op && n.many.is_some())
            {
                Some(next) => {
                    params.extend(next.params);
                    rows += 1;
                }
                None => break,
            }
        }
        if rows == 1 {
            tx.exec_drop(one, params)?;
        } else {
            tx.exec_drop(many.sql(rows), params)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::MultiRow;

    #[test]
    fn a_single_row_upsert_splits_into_the_parts_of_a_multi_row_one() {
        let insert = "INSERT INTO `t` (`id`, `n`) VALUES (?, ?)";
        let upsert = format!("{insert} ON DUPLICATE KEY UPDATE `n` = VALUES(`n`)");
        let m = MultiRow::new(&upsert, insert, 2).unwrap();
        assert_eq!(
            m.sql(3),
            "INSERT INTO `t` (`id`, `n`) VALUES (?, ?),(?, ?),(?, ?) ON DUPLICATE KEY UPDATE `n` = VALUES(`n`)"
        );
        let plain = MultiRow::new(insert, insert, 2).unwrap();
        assert_eq!(
            plain.sql(2),
            "INSERT INTO `t` (`id`, `n`) VALUES (?, ?),(?, ?)"
        );
        assert!(MultiRow::new(&upsert, insert, 3).is_none());
        assert_eq!(m.max_rows(), 500);
        let wide = MultiRow {
            columns: 40_000,
            ..plain
        };
        assert_eq!(wide.max_rows(), 1);
    }
}
