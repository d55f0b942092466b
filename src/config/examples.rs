//! Every pipeline under `examples/` parses and validates (references to the environment accepted).

#![cfg(test)]
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::Path;

use super::deployment::parse_deployment;
use super::reference::Resolver;

/// Resolves every `${env:...}` reference to a plausible value, as a deploy host with them set would.
struct AnyEnv;

impl Resolver for AnyEnv {
    fn resolve(&self, kind: &str, arg: &str) -> Result<String, String> {
        match (kind, arg) {
            ("env", "PG_PORT") => Ok("5432".into()),
            ("env", _) => Ok("value".into()),
            _ => Err(format!("examples use only env references, not {kind}")),
        }
    }
}

#[test]
fn every_example_folder_deploys() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut seen = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        let config = std::fs::read_to_string(dir.join("config.yaml")).unwrap();
        let mut jobs = Vec::new();
        for file in std::fs::read_dir(dir.join("jobs")).unwrap() {
            let file = file.unwrap().path();
            let name = file.file_stem().unwrap().to_string_lossy().to_string();
            jobs.push((name, std::fs::read_to_string(&file).unwrap()));
        }
        assert!(!jobs.is_empty(), "{} has no jobs", dir.display());
        let parsed = parse_deployment(&config, &jobs, &AnyEnv)
            .unwrap_or_else(|p| panic!("{}: {p:#?}", dir.display()));
        assert_eq!(parsed.deployment.jobs.len(), jobs.len());
        seen.push(dir.file_name().unwrap().to_string_lossy().to_string());
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "filters-and-sql",
            "json-documents",
            "order-lines",
            "quickstart"
        ]
    );
}
