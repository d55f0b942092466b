//! `redis-di deploy --dir D`: reads `config.yaml` and `jobs/*.yaml`, sends RDI.DEPLOY, and prints
//! every problem of a refused deploy on its own line.

use std::io::Write;
use std::path::{Path, PathBuf};

use redis::Value;
use serde_json::json;

use crate::client::Rdi;
use crate::error::CliError;
use crate::reply;

/// The files of a pipeline folder, as read.
#[derive(Debug)]
pub struct Folder {
    /// `config.yaml`.
    pub config: String,
    /// `(job name, yaml)`, sorted by name.
    pub jobs: Vec<(String, String)>,
    /// The jobs read from a `.yml` file, which the module names `jobs/<name>.yaml` in its problems.
    pub yml: Vec<String>,
}

impl Folder {
    /// A problem line of the module with the job file named as it is on disk (`jobs/x.yml`).
    pub fn locate(&self, problem: &str) -> String {
        for name in &self.yml {
            if let Some(rest) = problem.strip_prefix(&format!("jobs/{name}.yaml:")) {
                return format!("jobs/{name}.yml:{rest}");
            }
        }
        problem.to_string()
    }
}

fn read(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|source| CliError::ReadFile {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads `dir/config.yaml` and every `dir/jobs/*.yaml` (or `.yml`); the job name is the file stem.
/// A folder without job files is an error: deploying it would replace the running pipeline with
/// nothing, which is what `redis-di undeploy` is for.
pub fn read_folder(dir: &Path) -> Result<Folder, CliError> {
    let config = read(&dir.join("config.yaml"))?;
    let jobs_dir = dir.join("jobs");
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(&jobs_dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => {
            return Err(CliError::ReadFile {
                path: jobs_dir,
                source,
            })
        }
    };
    if paths.is_empty() {
        return Err(CliError::Usage(format!(
            "no job files in {}: add jobs/<name>.yaml (use `redis-di undeploy` to remove every job)",
            jobs_dir.display()
        )));
    }
    paths.sort();
    let mut jobs = Vec::new();
    let mut yml = Vec::new();
    for p in paths {
        let name = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if p.extension().is_some_and(|e| e == "yml") {
            yml.push(name.clone());
        }
        jobs.push((name, read(&p)?));
    }
    Ok(Folder { config, jobs, yml })
}

/// The RDI.DEPLOY command for a folder.
pub fn command(folder: &Folder, dry_run: bool) -> Vec<String> {
    let mut args = vec![
        "RDI.DEPLOY".to_string(),
        "CONFIG".into(),
        folder.config.clone(),
    ];
    for (name, yaml) in &folder.jobs {
        args.extend(["JOB".to_string(), name.clone(), yaml.clone()]);
    }
    if dry_run {
        args.push("DRYRUN".into());
    }
    args
}

/// A refused deploy: its headline (`invalid deployment (2 problems)`) and one line per problem.
pub fn split_problems(error: &str) -> (String, Vec<String>) {
    let text = error.strip_prefix("ERR ").unwrap_or(error);
    match text.split_once("): ") {
        Some((head, rest)) if head.contains(" (") => (
            format!("{head})"),
            rest.split(" | ").map(str::to_string).collect(),
        ),
        _ => (text.to_string(), Vec::new()),
    }
}

/// The notes of a successful deploy reply (`OK`, or `OK` followed by notes).
pub fn notes(reply: &Value) -> Vec<String> {
    match reply {
        Value::Array(items) => items.iter().skip(1).map(reply::text).collect(),
        _ => Vec::new(),
    }
}

/// Runs `deploy`.
pub fn run(rdi: &mut Rdi, dir: &Path, dry_run: bool, json: bool) -> Result<(), CliError> {
    let folder = read_folder(dir)?;
    let mut out = std::io::stdout();
    match rdi.call_owned(&command(&folder, dry_run)) {
        Ok(reply) => {
            let notes = notes(&reply);
            if json {
                writeln!(
                    out,
                    "{:#}",
                    json!({"ok": true, "dry_run": dry_run, "notes": notes})
                )?;
            } else {
                let what = if dry_run { "checked" } else { "deployed" };
                writeln!(
                    out,
                    "{what} {} job(s) from {}",
                    folder.jobs.len(),
                    dir.display()
                )?;
                for n in notes {
                    writeln!(out, "note: {n}")?;
                }
            }
            Ok(())
        }
        Err(CliError::Server(text)) => {
            let (head, problems) = split_problems(&text);
            let problems: Vec<String> = problems.iter().map(|p| folder.locate(p)).collect();
            if json {
                writeln!(
                    out,
                    "{:#}",
                    json!({"ok": false, "error": head, "problems": problems})
                )?;
            } else {
                for p in &problems {
                    writeln!(out, "{p}")?;
                }
            }
            Err(CliError::Deploy(format!("deploy refused: {head}")))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_come_one_per_line() {
        let (head, lines) = split_problems(
            "ERR invalid deployment (2 problems): jobs/emp.yaml:3:5: source.redis.trigger: must be write-behind | config.yaml:4:11: connections.target.type: unknown type `foo`",
        );
        assert_eq!(head, "invalid deployment (2 problems)");
        assert_eq!(
            lines,
            [
                "jobs/emp.yaml:3:5: source.redis.trigger: must be write-behind",
                "config.yaml:4:11: connections.target.type: unknown type `foo`"
            ]
        );
    }

    #[test]
    fn other_errors_stay_whole() {
        let (head, lines) = split_problems("ERR missing CONFIG <yaml>: RDI.DEPLOY CONFIG <yaml>");
        assert_eq!(head, "missing CONFIG <yaml>: RDI.DEPLOY CONFIG <yaml>");
        assert!(lines.is_empty());
        let (head, lines) =
            split_problems("ERR target check failed (1 problem): target: table emp does not exist");
        assert_eq!(head, "target check failed (1 problem)");
        assert_eq!(lines, ["target: table emp does not exist"]);
    }

    #[test]
    fn folder_reads_config_and_sorted_jobs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.yaml"), "connections: {}\n").unwrap();
        std::fs::create_dir(dir.path().join("jobs")).unwrap();
        std::fs::write(dir.path().join("jobs/b.yaml"), "B").unwrap();
        std::fs::write(dir.path().join("jobs/a.yml"), "A").unwrap();
        std::fs::write(dir.path().join("jobs/readme.txt"), "no").unwrap();
        let folder = read_folder(dir.path()).unwrap();
        assert_eq!(
            folder.jobs,
            [("a".to_string(), "A".to_string()), ("b".into(), "B".into())]
        );
        assert_eq!(
            command(&folder, true),
            [
                "RDI.DEPLOY",
                "CONFIG",
                "connections: {}\n",
                "JOB",
                "a",
                "A",
                "JOB",
                "b",
                "B",
                "DRYRUN"
            ]
        );
    }

    #[test]
    fn a_folder_without_job_files_is_an_error_naming_undeploy() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.yaml"), "connections: {}\n").unwrap();
        let want = format!(
            "no job files in {}: add jobs/<name>.yaml (use `redis-di undeploy` to remove every job)",
            dir.path().join("jobs").display()
        );
        let err = read_folder(dir.path()).unwrap_err().to_string();
        assert_eq!(err, want);
        std::fs::create_dir(dir.path().join("jobs")).unwrap();
        std::fs::write(dir.path().join("jobs/notes.txt"), "no").unwrap();
        let err = read_folder(dir.path()).unwrap_err().to_string();
        assert_eq!(err, want);
    }

    #[test]
    fn problems_of_a_yml_job_name_its_file_as_it_is_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.yaml"), "connections: {}\n").unwrap();
        std::fs::create_dir(dir.path().join("jobs")).unwrap();
        std::fs::write(dir.path().join("jobs/a.yml"), "A").unwrap();
        std::fs::write(dir.path().join("jobs/ab.yaml"), "B").unwrap();
        let folder = read_folder(dir.path()).unwrap();
        assert_eq!(
            folder.locate("jobs/a.yaml:1:1: missing required key `output`"),
            "jobs/a.yml:1:1: missing required key `output`"
        );
        assert_eq!(
            folder.locate("jobs/ab.yaml:1:1: missing required key `output`"),
            "jobs/ab.yaml:1:1: missing required key `output`"
        );
        assert_eq!(folder.locate("config.yaml:1:1: x"), "config.yaml:1:1: x");
    }

    #[test]
    fn a_missing_config_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_folder(dir.path()).unwrap_err().to_string();
        assert!(
            err.starts_with("cannot read ") && err.contains("config.yaml"),
            "{err}"
        );
    }

    #[test]
    fn notes_follow_ok() {
        let reply = Value::Array(vec![
            Value::Okay,
            Value::BulkString(b"field after.x read as x".to_vec()),
        ]);
        assert_eq!(notes(&reply), ["field after.x read as x"]);
        assert!(notes(&Value::Okay).is_empty());
    }
}
