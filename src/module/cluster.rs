//! Redis Cluster: where the module's own keys live, and which keys a slot migration moves away.
//!
//! Each primary captures and writes the keys it holds. Its queues and its kept deployment carry one
//! hash tag whose slot this shard owns (the shard's lowest slot), so that they stay local, survive a
//! restart (a node deletes keys of slots it does not own) and are replicated to the shard's replicas.
//! Outside a cluster the tag is empty and the key names are those of a single server.

use redis_module::{Context, ContextFlags};

use super::keys;
use super::queue::text;

/// Number of hash slots of a Redis Cluster.
pub const SLOTS: u16 = 16384;

/// Whether this server runs in cluster mode.
pub fn enabled(ctx: &Context) -> bool {
    ctx.get_flags().contains(ContextFlags::CLUSTER)
}

/// CRC16/XMODEM, the checksum Redis Cluster hashes keys with.
fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for b in bytes {
        crc ^= u16::from(*b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The hash slot of a key, honouring `{hash tags}`.
pub fn slot_of(key: &[u8]) -> u16 {
    let hashed = key
        .iter()
        .position(|b| *b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|b| *b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key);
    crc16(hashed) % SLOTS
}

/// The shortest (then smallest) decimal hash tag whose slot is `slot`.
pub fn tag_for_slot(slot: u16) -> Option<String> {
    slot_tags()
        .get(usize::from(slot))
        .filter(|t| **t != NO_TAG)
        .map(u32::to_string)
}

/// No decimal tag below the search's bound for this slot (none is missing in practice).
const NO_TAG: u32 = u32::MAX;

/// The tag of every slot, found once by one pass over the numbers in increasing order (about 170,000
/// checksums, a few milliseconds; 64 KiB).
fn slot_tags() -> &'static [u32] {
    static TAGS: std::sync::OnceLock<Vec<u32>> = std::sync::OnceLock::new();
    TAGS.get_or_init(|| {
        let mut tags = vec![NO_TAG; usize::from(SLOTS)];
        let mut missing = tags.len();
        for i in 0u32..1_000_000 {
            if missing == 0 {
                break;
            }
            let slot = usize::from(slot_of(i.to_string().as_bytes()));
            if let Some(t) = tags.get_mut(slot).filter(|t| **t == NO_TAG) {
                *t = i;
                missing -= 1;
            }
        }
        tags
    })
}

/// The slots served by this node's shard (its own as a primary, its primary's as a replica), parsed
/// from `CLUSTER NODES`. Slots being imported or migrated (`[...]`) are not counted.
pub fn shard_slots(nodes: &str) -> Vec<u16> {
    let lines: Vec<Vec<&str>> = nodes
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let Some(me) = lines.iter().find(|f| {
        f.get(2)
            .is_some_and(|flags| flags.split(',').any(|x| x == "myself"))
    }) else {
        return Vec::new();
    };
    let is_replica = me
        .get(2)
        .is_some_and(|flags| flags.split(',').any(|x| x == "slave" || x == "replica"));
    let owner = if is_replica {
        let primary = me.get(3).copied().unwrap_or("-");
        lines.iter().find(|f| f.first() == Some(&primary))
    } else {
        Some(me)
    };
    let mut slots = Vec::new();
    for range in owner.map(|f| f.iter().skip(8)).into_iter().flatten() {
        if range.starts_with('[') {
            continue;
        }
        let (lo, hi) = match range.split_once('-') {
            Some((a, b)) => (a.parse::<u16>(), b.parse::<u16>()),
            None => (range.parse::<u16>(), range.parse::<u16>()),
        };
        if let (Ok(lo), Ok(hi)) = (lo, hi) {
            slots.extend(lo..=hi.min(SLOTS - 1));
        }
    }
    slots
}

fn cluster_nodes(ctx: &Context) -> Option<String> {
    ctx.call("CLUSTER", &["NODES"]).ok().as_ref().and_then(text)
}

/// Existing kept deployments (`__rdi__:{tag}:deploy`) in this node's keyspace, in key order. Every
/// tag the module gives is a slot's [`tag_for_slot`], so each slot's key is looked up (16,384 key
/// lookups, a few milliseconds) rather than matching a pattern against the whole keyspace with
/// `KEYS`, which held the main thread in proportion to the keyspace (`MODULE LOAD` into a node
/// holding 5 M keys: 0.30 s, against 0.04 s now; bench/RESULTS.md round 19).
fn kept_deployments(ctx: &Context) -> Vec<String> {
    kept_among(|name| !ctx.open_key(&ctx.create_string(name)).is_null())
}

/// The kept deployments' key names for which `exists` holds, in key order.
fn kept_among(exists: impl Fn(&str) -> bool) -> Vec<String> {
    let mut found: Vec<String> = (0..SLOTS)
        .filter_map(tag_for_slot)
        .map(|tag| keys::deploy_key_of(&tag))
        .filter(|name| exists(name))
        .collect();
    found.sort();
    found
}

/// Settles the hash tag of the module's keys on a cluster node: the tag of a deployment already kept
/// here (final), else the tag of the shard's lowest slot (provisional: looked for again on the next
/// call, since at a restart the module loads before the data, and a node given a lower slot since
/// its deploy keeps its deployment under the tag it had then). Does nothing outside a cluster or once
/// final. Fails when the node serves no slot yet (the cluster is not set up).
pub fn settle_tag(ctx: &Context) -> Result<(), String> {
    if !enabled(ctx) || keys::tag_is_final() {
        return Ok(());
    }
    let slots = cluster_nodes(ctx)
        .map(|n| shard_slots(&n))
        .unwrap_or_default();
    let kept = kept_deployments(ctx);
    // Prefer a kept deployment in a slot the shard serves; any kept one beats none.
    let chosen = kept
        .iter()
        .find(|k| slots.contains(&slot_of(k.as_bytes())))
        .or(kept.first())
        .and_then(|k| keys::tag_of_deploy_key(k));
    let fin = chosen.is_some();
    let tag = match chosen {
        Some(t) => t,
        None => {
            let Some(first) = slots.first() else {
                return Err(
                    "this cluster node serves no hash slot yet: assign slots (CLUSTER ADDSLOTS or redis-cli --cluster create) before deploying"
                        .into(),
                );
            };
            tag_for_slot(*first).ok_or_else(|| format!("no hash tag found for slot {first}"))?
        }
    };
    if keys::tag().as_deref() != Some(tag.as_str()) {
        super::log::notice(
            ctx,
            &format!(
                "rdi: cluster mode: the module's keys carry the hash tag {{{tag}}} (slot {}{})",
                slot_of(tag.as_bytes()),
                if fin {
                    ", that of the deployment kept here"
                } else {
                    ", the shard's lowest"
                }
            ),
        );
    }
    keys::set_tag(tag, fin);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis_cluster() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(slot_of(b"foo"), 12182);
        assert_eq!(slot_of(b"{user1000}.following"), slot_of(b"user1000"));
        assert_eq!(slot_of(b"foo{}{bar}"), slot_of(b"foo{}{bar}"));
        assert_ne!(slot_of(b"foo{}{bar}"), slot_of(b"bar"));
        assert_eq!(slot_of(b"foo{{bar}}zap"), slot_of(b"{bar"));
    }

    #[test]
    fn kept_deployments_are_found_under_any_slots_tag() {
        let tag = |slot| tag_for_slot(slot).expect("a tag");
        let kept = [
            keys::deploy_key_of(&tag(16000)),
            keys::deploy_key_of(&tag(100)),
        ];
        let found = kept_among(|name| kept.iter().any(|k| k == name));
        let mut expected = kept.to_vec();
        expected.sort();
        assert_eq!(found, expected);
        assert!(kept_among(|_| false).is_empty());
        // A tag the module never gives is not looked for.
        assert!(kept_among(|name| name == keys::deploy_key_of("x")).is_empty());
    }

    #[test]
    fn every_slot_has_a_short_tag() {
        for slot in 0..SLOTS {
            let tag = tag_for_slot(slot).expect("a tag");
            assert_eq!(slot_of(tag.as_bytes()), slot);
            assert!(tag.len() <= 6, "{tag}");
        }
        // The same tags as the search each node made before the table (so kept deployments are
        // found under the names they were stored with): the first number whose slot it is.
        for slot in [0, 1, 5460, 5461, 10922, 10923, 16383] {
            let first = (0u32..1_000_000)
                .map(|i| i.to_string())
                .find(|t| slot_of(t.as_bytes()) == slot);
            assert_eq!(tag_for_slot(slot), first);
        }
    }

    const NODES: &str = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master - 0 1426238318243 3 connected 10923-16383 [5000->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460 16000
";

    #[test]
    fn a_primary_serves_its_own_slots() {
        let slots = shard_slots(NODES);
        assert_eq!(slots.first(), Some(&0));
        assert_eq!(slots.len(), 5462);
        assert!(slots.contains(&16000));
    }

    #[test]
    fn a_replica_serves_its_primarys_slots() {
        let nodes = NODES
            .replace("myself,master", "master")
            .replace(" slave e7d1", " myself,slave e7d1");
        let slots = shard_slots(&nodes);
        assert_eq!(slots.len(), 5462);
    }

    #[test]
    fn slots_in_migration_are_skipped_and_no_myself_is_none() {
        let nodes = NODES
            .replace("myself,master", "master")
            .replace("31003 master", "31003 myself,master");
        assert_eq!(shard_slots(&nodes).len(), 16383 - 10923 + 1);
        assert!(shard_slots("").is_empty());
    }
}
