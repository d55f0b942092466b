//! The commands that reach every primary of a Redis Cluster (see [`crate::cluster`]): one reply per
//! node, summed where it adds up, and a failure on any node fails the command, naming the node.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Map, Value as Json};

use crate::cluster::{self, Nodes};
use crate::commands::{read_secret, render_wait};
use crate::deploy;
use crate::error::CliError;
use crate::reply::{self, field, number, RECORD};
use crate::status;
use crate::table::{duration_ms, Table};

fn print(json: bool, value: &Json, human: String) -> Result<(), CliError> {
    let text = if json { format!("{value:#}\n") } else { human };
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(())
}

/// A command that failed on some nodes: `<what> failed on 1 of 3 primaries: n1: reason`.
fn failure(what: &str, total: usize, failed: &[(String, String)]) -> CliError {
    let list: Vec<String> = failed.iter().map(|(n, e)| format!("{n}: {e}")).collect();
    CliError::Server(format!(
        "{what} failed on {} of {total} primaries: {}",
        failed.len(),
        list.join("; ")
    ))
}

/// `deploy --dir D` on every primary.
pub fn deploy(nodes: &mut Nodes, dir: &Path, dry_run: bool, json: bool) -> Result<(), CliError> {
    let folder = deploy::read_folder(dir)?;
    let command = deploy::command(&folder, dry_run);
    let total = nodes.list.len();
    let mut per_node = Map::new();
    let mut failed = Vec::new();
    let mut human = String::new();
    for (label, rdi) in &mut nodes.list {
        match rdi.call_owned(&command) {
            Ok(reply) => {
                let notes = deploy::notes(&reply);
                human.push_str(&format!("{label}: ok\n"));
                for n in &notes {
                    human.push_str(&format!("{label}: note: {n}\n"));
                }
                per_node.insert(label.clone(), json!({"ok": true, "notes": notes}));
            }
            Err(CliError::Server(text)) => {
                let (head, problems) = deploy::split_problems(&text);
                human.push_str(&format!("{label}: refused: {head}\n"));
                for p in &problems {
                    human.push_str(&format!("{label}: {p}\n"));
                }
                per_node.insert(
                    label.clone(),
                    json!({"ok": false, "error": head, "problems": problems}),
                );
                failed.push((label.clone(), head));
            }
            Err(e) => {
                human.push_str(&format!("{label}: {e}\n"));
                per_node.insert(label.clone(), json!({"ok": false, "error": e.to_string()}));
                failed.push((label.clone(), e.to_string()));
            }
        }
    }
    let what = if dry_run { "checked" } else { "deployed" };
    if failed.is_empty() {
        human.push_str(&format!(
            "{what} {} job(s) from {} on {total} primaries\n",
            folder.jobs.len(),
            dir.display()
        ));
    }
    let value = json!({"ok": failed.is_empty(), "dry_run": dry_run, "nodes": per_node});
    print(json, &value, human)?;
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failure("deploy", total, &failed))
    }
}

/// Every primary's RDI.STATUS, summed (see [`cluster::sum_status`]).
pub fn fetch_status(nodes: &mut Nodes) -> Result<Json, CliError> {
    let mut statuses = Vec::new();
    for (label, rdi) in &mut nodes.list {
        let s = status::fetch(rdi).map_err(|e| CliError::Server(format!("{label}: {e}")))?;
        statuses.push((label.clone(), s));
    }
    Ok(cluster::sum_status(&statuses))
}

/// The per-node table under a summed status.
pub fn render_nodes(total: &Json) -> String {
    let mut t = Table::new(&["NODE", "ENGINE", "PENDING", "WRITTEN", "REJECTED", "LAG"]);
    for (label, s) in total
        .get("nodes")
        .and_then(Json::as_object)
        .into_iter()
        .flatten()
    {
        let jobs: Vec<&Json> = s
            .get("jobs")
            .and_then(Json::as_object)
            .map(|m| m.values().collect())
            .unwrap_or_default();
        let sum = |k: &str| jobs.iter().map(|j| number(j, k)).sum::<u64>();
        let lag = jobs.iter().map(|j| number(j, "lag_ms")).max().unwrap_or(0);
        t.row(vec![
            label.clone(),
            field(s, "engine"),
            sum("pending").to_string(),
            (sum("inserted") + sum("updated") + sum("deleted")).to_string(),
            sum("rejected").to_string(),
            duration_ms(lag),
        ]);
    }
    format!("\nPrimaries\n{}", t.render())
}

/// `status` on a cluster: the sum, then one line per primary.
pub fn status(nodes: &mut Nodes, json: bool) -> Result<(), CliError> {
    let total = fetch_status(nodes)?;
    let human = format!("{}{}", status::render(&total), render_nodes(&total));
    print(json, &total, human)
}

/// `status --live` on a cluster.
pub fn status_live(nodes: &mut Nodes, interval: Duration) -> Result<(), CliError> {
    status::live_with(
        || {
            let total = fetch_status(nodes)?;
            Ok(format!(
                "{}{}",
                status::render(&total),
                render_nodes(&total)
            ))
        },
        interval,
    )
}

/// `wait` on every primary: written and rejected summed.
pub fn wait(nodes: &mut Nodes, timeout_ms: Option<u64>, json: bool) -> Result<(), CliError> {
    let mut args = vec!["RDI.WAIT".to_string()];
    if let Some(t) = timeout_ms {
        args.push(t.to_string());
    }
    let total = nodes.list.len();
    let mut per_node = Map::new();
    let mut failed = Vec::new();
    let (mut written, mut rejected) = (0u64, 0u64);
    for (label, rdi) in &mut nodes.list {
        match rdi.call_owned(&args) {
            Ok(reply) => {
                let r = reply::to_json(&reply, RECORD);
                written += number(&r, "written");
                rejected += number(&r, "rejected");
                per_node.insert(label.clone(), r);
            }
            Err(e) => failed.push((label.clone(), e.to_string())),
        }
    }
    if !failed.is_empty() {
        return Err(failure("wait", total, &failed));
    }
    let value = json!({"written": written, "rejected": rejected, "nodes": per_node});
    let human = format!("{total} primaries {}", render_wait(&value));
    print(json, &value, human)
}

/// A command whose reply is `OK`, on every primary.
pub fn simple(
    nodes: &mut Nodes,
    args: &[String],
    json: bool,
    message: &str,
) -> Result<(), CliError> {
    let total = nodes.list.len();
    let mut per_node = Map::new();
    let mut failed = Vec::new();
    for (label, rdi) in &mut nodes.list {
        match rdi.call_owned(args) {
            Ok(reply) => {
                per_node.insert(label.clone(), reply::to_json(&reply, reply::Shape::Any));
            }
            Err(e) => failed.push((label.clone(), e.to_string())),
        }
    }
    if !failed.is_empty() {
        return Err(failure(&args[0].to_ascii_lowercase(), total, &failed));
    }
    let value = json!({"ok": true, "nodes": per_node});
    print(json, &value, format!("{message} (on {total} primaries)\n"))
}

/// `set-secret` on every primary (each keeps its own secrets file).
pub fn set_secret(
    nodes: &mut Nodes,
    name: &str,
    value: Option<String>,
    json: bool,
) -> Result<(), CliError> {
    let value = read_secret(name, value)?;
    let args = ["RDI.SET-SECRET".to_string(), name.to_string(), value];
    simple(nodes, &args, json, &format!("secret `{name}` stored"))
}
