//! Names of the module's own keys. They all start with [`PREFIX`], which capture never looks at.

/// Prefix of every key the module owns.
pub const PREFIX: &[u8] = b"__rdi__:";

/// The hash that holds the deployed YAML: field `config`, and `job:<name>` per job.
pub const DEPLOY_KEY: &str = "__rdi__:deploy";

/// Where a new deployment is written before it is renamed over [`DEPLOY_KEY`].
pub const DEPLOY_NEXT_KEY: &str = "__rdi__:deploy:next";

/// Field of [`DEPLOY_KEY`] holding `config.yaml`.
pub const CONFIG_FIELD: &str = "config";

/// Prefix of the fields of [`DEPLOY_KEY`] holding a job.
pub const JOB_FIELD_PREFIX: &str = "job:";

/// Whether a key belongs to the module.
pub fn is_own(key: &[u8]) -> bool {
    key.starts_with(PREFIX)
}

/// The stream that queues a job's changes. Derived from the job name only, so it survives redeploys,
/// restarts and upgrades and nothing queued is orphaned.
pub fn queue_key(job: &str) -> String {
    format!("__rdi__:queue:{job}")
}

/// The stream that keeps a job's dead letters.
pub fn dlq_key(job: &str) -> String {
    format!("__rdi__:dlq:{job}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_keys_are_recognised_as_own() {
        assert!(is_own(queue_key("emp").as_bytes()));
        assert!(is_own(dlq_key("emp").as_bytes()));
        assert!(is_own(DEPLOY_KEY.as_bytes()));
        assert!(!is_own(b"emp:1"));
    }
}
