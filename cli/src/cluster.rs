//! Redis Cluster: the module runs on every primary, each capturing and writing its own keys. `deploy`,
//! `status`, `wait`, `start`, `stop`, `undeploy` and `set-secret` reach every primary (found with
//! `CLUSTER NODES` from the server given by `--rdi-host`/`--rdi-port`), and `status` sums them.

use serde_json::{Map, Value as Json};

use crate::args::ConnectionArgs;
use crate::client::Rdi;
use crate::error::CliError;
use crate::reply;

/// The servers a command goes to: one outside a cluster, every primary in one. Labels are
/// `host:port`.
pub struct Nodes {
    /// `(label, connection)`, the server given first.
    pub list: Vec<(String, Rdi)>,
}

impl Nodes {
    /// Whether the command goes to more than one server.
    pub fn is_cluster(&self) -> bool {
        self.list.len() > 1
    }
}

/// The primaries listed by `CLUSTER NODES` (flag `master`, not failed), as `(host, port)`. A node
/// that reports no address of its own (`:0`, or an empty host for `myself`) gets `default_host`.
pub fn parse_primaries(nodes: &str, default_host: &str) -> Vec<(String, u16)> {
    let mut out = Vec::new();
    for line in nodes.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(addr), Some(flags)) = (fields.get(1), fields.get(2)) else {
            continue;
        };
        let flags: Vec<&str> = flags.split(',').collect();
        if !flags.contains(&"master") || flags.iter().any(|f| f.starts_with("fail")) {
            continue;
        }
        let hostport = addr.split(['@', ',']).next().unwrap_or_default();
        let Some((host, port)) = hostport.rsplit_once(':') else {
            continue;
        };
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        if port == 0 {
            continue;
        }
        let host = if host.is_empty() { default_host } else { host };
        out.push((host.to_string(), port));
    }
    out
}

/// The server given, plus every other primary when it is a cluster node.
pub fn connect(first: Rdi, args: &ConnectionArgs) -> Result<Nodes, CliError> {
    let mut first = first;
    let label = format!("{}:{}", args.rdi_host, args.rdi_port);
    let info = match first.call(&["INFO", "cluster"]) {
        Ok(v) => reply::text(&v),
        // A user allowed the RDI commands but not INFO: this server alone, whose own answer to the
        // command then says what the user may not do (not INFO, which the user never asked for).
        Err(CliError::Server(e)) if e.starts_with("NOPERM") => String::new(),
        Err(e) => return Err(e),
    };
    if !info.contains("cluster_enabled:1") {
        return Ok(Nodes {
            list: vec![(label, first)],
        });
    }
    let text = reply::text(&first.call(&["CLUSTER", "NODES"])?);
    let is_given = |host: &str, port: u16| {
        port == args.rdi_port && (host == args.rdi_host || is_loopback(host))
    };
    let primaries = parse_primaries(&text, &args.rdi_host);
    // The server given may be a replica: it does not run the writers and is left out.
    let mut list = Vec::new();
    if primaries.iter().any(|(h, p)| is_given(h, *p)) {
        list.push((label, first));
    }
    for (host, port) in primaries {
        if is_given(&host, port) {
            continue;
        }
        let mut other = args.clone();
        other.rdi_host = host.clone();
        other.rdi_port = port;
        list.push((format!("{host}:{port}"), Rdi::connect(&other)?));
    }
    if list.is_empty() {
        return Err(CliError::Server(
            "CLUSTER NODES lists no reachable primary".into(),
        ));
    }
    Ok(Nodes { list })
}

fn is_loopback(host: &str) -> bool {
    host == "127.0.0.1" || host == "localhost" || host == "::1"
}

/// Job counters that add up across primaries.
const SUMMED: &[&str] = &[
    "pending",
    "inserted",
    "updated",
    "deleted",
    "filtered",
    "rejected",
    "dlq_size",
    "batches",
    "coalesced",
    "retry_attempts",
];

/// The statuses of every primary as one: job counters summed, lag the largest, engine and role
/// `RUNNING`/`primary` only when every node says so, connections unhealthy when any node finds them
/// so, warnings prefixed with their node; `nodes` keeps each node's own status.
pub fn sum_status(statuses: &[(String, Json)]) -> Json {
    let mut total = Map::new();
    let engines: Vec<String> = statuses
        .iter()
        .map(|(_, s)| reply::field(s, "engine"))
        .collect();
    let engine = if engines.iter().all(|e| *e == engines[0]) {
        engines.first().cloned().unwrap_or_default()
    } else {
        "MIXED".into()
    };
    total.insert("engine".into(), Json::String(engine));
    total.insert(
        "role".into(),
        Json::String(format!("cluster ({} primaries)", statuses.len())),
    );
    let mut connections = Map::new();
    let mut jobs = Map::new();
    let mut warnings = Vec::new();
    for (node, s) in statuses {
        for (name, c) in s
            .get("connections")
            .and_then(Json::as_object)
            .into_iter()
            .flatten()
        {
            let healthy = reply::field(c, "health") == "ok";
            match connections.get(name) {
                Some(existing) if reply::field(existing, "health") != "ok" || healthy => {}
                _ => {
                    connections.insert(name.clone(), c.clone());
                }
            }
        }
        for (name, j) in s
            .get("jobs")
            .and_then(Json::as_object)
            .into_iter()
            .flatten()
        {
            jobs.entry(name.clone()).or_insert_with(|| j.clone());
        }
        for w in s
            .get("warnings")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let text = w.as_str().map_or(w.to_string(), str::to_string);
            warnings.push(Json::String(format!("{node}: {text}")));
        }
    }
    // Each job is its first node's copy: its counters are recomputed over every node.
    for (name, j) in jobs.iter_mut() {
        let per_node: Vec<&Json> = statuses
            .iter()
            .filter_map(|(_, s)| s.get("jobs").and_then(|js| js.get(name)))
            .collect();
        if let Some(obj) = j.as_object_mut() {
            for k in SUMMED {
                let sum: u64 = per_node.iter().map(|n| reply::number(n, k)).sum();
                obj.insert((*k).into(), Json::from(sum));
            }
            let lag = per_node
                .iter()
                .map(|n| reply::number(n, "lag_ms"))
                .max()
                .unwrap_or(0);
            obj.insert("lag_ms".into(), Json::from(lag));
            let error = per_node
                .iter()
                .filter_map(|n| n.get("last_error").and_then(Json::as_str))
                .find(|e| !e.is_empty())
                .unwrap_or_default();
            obj.insert("last_error".into(), Json::String(error.to_string()));
        }
    }
    total.insert("connections".into(), Json::Object(connections));
    total.insert("jobs".into(), Json::Object(jobs));
    total.insert("warnings".into(), Json::Array(warnings));
    total.insert(
        "nodes".into(),
        Json::Object(statuses.iter().cloned().collect()),
    );
    Json::Object(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NODES: &str = "\
07c3 127.0.0.1:30004@31004 slave e7d1 0 1426238317239 4 connected
67ed 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f 127.0.0.1:30003@31003,host-c master,fail - 0 1426238318243 3 connected 10923-16383
e7d1 :30001@31001 myself,master - 0 0 1 connected 0-5460
";

    #[test]
    fn primaries_are_the_live_masters() {
        assert_eq!(
            parse_primaries(NODES, "10.0.0.9"),
            [
                ("127.0.0.1".to_string(), 30002),
                ("10.0.0.9".to_string(), 30001)
            ]
        );
    }

    #[test]
    fn statuses_add_up() {
        let a = json!({"engine": "RUNNING", "role": "primary",
            "connections": {"pg": {"health": "ok", "type": "postgresql"}},
            "jobs": {"emp": {"key_pattern": "emp:*", "pending": 2, "inserted": 10, "lag_ms": 5,
                             "last_error": ""}},
            "warnings": []});
        let b = json!({"engine": "RUNNING", "role": "primary",
            "connections": {"pg": {"health": "error", "type": "postgresql"}},
            "jobs": {"emp": {"key_pattern": "emp:*", "pending": 3, "inserted": 7, "lag_ms": 40,
                             "last_error": "connection refused"}},
            "warnings": ["FLUSHALL ran"]});
        let t = sum_status(&[("n1:1".into(), a), ("n2:2".into(), b)]);
        assert_eq!(t["engine"], "RUNNING");
        assert_eq!(t["role"], "cluster (2 primaries)");
        assert_eq!(t["jobs"]["emp"]["pending"], 5);
        assert_eq!(t["jobs"]["emp"]["inserted"], 17);
        assert_eq!(t["jobs"]["emp"]["lag_ms"], 40);
        assert_eq!(t["jobs"]["emp"]["last_error"], "connection refused");
        assert_eq!(t["connections"]["pg"]["health"], "error");
        assert_eq!(t["warnings"], json!(["n2:2: FLUSHALL ran"]));
        assert_eq!(t["nodes"]["n1:1"]["jobs"]["emp"]["inserted"], 10);
    }
}
