//! Writing (or previewing) the scaffolded files, refusing to overwrite unless forced.

use std::path::{Path, PathBuf};

use super::templates::{config_yaml, job_yaml, JOB_FILE};
use crate::args::DbType;
use crate::error::CliError;

/// What `scaffold --dir` wrote.
#[derive(Debug)]
pub struct Scaffold {
    /// The files written, in order.
    pub written: Vec<PathBuf>,
}

/// The files of a scaffold: relative path and text.
fn files(db: DbType) -> [(&'static str, String); 2] {
    [("config.yaml", config_yaml(db)), (JOB_FILE, job_yaml(db))]
}

/// The text of one scaffolded file (`config.yaml` or `jobs/emp.yaml`).
pub fn preview(db: DbType, name: &str) -> Result<String, CliError> {
    let wanted = name.trim_start_matches("./");
    files(db)
        .into_iter()
        .find(|(path, _)| *path == wanted)
        .map(|(_, text)| text)
        .ok_or_else(|| {
            CliError::Usage(format!(
                "--preview takes config.yaml or {JOB_FILE}, not `{name}`"
            ))
        })
}

/// Writes `config.yaml` and `jobs/emp.yaml` under `dir`; without `force`, fails before writing
/// anything if one of them exists.
pub fn write(db: DbType, dir: &Path, force: bool) -> Result<Scaffold, CliError> {
    let files = files(db);
    if !force {
        let existing: Vec<String> = files
            .iter()
            .map(|(rel, _)| dir.join(rel))
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
        if !existing.is_empty() {
            return Err(CliError::Usage(format!(
                "{} already exist{}: pass --force to overwrite",
                existing.join(", "),
                if existing.len() == 1 { "s" } else { "" }
            )));
        }
    }
    let mut written = Vec::new();
    for (rel, text) in files {
        let path = dir.join(rel);
        let io = |source| CliError::WriteFile {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&path, text).map_err(io)?;
        written.push(path);
    }
    Ok(Scaffold { written })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    fn parse(text: &str) -> serde_norway::Value {
        serde_norway::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn every_type_gives_valid_yaml_with_its_connection_type() {
        for db in DbType::value_variants() {
            let name = db
                .to_possible_value()
                .map(|v| v.get_name().to_string())
                .unwrap_or_default();
            let config = parse(&config_yaml(*db));
            assert_eq!(
                config["connections"]["target"]["type"].as_str(),
                Some(name.as_str())
            );
            assert!(config.get("applier").is_none(), "applier is commented out");
            let job = parse(&job_yaml(*db));
            assert_eq!(
                job["source"]["redis"]["key_pattern"].as_str(),
                Some("emp:*")
            );
            assert_eq!(
                job["source"]["redis"]["trigger"].as_str(),
                Some("write-behind")
            );
            assert_eq!(
                job["output"][0]["with"]["connection"].as_str(),
                Some("target")
            );
        }
    }

    #[test]
    fn servers_get_env_references_never_literal_passwords() {
        for db in [
            DbType::Postgresql,
            DbType::Mysql,
            DbType::Mariadb,
            DbType::Oracle,
            DbType::Sqlserver,
        ] {
            let config = parse(&config_yaml(db));
            let password = config["connections"]["target"]["password"]
                .as_str()
                .unwrap_or_default();
            assert!(
                password.starts_with("${env:") && password.ends_with('}'),
                "{db:?}: {password}"
            );
        }
    }

    #[test]
    fn the_applier_section_lists_every_default() {
        let text = config_yaml(DbType::Sqlite);
        for key in [
            "read_batch_size: 2000",
            "write_batch_size: 200",
            "duration: 100",
            "on_failed_retry_interval: 5",
            "error_handling: dlq",
            "dlq_max_messages: 1000",
            "writer_threads: 2",
            "max_pending: 0",
        ] {
            assert!(text.contains(&format!("#  {key}")), "{key}");
        }
    }

    #[test]
    fn preview_names_config_or_job() {
        assert!(preview(DbType::Mysql, "config.yaml").is_ok_and(|t| t.contains("type: mysql")));
        assert!(preview(DbType::Mysql, "jobs/emp.yaml").is_ok_and(|t| t.contains("table: emp")));
        let err = preview(DbType::Mysql, "other.yaml")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("--preview takes config.yaml or jobs/emp.yaml, not `other.yaml`")
        );
    }

    #[test]
    fn existing_files_are_kept_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let first = write(DbType::Sqlite, dir.path(), false).unwrap();
        assert_eq!(first.written.len(), 2);
        assert!(dir.path().join("jobs/emp.yaml").is_file());
        std::fs::write(dir.path().join("config.yaml"), "mine").unwrap();
        let err = write(DbType::Postgresql, dir.path(), false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("config.yaml") && err.contains("--force"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("config.yaml")).unwrap(),
            "mine"
        );
        write(DbType::Postgresql, dir.path(), true).unwrap();
        assert!(std::fs::read_to_string(dir.path().join("config.yaml"))
            .unwrap()
            .contains("postgresql"));
    }
}
