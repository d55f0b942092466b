//! The `applier` section of `config.yaml`: batching, retry and error handling, with their defaults.

use super::model::{Applier, ErrorHandling, WRITER_THREADS_MAX, WRITER_THREADS_MIN};
use super::walker::{Fields, Walker};
use super::yaml::Node;

/// Keys of the applier section that this module uses.
const KEYS: &[&str] = &[
    "read_batch_size",
    "write_batch_size",
    "duration",
    "on_failed_retry_interval",
    "error_handling",
    "dlq_max_messages",
    "writer_threads",
    "max_pending",
    "exactly_once",
    "checkpoint_table",
];

/// Keys that RDI documents for its ingest pipeline only: accepted and ignored, with a note.
const INGEST_ONLY_KEYS: &[&str] = &[
    "target_data_type",
    "wait_enabled",
    "wait_timeout",
    "retry_on_replica_failure",
    "dedup",
    "dedup_max_size",
    "json_update_strategy",
    "initial_sync_processes",
];

/// Reads the optional `applier` section; missing or invalid values keep their defaults.
pub fn applier(w: &mut Walker, node: Option<&Node>) -> Applier {
    let mut out = Applier::default();
    let Some(fields) = node.and_then(|node| w.map(node, "applier")) else {
        return out;
    };
    for (name, key, _) in fields.iter() {
        let path = fields.child(name);
        if INGEST_ONLY_KEYS.contains(&name) {
            w.note(key.pos, &path, "ignored (only used by RDI ingest)");
        } else if !KEYS.contains(&name) {
            let message = format!("unknown key `{name}`; expected one of: {}", KEYS.join(", "));
            w.problem(key.pos, &path, message);
        }
    }
    let size = |w: &mut Walker, key: &str, min: u64, max: u64| -> Option<usize> {
        let node = fields.get(key)?;
        let n = w.integer(node, &fields.child(key), min, max)?;
        usize::try_from(n).ok()
    };
    // `usize` always fits in `u64` on the targets Redis runs on.
    let threads = (WRITER_THREADS_MIN as u64, WRITER_THREADS_MAX as u64);
    let read = size(w, "read_batch_size", 1, u64::MAX);
    let write = size(w, "write_batch_size", 1, u64::MAX);
    let dlq = size(w, "dlq_max_messages", 1, u64::MAX);
    let writers = size(w, "writer_threads", threads.0, threads.1);
    let pending = size(w, "max_pending", 0, u64::MAX);
    let number = |w: &mut Walker, key: &str, min: u64| {
        let node = fields.get(key)?;
        w.integer(node, &fields.child(key), min, u64::MAX)
    };
    let duration = number(w, "duration", 0);
    let retry = number(w, "on_failed_retry_interval", 1);
    out.read_batch_size = read.unwrap_or(out.read_batch_size);
    out.write_batch_size = write.unwrap_or(out.write_batch_size);
    out.dlq_max_messages = dlq.unwrap_or(out.dlq_max_messages);
    out.writer_threads = writers.unwrap_or(out.writer_threads);
    out.max_pending = pending.unwrap_or(out.max_pending);
    out.duration_ms = duration.unwrap_or(out.duration_ms);
    out.on_failed_retry_interval_s = retry.unwrap_or(out.on_failed_retry_interval_s);
    if let Some(node) = fields.get("error_handling") {
        out.error_handling =
            match w.choice(node, &fields.child("error_handling"), &["dlq", "ignore"]) {
                Some("ignore") => ErrorHandling::Ignore,
                _ => ErrorHandling::Dlq,
            };
    }
    if let Some(node) = fields.get("exactly_once") {
        let path = fields.child("exactly_once");
        out.exactly_once = w.choice(node, &path, &["true", "false"]) == Some("true");
    }
    if let Some(node) = fields.get("checkpoint_table") {
        let path = fields.child("checkpoint_table");
        if let Some(name) = w.string(node, &path) {
            let valid = !name.is_empty()
                && name.split('.').count() <= 2
                && name.split('.').all(|part| {
                    !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
            if valid {
                out.checkpoint_table = name;
            } else {
                w.problem(
                    node.pos,
                    &path,
                    "a table name of letters, digits and `_`, optionally `schema.table`"
                        .to_string(),
                );
            }
        }
    }
    check_batch_sizes(w, &fields, &out);
    out
}

/// A write batch larger than the read batch could never fill.
fn check_batch_sizes(w: &mut Walker, fields: &Fields, applier: &Applier) {
    if applier.write_batch_size <= applier.read_batch_size {
        return;
    }
    let path = fields.child("write_batch_size");
    match fields.get("write_batch_size") {
        Some(node) => w.problem(node.pos, &path, "must not be greater than read_batch_size"),
        None => w.problem(
            fields.pos,
            &path,
            format!(
                "the default ({}) is greater than read_batch_size; set write_batch_size too",
                applier.write_batch_size
            ),
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::super::reference::SystemResolver;
    use super::super::yaml::parse;
    use super::*;

    fn read(yaml: &str) -> (Applier, Vec<String>, Vec<String>) {
        let resolver = SystemResolver::default();
        let mut w = Walker::new("config.yaml", &resolver);
        let root = parse(yaml).unwrap();
        let applier = applier(&mut w, Some(&root));
        let problems = w.problems.iter().map(ToString::to_string).collect();
        (applier, problems, w.notes)
    }

    #[test]
    fn missing_or_empty_section_gives_the_defaults() {
        let resolver = SystemResolver::default();
        let mut w = Walker::new("config.yaml", &resolver);
        assert_eq!(applier(&mut w, None), Applier::default());
        let (empty, problems, _) = read("{}");
        assert_eq!(empty, Applier::default());
        assert!(problems.is_empty());
        // SPEC 2.2's defaults, written out: a change to a constant must show here.
        let d = Applier::default();
        assert_eq!(d.read_batch_size, 2000);
        assert_eq!(d.write_batch_size, 200);
        assert_eq!(d.duration_ms, 100);
        assert_eq!(d.on_failed_retry_interval_s, 5);
        assert_eq!(d.error_handling, ErrorHandling::Dlq);
        assert_eq!(d.dlq_max_messages, 1000);
        assert_eq!(d.writer_threads, 2);
        assert_eq!(d.max_pending, 0);
        assert!(!d.exactly_once);
        assert_eq!(d.checkpoint_table, "rdi_checkpoints");
    }

    #[test]
    fn every_key_is_read() {
        let yaml = "read_batch_size: 500\nwrite_batch_size: '50'\nduration: 0\non_failed_retry_interval: 30\n\
                    error_handling: ignore\ndlq_max_messages: 10\nwriter_threads: 8\nmax_pending: 100000\n\
                    exactly_once: true\ncheckpoint_table: ops.rdi_cp\n";
        let (applier, problems, notes) = read(yaml);
        assert!(problems.is_empty(), "{problems:?}");
        assert!(notes.is_empty());
        let expected = Applier {
            read_batch_size: 500,
            write_batch_size: 50,
            duration_ms: 0,
            on_failed_retry_interval_s: 30,
            error_handling: ErrorHandling::Ignore,
            dlq_max_messages: 10,
            writer_threads: 8,
            max_pending: 100_000,
            exactly_once: true,
            checkpoint_table: "ops.rdi_cp".into(),
        };
        assert_eq!(applier, expected);
    }

    #[test]
    fn integers_may_be_references() {
        let (applier, problems, _) = read("read_batch_size: ${env:RDI_TEST_UNSET_SIZE}\n");
        assert_eq!(applier.read_batch_size, 2000);
        assert_eq!(
            problems,
            ["config.yaml:1:18: applier.read_batch_size: cannot resolve ${env:RDI_TEST_UNSET_SIZE}: \
              environment variable not set in the redis-server process (set it where the server \
              starts, or store the value with RDI.SET-SECRET and write ${secrets:NAME})"]
        );
    }

    #[test]
    fn out_of_bounds_values_are_all_reported() {
        let yaml = "read_batch_size: 0\nwriter_threads: 65\nerror_handling: drop\non_failed_retry_interval: -1\n";
        let (_, problems, _) = read(yaml);
        assert_eq!(
            problems,
            [
                "config.yaml:1:18: applier.read_batch_size: must be an integer of at least 1",
                "config.yaml:2:17: applier.writer_threads: must be an integer between 1 and 64",
                "config.yaml:4:27: applier.on_failed_retry_interval: must be an integer of at least 1",
                "config.yaml:3:17: applier.error_handling: must be one of: dlq, ignore, not `drop`",
            ]
        );
    }

    #[test]
    fn write_batch_larger_than_read_batch_is_a_problem() {
        let (_, problems, _) = read("read_batch_size: 10\nwrite_batch_size: 20\n");
        assert_eq!(
            problems,
            ["config.yaml:2:19: applier.write_batch_size: must not be greater than read_batch_size"]
        );
        let (_, problems, _) = read("read_batch_size: 10\n");
        assert_eq!(
            problems,
            ["config.yaml:1:1: applier.write_batch_size: the default (200) is greater than read_batch_size; \
              set write_batch_size too"]
        );
    }

    #[test]
    fn ingest_only_keys_are_noted_and_unknown_keys_are_problems() {
        let (_, problems, notes) = read("wait_enabled: true\nbatch: 3\n");
        assert_eq!(
            notes,
            ["config.yaml:1:1: applier.wait_enabled: ignored (only used by RDI ingest)"]
        );
        assert_eq!(
            problems,
            ["config.yaml:2:1: applier.batch: unknown key `batch`; expected one of: read_batch_size, \
              write_batch_size, duration, on_failed_retry_interval, error_handling, dlq_max_messages, \
              writer_threads, max_pending, exactly_once, checkpoint_table"]
        );
    }
}
