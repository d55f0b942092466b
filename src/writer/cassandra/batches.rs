//! How `cassandra.write` groups the statements of a chunk into UNLOGGED BATCHes: one partition per
//! batch (a single-partition batch is applied atomically by one replica set, a multi-partition one only
//! adds coordinator work), a bounded number of statements and bytes per batch, and per-key order kept.
//!
//! Cassandra gives every statement of a batch the same write timestamp, so two writes of one row inside
//! a batch do not apply in order: the later write must replace the earlier one, or go into a later
//! batch. A later write of a row replaces an earlier one in the same batch when it decides the row on
//! its own: a delete (it removes the whole row) or an upsert after an upsert of the same columns (it
//! sets every one of them). An upsert after a delete is not such a write (columns it leaves out must
//! stay deleted), so it starts the next batch. Pure: no driver types, so it is tested without a server.

use std::collections::HashMap;
use std::hash::Hash;

/// Most statements per batch unless the connection's `batch_statements` says otherwise.
pub const BATCH_STATEMENTS_DEFAULT: usize = 50;
/// The least `batch_statements` accepts (1 sends every statement alone).
pub const BATCH_STATEMENTS_MIN: usize = 1;
/// The most `batch_statements` accepts.
pub const BATCH_STATEMENTS_MAX: usize = 1000;
/// Most bytes of bound values per batch: well under Cassandra's default `batch_size_fail_threshold`
/// (50 KiB of mutations), so that a full batch is not refused for its size. A single statement larger
/// than this is sent alone.
pub const BATCH_BYTES_MAX: usize = 32 * 1024;
/// How many partitions are written at the same time (their batches are independent).
pub const PARTITIONS_IN_FLIGHT: usize = 16;

/// How big a batch may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most statements per batch (at least 1).
    pub statements: usize,
    /// Most bytes of bound values per batch, unless one statement alone is larger.
    pub bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            statements: BATCH_STATEMENTS_DEFAULT,
            bytes: BATCH_BYTES_MAX,
        }
    }
}

/// What the planner needs to know of one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item<K> {
    /// The table and partition key values it writes: equal for statements of the same partition.
    pub partition: K,
    /// The table and full primary key values: equal for statements of the same row.
    pub row: K,
    /// Whether it deletes the row.
    pub delete: bool,
    /// Which column list it writes (statements of one output share one): an upsert replaces an
    /// earlier upsert of its row only when both write the same columns.
    pub layout: usize,
    /// The size of its bound values.
    pub bytes: usize,
}

/// One batch: what is sent, and every statement it stands for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlannedBatch {
    /// Statements sent (indexes into the planned items), at most one per row.
    pub sent: Vec<usize>,
    /// Every statement the batch stands for, in order: the sent ones and those a later write of the
    /// same row replaced. When the batch is refused, these are written one by one instead.
    pub covers: Vec<usize>,
}

/// The batches of each partition, partitions in the order they first appear. A partition's batches
/// must be sent one after the other; different partitions are independent.
pub fn plan<K: Eq + Hash + Clone>(items: &[Item<K>], limits: Limits) -> Vec<Vec<PlannedBatch>> {
    let mut order: Vec<&K> = Vec::new();
    let mut members: HashMap<&K, Vec<usize>> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        members
            .entry(&item.partition)
            .or_insert_with(|| {
                order.push(&item.partition);
                Vec::new()
            })
            .push(i);
    }
    order
        .into_iter()
        .map(|p| split(items, members.get(p).map_or(&[][..], Vec::as_slice), limits))
        .collect()
}

/// The batches of one partition's statements (`members`, in order).
fn split<K: Eq + Hash>(items: &[Item<K>], members: &[usize], limits: Limits) -> Vec<PlannedBatch> {
    let mut out = Vec::new();
    let mut current = PlannedBatch::default();
    // Where each row's statement sits in `current.sent`.
    let mut slot: HashMap<&K, usize> = HashMap::new();
    let mut bytes = 0;
    for &i in members {
        let item = &items[i];
        let full = |current: &PlannedBatch, bytes: usize| {
            !current.sent.is_empty()
                && (current.sent.len() >= limits.statements.max(1)
                    || bytes + item.bytes > limits.bytes)
        };
        if let Some(&at) = slot.get(&item.row) {
            let earlier = &items[current.sent[at]];
            if item.delete || (!earlier.delete && earlier.layout == item.layout) {
                bytes = bytes - earlier.bytes + item.bytes;
                current.sent[at] = i;
                current.covers.push(i);
                continue;
            }
            close(&mut out, &mut current, &mut slot, &mut bytes);
        } else if full(&current, bytes) {
            close(&mut out, &mut current, &mut slot, &mut bytes);
        }
        slot.insert(&item.row, current.sent.len());
        current.sent.push(i);
        current.covers.push(i);
        bytes += item.bytes;
    }
    if !current.covers.is_empty() {
        out.push(current);
    }
    out
}

fn close<K>(
    out: &mut Vec<PlannedBatch>,
    current: &mut PlannedBatch,
    slot: &mut HashMap<&K, usize>,
    bytes: &mut usize,
) {
    out.push(std::mem::take(current));
    slot.clear();
    *bytes = 0;
}

/// Where the partition key columns sit among a table's key columns (`keys`, in the order statements
/// bind them), given the catalog's `(column, kind)` pairs (`partition_key`, `clustering`...). When the
/// catalog names no partition key column among them, every key column is used: statements of one
/// primary key then still share a batch, and no batch spans two partitions.
pub fn partition_positions(keys: &[&str], catalog: &[(&str, &str)]) -> Vec<usize> {
    let positions: Vec<usize> = keys
        .iter()
        .enumerate()
        .filter(|(_, key)| {
            catalog
                .iter()
                .any(|(name, kind)| name == *key && *kind == "partition_key")
        })
        .map(|(i, _)| i)
        .collect();
    if positions.is_empty() {
        (0..keys.len()).collect()
    } else {
        positions
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    /// An upsert (`delete` false) of row `row` in partition `partition`, 10 bytes, layout 0.
    fn item(partition: &str, row: &str, delete: bool) -> Item<String> {
        Item {
            partition: partition.into(),
            row: format!("{partition}/{row}"),
            delete,
            layout: 0,
            bytes: 10,
        }
    }

    fn up(p: &str, r: &str) -> Item<String> {
        item(p, r, false)
    }

    fn del(p: &str, r: &str) -> Item<String> {
        item(p, r, true)
    }

    /// The plan as `sent` lists per partition.
    fn sent(items: &[Item<String>], limits: Limits) -> Vec<Vec<Vec<usize>>> {
        plan(items, limits)
            .into_iter()
            .map(|batches| batches.into_iter().map(|b| b.sent).collect())
            .collect()
    }

    #[test]
    fn statements_group_by_partition_in_first_appearance_order() {
        let items = [
            up("p1", "a"),
            up("p2", "a"),
            up("p1", "b"),
            del("p3", "a"),
            up("p2", "b"),
        ];
        assert_eq!(
            sent(&items, Limits::default()),
            [vec![vec![0, 2]], vec![vec![1, 4]], vec![vec![3]]]
        );
    }

    #[test]
    fn batches_split_at_the_statement_limit_keeping_order() {
        let items: Vec<_> = (0..7).map(|i| up("p", &i.to_string())).collect();
        let limits = Limits {
            statements: 3,
            bytes: BATCH_BYTES_MAX,
        };
        assert_eq!(
            sent(&items, limits),
            [vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]]
        );
        // A limit of 0 is read as 1 rather than looping or sending empty batches.
        let zero = Limits {
            statements: 0,
            bytes: BATCH_BYTES_MAX,
        };
        assert_eq!(sent(&items[..2], zero), [vec![vec![0], vec![1]]]);
    }

    #[test]
    fn batches_split_at_the_byte_limit_and_a_large_statement_goes_alone() {
        let mut items: Vec<_> = (0..5).map(|i| up("p", &i.to_string())).collect();
        items[2].bytes = 100;
        let limits = Limits {
            statements: 100,
            bytes: 25,
        };
        assert_eq!(
            sent(&items, limits),
            [vec![vec![0, 1], vec![2], vec![3, 4]]]
        );
    }

    #[test]
    fn a_later_write_of_a_row_replaces_the_earlier_in_its_batch() {
        // upsert, upsert again, then delete: only the delete is sent, standing for all three.
        let items = [up("p", "a"), up("p", "b"), up("p", "a"), del("p", "a")];
        let plan = plan(&items, Limits::default());
        assert_eq!(
            plan,
            [vec![PlannedBatch {
                sent: vec![3, 1],
                covers: vec![0, 1, 2, 3],
            }]]
        );
    }

    #[test]
    fn an_upsert_after_a_delete_of_its_row_goes_into_the_next_batch() {
        // A RENAME onto the same row: delete then create. Same timestamp would let the delete win.
        let items = [up("p", "b"), del("p", "a"), up("p", "a"), up("p", "c")];
        let plan = plan(&items, Limits::default());
        assert_eq!(
            plan,
            [vec![
                PlannedBatch {
                    sent: vec![0, 1],
                    covers: vec![0, 1],
                },
                PlannedBatch {
                    sent: vec![2, 3],
                    covers: vec![2, 3],
                },
            ]]
        );
    }

    #[test]
    fn upserts_of_one_row_with_other_columns_stay_in_order() {
        let mut other = up("p", "a");
        other.layout = 1;
        let items = [up("p", "a"), other, up("p", "a")];
        assert_eq!(
            sent(&items, Limits::default()),
            [vec![vec![0], vec![1], vec![2]]]
        );
        // A delete decides the row whatever the columns of the earlier upsert.
        let mut other = up("p", "a");
        other.layout = 1;
        let items = [other, del("p", "a")];
        assert_eq!(sent(&items, Limits::default()), [vec![vec![1]]]);
    }

    #[test]
    fn every_statement_is_covered_exactly_once_and_no_row_repeats_in_a_batch() {
        // A mixed chunk: three partitions, repeated rows, deletes and re-creates, small batches.
        let mut items = Vec::new();
        for i in 0..60usize {
            let p = format!("p{}", i % 3);
            let r = format!("r{}", i % 4);
            items.push(item(&p, &r, i % 5 == 0));
        }
        let limits = Limits {
            statements: 2,
            bytes: BATCH_BYTES_MAX,
        };
        let plan = plan(&items, limits);
        let mut covered: Vec<usize> = plan
            .iter()
            .flatten()
            .flat_map(|b| b.covers.clone())
            .collect();
        covered.sort_unstable();
        assert_eq!(covered, (0..60).collect::<Vec<_>>());
        for batch in plan.iter().flatten() {
            assert!(batch.sent.len() <= 2, "{batch:?}");
            let mut rows: Vec<&String> = batch.sent.iter().map(|&i| &items[i].row).collect();
            rows.sort();
            rows.dedup();
            assert_eq!(rows.len(), batch.sent.len(), "a row twice in {batch:?}");
            let partitions: Vec<&String> =
                batch.sent.iter().map(|&i| &items[i].partition).collect();
            assert!(partitions.iter().all(|p| *p == partitions[0]), "{batch:?}");
            // `covers` keeps statement order, and each sent statement is the last it covers of its row.
            assert!(batch.covers.windows(2).all(|w| w[0] < w[1]), "{batch:?}");
            for &s in &batch.sent {
                let last = batch
                    .covers
                    .iter()
                    .rev()
                    .find(|&&c| items[c].row == items[s].row);
                assert_eq!(last, Some(&s), "{batch:?}");
            }
        }
        // Within a partition, batches follow statement order.
        for batches in &plan {
            let firsts: Vec<usize> = batches.iter().map(|b| b.covers[0]).collect();
            assert!(firsts.windows(2).all(|w| w[0] < w[1]), "{batches:?}");
        }
    }

    #[test]
    fn the_partition_key_is_the_catalogs_partition_part_of_the_keys() {
        let catalog = [
            ("day", "clustering"),
            ("name", "regular"),
            ("id", "partition_key"),
            ("region", "partition_key"),
        ];
        assert_eq!(
            partition_positions(&["id", "day", "region"], &catalog),
            [0, 2]
        );
        // Without partition key kinds, the whole primary key groups (never two partitions in a batch).
        assert_eq!(
            partition_positions(&["id", "day"], &[("id", ""), ("day", "")]),
            [0, 1]
        );
    }
}
