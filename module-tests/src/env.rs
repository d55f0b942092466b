//! Where the servers, libraries and the module live: environment variables, else `<repo>/.deps/env.sh`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The repository root (the parent of this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("module-tests lives inside the repository")
        .to_path_buf()
}

/// The `export NAME="value"` lines of `<repo>/.deps/env.sh`, written by `scripts/deps.sh`.
fn deps_env() -> &'static HashMap<String, String> {
    static VARS: OnceLock<HashMap<String, String>> = OnceLock::new();
    VARS.get_or_init(|| {
        let path = repo_root().join(".deps/env.sh");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        text.lines()
            .filter_map(|line| line.trim().strip_prefix("export "))
            .filter_map(|assignment| assignment.split_once('='))
            .map(|(name, value)| {
                let value = value.trim().trim_matches('"').trim_matches('\'');
                (name.trim().to_string(), value.to_string())
            })
            .collect()
    })
}

/// The value of `name` from the environment, else from `.deps/env.sh`, else a panic saying how to get it.
pub fn var(name: &str) -> String {
    if let Ok(value) = std::env::var(name) {
        if !value.is_empty() {
            return value;
        }
    }
    match deps_env().get(name) {
        Some(value) => value.clone(),
        None => panic!(
            "{name} is not set and not in {}: run `bash scripts/deps.sh` (or `make deps`) first",
            repo_root().join(".deps/env.sh").display()
        ),
    }
}

/// The module under test: `RDI_MODULE`, else `<repo>/target/release/librdi.so`.
pub fn module_path() -> PathBuf {
    match std::env::var("RDI_MODULE") {
        Ok(path) if !path.is_empty() => PathBuf::from(path),
        _ => repo_root().join("target/release/librdi.so"),
    }
}
