//! Every folder of `examples/` is a deployable pipeline: its `config.yaml` and `jobs/*.yaml` parse
//! without problems, with references resolved to placeholders.
//! Test-only: declared under #[cfg(test)] in `config/mod.rs`.

use std::path::{Path, PathBuf};

use super::{parse_deployment, Resolver};

/// Resolves any reference to a placeholder, so that examples can name environment variables and
/// secrets that this machine does not have.
pub(super) struct AnyReference;

impl Resolver for AnyReference {
    fn resolve(&self, _kind: &str, arg: &str) -> Result<String, String> {
        if arg.ends_with("PORT") {
            return Ok("5432".into());
        }
        Ok(format!("placeholder-{}", arg.to_ascii_lowercase()))
    }
}

/// The `(config.yaml, jobs)` of one example folder.
pub(super) fn read_example(dir: &Path) -> (String, Vec<(String, String)>) {
    let config = std::fs::read_to_string(dir.join("config.yaml")).unwrap();
    let mut jobs = Vec::new();
    for entry in std::fs::read_dir(dir.join("jobs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            jobs.push((name, std::fs::read_to_string(&path).unwrap()));
        }
    }
    jobs.sort();
    (config, jobs)
}

/// The folders of `examples/` that hold a pipeline, in name order.
pub(super) fn example_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|dir| dir.join("config.yaml").exists())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_example_folder_deploys_and_every_target_type_has_one() {
    let mut types = Vec::new();
    for dir in example_dirs() {
        let (config, jobs) = read_example(&dir);
        assert!(!jobs.is_empty(), "{} has no jobs", dir.display());
        let parsed = parse_deployment(&config, &jobs, &AnyReference).unwrap_or_else(|problems| {
            let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
            panic!("{}: {problems:#?}", dir.display())
        });
        types.extend(
            parsed
                .deployment
                .connections
                .values()
                .map(|c| c.type_name()),
        );
    }
    types.sort_unstable();
    types.dedup();
    for wanted in [
        "cassandra",
        "mariadb",
        "mysql",
        "oracle",
        "postgresql",
        "redis",
        "sqlite",
        "sqlserver",
    ] {
        assert!(
            types.contains(&wanted),
            "no example for {wanted}: {types:?}"
        );
    }
}
