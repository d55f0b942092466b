//! The comparison that ends every run: every tracked key read from Redis, every row read from
//! PostgreSQL, and what the load knows it was acknowledged for.
//!
//! - lost: an acknowledged operation that Redis no longer reflects, or a key in Redis without its row
//!   or whose row holds an older value;
//! - diverged: a row whose value differs from its key's (not older), or a row whose key does not exist.

use crate::load::{seq_of, History, TOTAL_IDS};
use module_tests::cluster::Router;
use std::collections::BTreeMap;

/// The outcome of one comparison.
#[derive(Default, Debug)]
pub struct Comparison {
    /// Keys (ids) compared.
    pub checked: u64,
    /// Ids lost (see the module doc).
    pub lost: u64,
    /// Ids diverged.
    pub diverged: u64,
    /// One line per differing id, for the run's `diff.txt`.
    pub lines: Vec<String>,
}

/// Values of field `v` of `kv:0..TOTAL_IDS` in Redis (`None`: no key).
pub fn read_redis(connection: &mut redis::Connection) -> redis::RedisResult<Vec<Option<String>>> {
    let mut values = Vec::with_capacity(TOTAL_IDS as usize);
    for chunk in (0..TOTAL_IDS).collect::<Vec<_>>().chunks(500) {
        let mut pipe = redis::pipe();
        for id in chunk {
            pipe.cmd("HGET").arg(format!("kv:{id}")).arg("v");
        }
        let part: Vec<Option<String>> = pipe.query(connection)?;
        values.extend(part);
    }
    Ok(values)
}

/// [`read_redis`] on a cluster: each key read from its owner.
pub fn read_cluster(router: &mut Router) -> redis::RedisResult<Vec<Option<String>>> {
    (0..TOTAL_IDS)
        .map(|id| {
            let key = format!("kv:{id}");
            redis::from_redis_value(&router.call(&["HGET", &key, "v"])?)
        })
        .collect()
}

/// Rows of `kv` in PostgreSQL: id → v.
pub fn read_pg(client: &mut postgres::Client) -> Result<BTreeMap<i64, String>, postgres::Error> {
    Ok(client
        .query("SELECT id, v FROM kv", &[])?
        .iter()
        .map(|row| (i64::from(row.get::<_, i32>(0)), row.get::<_, String>(1)))
        .collect())
}

/// Whether Redis's state of a key is allowed by its history: the state left by the last operation
/// that must survive, or by any operation issued after it (their outcome is unknown).
fn redis_state_allowed(ops: &[crate::load::Op], state: &Option<String>) -> bool {
    let last_must = ops.iter().rposition(|op| op.must_survive);
    let from = match last_must {
        Some(i) => i,
        // Nothing must survive: the key may also never have been written.
        None if state.is_none() => return true,
        None => 0,
    };
    ops[from..].iter().any(|op| &op.value == state)
}

/// Compares Redis, PostgreSQL and the history of the load.
pub fn compare(
    history: &History,
    redis_values: &[Option<String>],
    mut rows: BTreeMap<i64, String>,
) -> Comparison {
    let mut out = Comparison::default();
    for id in 0..TOTAL_IDS as usize {
        out.checked += 1;
        let in_redis = &redis_values[id];
        let row = rows.remove(&(id as i64));
        let ops = &history[id];
        let mut lost = None;
        let mut diverged = None;
        if !redis_state_allowed(ops, in_redis) {
            let must = ops.iter().rev().find(|op| op.must_survive);
            lost = Some(format!(
                "redis lost an acknowledged write: last acknowledged {:?}, redis {in_redis:?}",
                must.map(|op| &op.value)
            ));
        }
        match (in_redis, &row) {
            (Some(v), None) => {
                lost.get_or_insert(format!("key has v={v} but no row"));
            }
            (Some(v), Some(w)) if v != w => {
                if seq_of(w) < seq_of(v) {
                    lost.get_or_insert(format!("row holds older v={w}, key has v={v}"));
                } else {
                    diverged = Some(format!("row holds v={w}, key has v={v}"));
                }
            }
            (None, Some(w)) => diverged = Some(format!("row v={w} but no key")),
            _ => {}
        }
        if let Some(why) = lost {
            out.lost += 1;
            out.lines
                .push(format!("LOST kv:{id}: {why}; ops {}", ops.len()));
        } else if let Some(why) = diverged {
            out.diverged += 1;
            out.lines.push(format!("DIVERGED kv:{id}: {why}"));
        }
    }
    for (id, v) in rows {
        out.diverged += 1;
        out.lines.push(format!(
            "DIVERGED row {id} (v={v}) is outside the tracked ids"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Op;

    fn history(ops: &[(u32, Option<&str>, bool)]) -> History {
        let mut h: History = vec![Vec::new(); TOTAL_IDS as usize];
        for (id, value, must_survive) in ops {
            h[*id as usize].push(Op {
                value: value.map(str::to_string),
                must_survive: *must_survive,
            });
        }
        h
    }

    fn redis(pairs: &[(u32, &str)]) -> Vec<Option<String>> {
        let mut v = vec![None; TOTAL_IDS as usize];
        for (id, value) in pairs {
            v[*id as usize] = Some(value.to_string());
        }
        v
    }

    fn rows(pairs: &[(i64, &str)]) -> BTreeMap<i64, String> {
        pairs.iter().map(|(id, v)| (*id, v.to_string())).collect()
    }

    #[test]
    fn equal_sides_and_unacknowledged_writes_are_neither_lost_nor_diverged() {
        let h = history(&[(1, Some("a-t0-1"), true), (1, Some("a-t0-2"), false)]);
        let c = compare(&h, &redis(&[(1, "a-t0-1")]), rows(&[(1, "a-t0-1")]));
        assert_eq!((c.checked, c.lost, c.diverged), (TOTAL_IDS as u64, 0, 0));
    }

    #[test]
    fn a_missing_or_older_row_and_a_forgotten_acknowledged_write_are_lost() {
        let h = history(&[
            (1, Some("a-t0-1"), true),
            (2, Some("a-t0-2"), true),
            (2, Some("a-t0-3"), true),
            (3, Some("a-t0-4"), true),
        ]);
        let keys = redis(&[(1, "a-t0-1"), (2, "a-t0-3")]);
        let c = compare(&h, &keys, rows(&[(2, "a-t0-2")]));
        assert_eq!((c.lost, c.diverged), (3, 0), "{:?}", c.lines);
    }

    #[test]
    fn a_row_without_its_key_or_with_a_newer_value_diverges() {
        let h = history(&[(1, Some("a-t0-5"), true), (2, None, true)]);
        let c = compare(
            &h,
            &redis(&[(1, "a-t0-5")]),
            rows(&[(1, "a-t0-9"), (2, "x-1")]),
        );
        assert_eq!((c.lost, c.diverged), (0, 2), "{:?}", c.lines);
    }
}
