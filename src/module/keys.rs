//! Names of the module's own keys. They all start with [`PREFIX`], which capture never looks at.
//!
//! On a cluster node they also carry a hash tag of a slot the node's shard serves (see
//! [`super::cluster`]): `__rdi__:{tag}:queue:<job>`. Outside a cluster there is no tag.

use std::sync::RwLock;

/// Prefix of every key the module owns.
pub const PREFIX: &[u8] = b"__rdi__:";

/// Field of the deploy hash holding `config.yaml`.
pub const CONFIG_FIELD: &str = "config";

/// Prefix of the fields of the deploy hash holding a job.
pub const JOB_FIELD_PREFIX: &str = "job:";

/// The hash tag of this node's keys (cluster mode), chosen by [`super::cluster::settle_tag`], and
/// whether it is final (a deployment is kept under it) or provisional (the lowest slot's, chosen
/// while no deployment was in sight: before the data loaded, say).
static TAG: RwLock<Option<(String, bool)>> = RwLock::new(None);

/// The hash tag, if any.
pub fn tag() -> Option<String> {
    TAG.read()
        .ok()
        .and_then(|t| t.as_ref().map(|(tag, _)| tag.clone()))
}

/// Whether the tag is final.
pub fn tag_is_final() -> bool {
    TAG.read()
        .ok()
        .is_some_and(|t| t.as_ref().is_some_and(|(_, fin)| *fin))
}

/// Sets the hash tag; a final one is not looked for again.
pub fn set_tag(tag: String, fin: bool) {
    if let Ok(mut t) = TAG.write() {
        *t = Some((tag, fin));
    }
}

/// `__rdi__:` followed by `{tag}:` on a cluster node.
fn prefixed(rest: &str) -> String {
    match tag() {
        Some(t) => format!("__rdi__:{{{t}}}:{rest}"),
        None => format!("__rdi__:{rest}"),
    }
}

/// The name of the kept deployment of a cluster node whose keys carry `tag`.
pub fn deploy_key_of(tag: &str) -> String {
    format!("__rdi__:{{{tag}}}:deploy")
}

/// The tag of a kept deployment's key name (`__rdi__:{tag}:deploy`).
pub fn tag_of_deploy_key(key: &str) -> Option<String> {
    let t = key.strip_prefix("__rdi__:{")?.strip_suffix("}:deploy")?;
    (!t.is_empty()).then(|| t.to_string())
}

/// Whether a key belongs to the module.
pub fn is_own(key: &[u8]) -> bool {
    key.starts_with(PREFIX)
}

/// The hash that holds the deployed YAML: field `config`, and `job:<name>` per job.
pub fn deploy_key() -> String {
    prefixed("deploy")
}

/// Where a new deployment is written before it is renamed over [`deploy_key`].
pub fn deploy_next_key() -> String {
    prefixed("deploy:next")
}

/// The stream that queues a job's changes. Derived from the job name (and the node's tag) only, so
/// it survives redeploys, restarts and upgrades and nothing queued is orphaned.
pub fn queue_key(job: &str) -> String {
    prefixed(&format!("queue:{job}"))
}

/// The stream that keeps a job's dead letters.
pub fn dlq_key(job: &str) -> String {
    prefixed(&format!("dlq:{job}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_keys_are_recognised_as_own() {
        assert!(is_own(queue_key("emp").as_bytes()));
        assert!(is_own(dlq_key("emp").as_bytes()));
        assert!(is_own(deploy_key().as_bytes()));
        assert!(is_own(b"__rdi__:{12}:queue:emp"));
        assert!(!is_own(b"emp:1"));
    }

    #[test]
    fn the_tag_is_read_back_from_a_kept_deployment() {
        assert_eq!(
            tag_of_deploy_key("__rdi__:{123}:deploy").as_deref(),
            Some("123")
        );
        assert_eq!(tag_of_deploy_key("__rdi__:deploy"), None);
        assert_eq!(tag_of_deploy_key("__rdi__:{}:deploy"), None);
        assert!(
            crate::module::cluster::slot_of(b"__rdi__:{123}:deploy")
                == crate::module::cluster::slot_of(b"123")
        );
    }
}
