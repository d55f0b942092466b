//! A Redis Cluster of real servers for the tests: N primaries with the module, the slots split evenly,
//! a router that sends each command to the node that owns its key (following MOVED and ASK), and slot
//! migration the way `redis-cli --cluster reshard` does it (SETSLOT, GETKEYSINSLOT, MIGRATE KEYS).

use crate::ports::free_port;
use crate::redis_server::{RedisOpts, RedisServer};
use crate::wait::wait_until;
use redis::Value;
use std::time::Duration;

/// Number of hash slots.
pub const SLOTS: u16 = 16384;

/// CRC16/XMODEM, the checksum Redis Cluster hashes keys with. The module has the same function
/// (`src/module/cluster.rs`), but this harness never links the module crate (its allocator is Redis's).
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
pub fn slot_of(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = bytes
        .iter()
        .position(|b| *b == b'{')
        .and_then(|open| {
            let rest = &bytes[open + 1..];
            let close = rest.iter().position(|b| *b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(bytes);
    crc16(hashed) % SLOTS
}

/// A cluster of primaries, each a [`RedisServer`] started with `--cluster-enabled yes`.
pub struct Cluster {
    /// The nodes, in the order their slot ranges follow.
    pub nodes: Vec<RedisServer>,
    /// Node ids (`CLUSTER MYID`), by node index.
    pub ids: Vec<String>,
}

impl Cluster {
    /// Starts `n` primaries with `opts` plus the cluster arguments, splits the slots evenly, joins
    /// them, and waits until every node says `cluster_state:ok`.
    pub fn start(n: usize, opts: RedisOpts) -> Cluster {
        let nodes: Vec<RedisServer> = (0..n).map(|_| start_node(&opts)).collect();
        let ids: Vec<String> = nodes
            .iter()
            .map(|node| {
                redis::cmd("CLUSTER")
                    .arg("MYID")
                    .query(&mut node.client())
                    .expect("CLUSTER MYID")
            })
            .collect();
        for (i, node) in nodes.iter().enumerate() {
            let lo = i * SLOTS as usize / n;
            let hi = (i + 1) * SLOTS as usize / n - 1;
            let _: () = redis::cmd("CLUSTER")
                .arg("ADDSLOTSRANGE")
                .arg(lo)
                .arg(hi)
                .query(&mut node.client())
                .expect("CLUSTER ADDSLOTSRANGE");
        }
        let first = &nodes[0];
        let bus = cluster_port(first);
        for node in &nodes[1..] {
            let _: () = redis::cmd("CLUSTER")
                .arg("MEET")
                .arg("127.0.0.1")
                .arg(first.port())
                .arg(bus)
                .query(&mut node.client())
                .expect("CLUSTER MEET");
        }
        let cluster = Cluster { nodes, ids };
        cluster.wait_ok();
        cluster
    }

    /// Waits until every node says `cluster_state:ok` and knows every node.
    pub fn wait_ok(&self) {
        let n = self.nodes.len();
        wait_until(Duration::from_secs(60), "the cluster is ok", || {
            self.nodes.iter().all(|node| {
                let mut c = node.client();
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query(&mut c)
                    .unwrap_or_default();
                info.contains("cluster_state:ok")
                    && info.contains(&format!("cluster_known_nodes:{n}"))
                    && info.contains("cluster_slots_assigned:16384")
            })
        });
    }

    /// The index of the node that owns `slot`, asked of node 0.
    pub fn owner(&self, slot: u16) -> usize {
        let mut c = self.nodes[0].client();
        let nodes: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query(&mut c)
            .expect("CLUSTER NODES");
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            for range in fields.iter().skip(8).filter(|r| !r.starts_with('[')) {
                let (lo, hi) = match range.split_once('-') {
                    Some((a, b)) => (a.parse().unwrap_or(0), b.parse().unwrap_or(0)),
                    None => {
                        let s: u16 = range.parse().unwrap_or(0);
                        (s, s)
                    }
                };
                if (lo..=hi).contains(&slot) {
                    let id = fields[0];
                    return self.ids.iter().position(|x| x == id).expect("a known node");
                }
            }
        }
        panic!("slot {slot} has no owner")
    }

    /// A router over fresh connections to every node.
    pub fn router(&self) -> Router {
        Router::connect(&self.ports()).expect("connect to every node")
    }

    /// The nodes' ports, by node index.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port()).collect()
    }

    /// Moves `slot` from node `from` to node `to`, keys included, as `redis-cli --cluster reshard`
    /// does. Returns how many keys moved.
    pub fn migrate_slot(&self, slot: u16, from: usize, to: usize) -> usize {
        let mut src = self.nodes[from].client();
        let mut dst = self.nodes[to].client();
        let setslot = |c: &mut redis::Connection, how: &str, id: &str| {
            let _: () = redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg(how)
                .arg(id)
                .query(c)
                .unwrap_or_else(|e| panic!("CLUSTER SETSLOT {slot} {how}: {e}"));
        };
        setslot(&mut dst, "IMPORTING", &self.ids[from]);
        setslot(&mut src, "MIGRATING", &self.ids[to]);
        let mut moved = 0;
        loop {
            let keys: Vec<String> = redis::cmd("CLUSTER")
                .arg("GETKEYSINSLOT")
                .arg(slot)
                .arg(100)
                .query(&mut src)
                .expect("CLUSTER GETKEYSINSLOT");
            if keys.is_empty() {
                break;
            }
            moved += keys.len();
            let _: Value = redis::cmd("MIGRATE")
                .arg("127.0.0.1")
                .arg(self.nodes[to].port())
                .arg("")
                .arg(0)
                .arg(5000)
                .arg("REPLACE")
                .arg("KEYS")
                .arg(&keys)
                .query(&mut src)
                .expect("MIGRATE");
        }
        setslot(&mut dst, "NODE", &self.ids[to]);
        setslot(&mut src, "NODE", &self.ids[to]);
        for (i, node) in self.nodes.iter().enumerate() {
            if i != from && i != to {
                setslot(&mut node.client(), "NODE", &self.ids[to]);
            }
        }
        moved
    }
}

/// A server started with `opts` plus the cluster arguments. `RedisServer::start` tries other
/// client ports when one is taken; a taken cluster-bus port is tried again here with another.
fn start_node(opts: &RedisOpts) -> RedisServer {
    let mut last = None;
    for _ in 0..5 {
        let o = opts
            .clone()
            .arg("--cluster-enabled")
            .arg("yes")
            .arg("--cluster-config-file")
            .arg("nodes.conf")
            .arg("--cluster-port")
            .arg(&free_port().to_string())
            .arg("--cluster-node-timeout")
            .arg("3000");
        match RedisServer::start(o) {
            Ok(server) => return server,
            Err(e) if e.log.contains("Address already in use") => last = Some(e),
            Err(e) => panic!("start a cluster node: {e:?}"),
        }
    }
    panic!(
        "start a cluster node: {}",
        last.map_or(String::new(), |e| format!("{e:?}"))
    )
}

impl Cluster {
    /// Starts a replica of node `of`, joins it to the cluster and waits until it is in sync. The
    /// replica is not one of [`Cluster::nodes`].
    pub fn add_replica(&self, of: usize, opts: RedisOpts) -> RedisServer {
        let replica = start_node(&opts);
        let mut c = replica.client();
        let _: () = redis::cmd("CLUSTER")
            .arg("MEET")
            .arg("127.0.0.1")
            .arg(self.nodes[of].port())
            .arg(cluster_port(&self.nodes[of]))
            .query(&mut c)
            .expect("CLUSTER MEET");
        let primary = self.ids[of].clone();
        wait_until(
            Duration::from_secs(30),
            "the replica knows its primary",
            || {
                let nodes: String = redis::cmd("CLUSTER")
                    .arg("NODES")
                    .query(&mut c)
                    .unwrap_or_default();
                nodes.contains(&primary)
            },
        );
        let _: () = redis::cmd("CLUSTER")
            .arg("REPLICATE")
            .arg(&primary)
            .query(&mut c)
            .expect("CLUSTER REPLICATE");
        wait_until(Duration::from_secs(30), "the replica is in sync", || {
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query(&mut c)
                .unwrap_or_default();
            info.contains("master_link_status:up")
        });
        replica
    }
}

/// The cluster bus port a node was started with.
fn cluster_port(node: &RedisServer) -> u16 {
    let reply: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("cluster-port")
        .query(&mut node.client())
        .expect("CONFIG GET cluster-port");
    reply
        .get(1)
        .and_then(|p| p.parse().ok())
        .expect("a cluster port")
}

/// Sends commands to the node that owns their key (the first argument after the name).
pub struct Router {
    conns: Vec<redis::Connection>,
    ports: Vec<u16>,
    owners: Vec<usize>,
}

impl Router {
    /// Connects to every node (by port); slots are first guessed from an even split of the slots
    /// over the nodes in order, then learnt from MOVED replies.
    pub fn connect(ports: &[u16]) -> redis::RedisResult<Router> {
        let mut conns = Vec::new();
        for port in ports {
            let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
            let conn = client.get_connection_with_timeout(Duration::from_millis(500))?;
            conn.set_read_timeout(Some(Duration::from_secs(5)))?;
            conns.push(conn);
        }
        let n = ports.len().max(1);
        Ok(Router {
            conns,
            ports: ports.to_vec(),
            owners: (0..SLOTS)
                .map(|s| (s as usize * n / SLOTS as usize).min(n - 1))
                .collect(),
        })
    }

    /// Runs `args` (`[name, key, ...]`) on the owner of the key, following MOVED and ASK.
    pub fn call(&mut self, args: &[&str]) -> redis::RedisResult<Value> {
        let slot = slot_of(args[1]);
        let mut node = self.owners[slot as usize];
        let mut asking = false;
        for _ in 0..10 {
            let conn = &mut self.conns[node];
            if asking {
                let _: Value = redis::cmd("ASKING").query(conn)?;
            }
            let mut cmd = redis::cmd(args[0]);
            for a in &args[1..] {
                cmd.arg(*a);
            }
            match cmd.query::<Value>(conn) {
                Err(e) if matches!(e.code(), Some("MOVED") | Some("ASK")) => {
                    let target = e
                        .detail()
                        .and_then(|d| d.split_whitespace().nth(1))
                        .and_then(|addr| addr.rsplit(':').next())
                        .and_then(|p| p.parse::<u16>().ok())
                        .and_then(|p| self.ports.iter().position(|x| *x == p));
                    let Some(target) = target else { return Err(e) };
                    asking = e.code() == Some("ASK");
                    if !asking {
                        self.owners[slot as usize] = target;
                    }
                    node = target;
                }
                other => return other,
            }
        }
        Err(redis::RedisError::from((
            redis::ErrorKind::ClientError,
            "too many redirections",
        )))
    }

    /// Like [`Router::call`], panicking on an error.
    pub fn must(&mut self, args: &[&str]) -> Value {
        self.call(args)
            .unwrap_or_else(|e| panic!("{}: {e}", args.join(" ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis_cluster() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(slot_of("foo"), 12182);
        assert_eq!(slot_of("{user1000}.following"), slot_of("user1000"));
    }
}
