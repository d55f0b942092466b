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

/// `deploy --dir D` on every primary: checked everywhere first (see [`deploy_on`]).
pub fn deploy(nodes: &mut Nodes, dir: &Path, dry_run: bool, json: bool) -> Result<(), CliError> {
    let folder = deploy::read_folder(dir)?;
    let done = deploy_on(&mut nodes.list, &folder, dry_run, |rdi, args| {
        rdi.call_owned(args)
    });
    let mut human = done.human;
    if done.result.is_ok() {
        let what = if dry_run { "checked" } else { "deployed" };
        human.push_str(&format!(
            "{what} {} job(s) from {} on {} primaries\n",
            folder.jobs.len(),
            dir.display(),
            nodes.list.len()
        ));
    }
    print(json, &done.value, human)?;
    done.result
}

/// What a deploy on every primary printed and how it ended.
struct Deployed {
    human: String,
    value: Json,
    result: Result<(), CliError>,
}

/// One primary's answer to RDI.DEPLOY: its notes, or why it refused.
type Answer = Result<Vec<String>, (String, Vec<String>)>;

/// Sends `command` to every node, in order; per node its label and answer.
fn ask_all<N>(
    nodes: &mut [(String, N)],
    folder: &deploy::Folder,
    command: &[String],
    call: &mut impl FnMut(&mut N, &[String]) -> Result<redis::Value, CliError>,
) -> Vec<(String, Answer)> {
    let mut answers = Vec::new();
    for (label, node) in nodes.iter_mut() {
        let answer = match call(node, command) {
            Ok(reply) => Ok(deploy::notes(&reply)),
            Err(CliError::Server(text)) => {
                let (head, problems) = deploy::split_problems(&text);
                Err((head, problems.iter().map(|p| folder.locate(p)).collect()))
            }
            Err(e) => Err((e.to_string(), Vec::new())),
        };
        answers.push((label.clone(), answer));
    }
    answers
}

/// The lines and JSON of each node's answer, and the nodes that refused with their reasons.
fn render(
    answers: &[(String, Answer)],
    ok: &str,
) -> (String, Map<String, Json>, Vec<(String, String)>) {
    let mut human = String::new();
    let mut per_node = Map::new();
    let mut failed = Vec::new();
    for (label, answer) in answers {
        match answer {
            Ok(notes) => {
                human.push_str(&format!("{label}: {ok}\n"));
                for n in notes {
                    human.push_str(&format!("{label}: note: {n}\n"));
                }
                per_node.insert(label.clone(), json!({"ok": true, "notes": notes}));
            }
            Err((head, problems)) => {
                human.push_str(&format!("{label}: refused: {head}\n"));
                for p in problems {
                    human.push_str(&format!("{label}: {p}\n"));
                }
                per_node.insert(
                    label.clone(),
                    json!({"ok": false, "error": head, "problems": problems}),
                );
                failed.push((label.clone(), head.clone()));
            }
        }
    }
    (human, per_node, failed)
}

/// Deploys `folder` on every node with `call`, all or none as far as the module can tell: RDI.DEPLOY
/// with DRYRUN goes to every primary first (validation and target checks), and the deploy itself only
/// once every one of them passed, so that a primary that refuses leaves every primary on the pipeline
/// it ran. With `dry_run`, the check is all there is.
fn deploy_on<N>(
    nodes: &mut [(String, N)],
    folder: &deploy::Folder,
    dry_run: bool,
    mut call: impl FnMut(&mut N, &[String]) -> Result<redis::Value, CliError>,
) -> Deployed {
    let total = nodes.len();
    let checked = ask_all(nodes, folder, &deploy::command(folder, true), &mut call);
    let (human, per_node, failed) = render(&checked, if dry_run { "ok" } else { "checked" });
    if dry_run || !failed.is_empty() {
        let value = json!({"ok": failed.is_empty(), "dry_run": dry_run, "nodes": per_node});
        let result = match failed.is_empty() {
            true => Ok(()),
            false if dry_run => Err(failure("deploy check", total, &failed)),
            false => Err(CliError::Server(format!(
                "{}; nothing was deployed: every primary checks the deployment (DRYRUN) first",
                failure("deploy", total, &failed)
            ))),
        };
        return Deployed {
            human,
            value,
            result,
        };
    }
    let deployed = ask_all(nodes, folder, &deploy::command(folder, false), &mut call);
    let (mut human, per_node, failed) = render(&deployed, "ok");
    let value = json!({"ok": failed.is_empty(), "dry_run": false, "nodes": per_node});
    if failed.is_empty() {
        return Deployed {
            human,
            value,
            result: Ok(()),
        };
    }
    // Every primary passed the check, yet some refused the deploy itself (a pause, busy writers).
    let new: Vec<&str> = deployed
        .iter()
        .filter(|(_, a)| a.is_ok())
        .map(|(label, _)| label.as_str())
        .collect();
    let state = match new.as_slice() {
        [] => "no primary changed its pipeline".to_string(),
        _ => format!(
            "{} run the new pipeline, the others the one they ran: deploy again",
            new.join(", ")
        ),
    };
    human.push_str(&format!("{state}\n"));
    let message = format!("{}; {state}", failure("deploy", total, &failed));
    Deployed {
        human,
        value,
        result: Err(CliError::Server(message)),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A primary that answers the check and the deploy as told, and remembers what it was sent.
    #[derive(Default)]
    struct Primary {
        refuse_check: bool,
        refuse_deploy: bool,
        sent: Vec<String>,
    }

    fn answer(node: &mut Primary, args: &[String]) -> Result<redis::Value, CliError> {
        let check = args.last().is_some_and(|a| a == "DRYRUN");
        node.sent
            .push(if check { "check" } else { "deploy" }.into());
        match (check, node.refuse_check, node.refuse_deploy) {
            (true, true, _) => Err(CliError::Server(
                "ERR invalid deployment (1 problem): jobs/emp.yaml:1:1: missing required key `output`"
                    .into(),
            )),
            (false, _, true) => Err(CliError::Server(
                "ERR the running writers did not stop in time; nothing was changed, try again"
                    .into(),
            )),
            _ => Ok(redis::Value::Okay),
        }
    }

    fn folder() -> deploy::Folder {
        deploy::Folder {
            config: "connections: {}\n".into(),
            jobs: vec![("emp".into(), "source: {}\n".into())],
            yml: vec!["emp".into()],
        }
    }

    fn primaries(n: usize) -> Vec<(String, Primary)> {
        (1..=n)
            .map(|i| (format!("n{i}"), Primary::default()))
            .collect()
    }

    fn sent(nodes: &[(String, Primary)]) -> Vec<Vec<String>> {
        nodes.iter().map(|(_, p)| p.sent.clone()).collect()
    }

    #[test]
    fn every_primary_is_checked_before_any_is_deployed() {
        let mut nodes = primaries(3);
        let done = deploy_on(&mut nodes, &folder(), false, answer);
        assert!(done.result.is_ok());
        assert_eq!(sent(&nodes), vec![vec!["check", "deploy"]; 3]);
        assert_eq!(done.value["ok"], true);
        assert_eq!(done.human, "n1: ok\nn2: ok\nn3: ok\n");
    }

    #[test]
    fn a_primary_that_refuses_the_check_stops_the_deploy_on_every_primary() {
        let mut nodes = primaries(3);
        nodes[1].1.refuse_check = true;
        let done = deploy_on(&mut nodes, &folder(), false, answer);
        assert_eq!(sent(&nodes), vec![vec!["check"]; 3]);
        assert_eq!(
            done.result.unwrap_err().to_string(),
            "deploy failed on 1 of 3 primaries: n2: invalid deployment (1 problem); nothing was \
             deployed: every primary checks the deployment (DRYRUN) first"
        );
        assert_eq!(
            done.human,
            "n1: checked\nn2: refused: invalid deployment (1 problem)\n\
             n2: jobs/emp.yml:1:1: missing required key `output`\nn3: checked\n"
        );
        assert_eq!(done.value["nodes"]["n2"]["ok"], false);
    }

    #[test]
    fn a_dry_run_only_checks() {
        let mut nodes = primaries(2);
        let done = deploy_on(&mut nodes, &folder(), true, answer);
        assert!(done.result.is_ok());
        assert_eq!(sent(&nodes), vec![vec!["check"]; 2]);
        nodes[0].1.refuse_check = true;
        let done = deploy_on(&mut nodes, &folder(), true, answer);
        assert!(done
            .result
            .unwrap_err()
            .to_string()
            .starts_with("deploy check failed on 1 of 2 primaries: n1: "));
    }

    #[test]
    fn a_refusal_after_the_check_names_the_primaries_that_run_the_new_pipeline() {
        let mut nodes = primaries(3);
        nodes[2].1.refuse_deploy = true;
        let done = deploy_on(&mut nodes, &folder(), false, answer);
        assert_eq!(sent(&nodes), vec![vec!["check", "deploy"]; 3]);
        let err = done.result.unwrap_err().to_string();
        assert!(
            err.starts_with("deploy failed on 1 of 3 primaries: n3: the running writers")
                && err.ends_with(
                    "n1, n2 run the new pipeline, the others the one they ran: deploy again"
                ),
            "{err}"
        );
    }
}
