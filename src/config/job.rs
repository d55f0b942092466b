//! One job file: what `source.redis` captures, its `transform` list and its outputs.

use super::model::{Job, RowFormat};
use super::output::OutputReader;
use super::problem::item_path;
use super::transform::TransformReader;
use super::walker::{Fields, Walker};
use super::yaml::{Node, Value};

mod events;

const JOB_KEYS: &[&str] = &["source", "transform", "output"];
const SOURCE_KEYS: &[&str] = &["redis"];
const REDIS_KEYS: &[&str] = &[
    "key_pattern",
    "trigger",
    "exclude_commands",
    "row_format",
    "propagate_expired",
];
/// Keys renamed in RDI 0.105, old name first.
const RENAMED_KEYS: &[(&str, &str)] = &[
    ("keyspace", "redis"),
    ("pattern", "key_pattern"),
    ("exclude-commands", "exclude_commands"),
];

/// The capture settings of `source.redis`.
struct Source {
    key_pattern: String,
    exclude_commands: Vec<String>,
    row_format: RowFormat,
    propagate_expired: bool,
}

/// Reads a job file named `name`; `connections` are the names `config.yaml` declares, if it could be read.
/// `kinds` are the types of the valid connections.
pub fn job(
    w: &mut Walker,
    name: &str,
    node: &Node,
    connections: Option<&[String]>,
    kinds: &[(String, &'static str)],
) -> Option<Job> {
    if !matches!(node.value, Value::Map(_)) {
        let message = "a job file must be a map with `source`, `output` and optionally `transform`";
        w.problem(node.pos, "", message);
        return None;
    }
    let fields = w.map(node, "")?;
    fields.reject_unknown(w, JOB_KEYS);
    let source = fields
        .required(w, "source")
        .and_then(|node| source(w, node));
    let mut transforms = TransformReader {
        row_format: source
            .as_ref()
            .map_or(RowFormat::DataOnly, |s| s.row_format),
        noted_after: false,
    };
    let blocks = match fields.get("transform") {
        Some(node) => transforms.blocks(w, node),
        None => Some(Vec::new()),
    };
    let mut reader = OutputReader {
        connections,
        noted_after: transforms.noted_after,
        kinds,
        key_pattern: source.as_ref().map(|s| s.key_pattern.clone()),
    };
    let outputs = fields
        .required(w, "output")
        .and_then(|node| reader.outputs(w, node));
    let source = source?;
    Some(Job {
        name: name.to_string(),
        key_pattern: source.key_pattern,
        exclude_commands: source.exclude_commands,
        row_format: source.row_format,
        propagate_expired: source.propagate_expired,
        transforms: blocks?,
        outputs: outputs?,
    })
}

fn source(w: &mut Walker, node: &Node) -> Option<Source> {
    let fields = w.map(node, "source")?;
    check_keys(w, &fields, SOURCE_KEYS);
    if fields.entry("redis").is_none() {
        if let Some(old) = fields.get("keyspace") {
            // Already reported as renamed; its content may hold more renamed keys.
            if let Some(old) = w.map(old, &fields.child("keyspace")) {
                check_keys(w, &old, REDIS_KEYS);
            }
            return None;
        }
    }
    let redis = fields.required(w, "redis")?;
    let redis = w.map(redis, &fields.child("redis"))?;
    check_keys(w, &redis, REDIS_KEYS);
    // With `pattern` present the rename is the problem to fix; a missing `key_pattern` would repeat it.
    let key_pattern = match (redis.entry("key_pattern"), redis.entry("pattern")) {
        (None, Some(_)) => None,
        _ => w.required_string(&redis, "key_pattern"),
    };
    let trigger = redis
        .required(w, "trigger")
        .and_then(|node| w.choice(node, &redis.child("trigger"), &["write-behind"]));
    let exclude_commands = match redis.get("exclude_commands") {
        Some(node) => commands(w, node, &redis.child("exclude_commands")),
        None => Some(Vec::new()),
    };
    // Every key is read before any `?`, so that one bad value does not hide the problems of the next.
    let row_format = match redis.get("row_format") {
        Some(node) => w
            .choice(node, &redis.child("row_format"), &["data_only", "full"])
            .map(|choice| match choice {
                "full" => RowFormat::Full,
                _ => RowFormat::DataOnly,
            }),
        None => Some(RowFormat::DataOnly),
    };
    let propagate_expired = match redis.get("propagate_expired") {
        Some(node) => w
            .choice(node, &redis.child("propagate_expired"), &["true", "false"])
            .map(|choice| choice == "true"),
        None => Some(false),
    };
    trigger?;
    Some(Source {
        key_pattern: key_pattern?,
        exclude_commands: exclude_commands?,
        row_format: row_format?,
        propagate_expired: propagate_expired?,
    })
}

/// Renamed keys name their new spelling; other unknown keys list the allowed ones.
fn check_keys(w: &mut Walker, fields: &Fields, allowed: &[&str]) {
    for (name, key, _) in fields.iter() {
        if let Some((_, new)) = RENAMED_KEYS.iter().find(|(old, _)| *old == name) {
            let message = format!("`{name}` was renamed in RDI 0.105; use `{new}`");
            w.problem(key.pos, &fields.child(name), message);
        } else if !allowed.contains(&name) {
            let message = format!(
                "unknown key `{name}`; expected one of: {}",
                allowed.join(", ")
            );
            w.problem(key.pos, &fields.child(name), message);
        }
    }
}

/// `exclude_commands`: event names that capture sees (see [`events`]), stored lower-case.
fn commands(w: &mut Walker, node: &Node, path: &str) -> Option<Vec<String>> {
    let items = w.seq(node, path)?;
    let commands: Vec<Option<String>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let path = item_path(path, i);
            let expanded = w.text(item, &path)?;
            let name = expanded.text.to_lowercase();
            match events::check(&name, expanded.referenced()) {
                events::Check::Captured => Some(name),
                events::Check::Noted { store, note } => {
                    w.note(item.pos, &path, note);
                    Some(store.to_string())
                }
                events::Check::Refused(message) => {
                    let refused = w.tightened(item.pos, &path, message);
                    (!refused).then_some(name)
                }
            }
        })
        .collect();
    commands.into_iter().collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::super::model::{ColumnMapping, Output, RelationalOutput};
    use super::super::reference::SystemResolver;
    use super::super::yaml::parse;
    use super::*;

    const OUTPUT: &str =
        "output:\n  - uses: relational.write\n    with: {connection: pg, table: t, keys: [id]}\n";

    fn read(yaml: &str) -> (Option<Job>, Vec<String>) {
        let resolver = SystemResolver::default();
        let mut w = Walker::new("jobs/emp.yaml", &resolver);
        let names = ["pg".to_string()];
        let job = job(&mut w, "emp", &parse(yaml).unwrap(), Some(&names), &[]);
        (job, w.problems.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn a_quickstart_job_is_read() {
        let yaml = format!(
            "source:\n  redis:\n    key_pattern: emp:*\n    trigger: write-behind\n    \
             exclude_commands: [\"JSON.DEL\", hdel]\n    row_format: full\n    propagate_expired: true\n\
             transform: []\n{OUTPUT}"
        );
        let (job, problems) = read(&yaml);
        assert!(problems.is_empty(), "{problems:?}");
        let expected = Job {
            name: "emp".into(),
            key_pattern: "emp:*".into(),
            exclude_commands: vec!["json.del".into(), "hdel".into()],
            row_format: RowFormat::Full,
            propagate_expired: true,
            transforms: vec![],
            outputs: vec![Output::Relational(RelationalOutput {
                connection: "pg".into(),
                schema: None,
                table: "t".into(),
                keys: vec![ColumnMapping::field("id", "id")],
                mapping: vec![],
                foreach: None,
                opcode_field: None,
                load_strategy: Default::default(),
            })],
        };
        assert_eq!(job, Some(expected));
    }

    #[test]
    fn row_format_defaults_to_data_only() {
        let yaml =
            format!("source:\n  redis: {{key_pattern: 'a:*', trigger: write-behind}}\n{OUTPUT}");
        let (job, problems) = read(&yaml);
        assert!(problems.is_empty(), "{problems:?}");
        let job = job.unwrap();
        assert_eq!(job.row_format, RowFormat::DataOnly);
        assert!(job.exclude_commands.is_empty());
    }

    #[test]
    fn keys_renamed_in_rdi_0_105_name_the_new_key() {
        let yaml = format!(
            "source:\n  keyspace:\n    pattern: emp:*\n    exclude-commands: [hdel]\n{OUTPUT}"
        );
        let (job, problems) = read(&yaml);
        assert_eq!(job, None);
        assert_eq!(
            problems,
            [
                "jobs/emp.yaml:2:3: source.keyspace: `keyspace` was renamed in RDI 0.105; use `redis`",
                "jobs/emp.yaml:3:5: source.keyspace.pattern: `pattern` was renamed in RDI 0.105; use `key_pattern`",
                "jobs/emp.yaml:4:5: source.keyspace.exclude-commands: `exclude-commands` was renamed in RDI 0.105; \
                 use `exclude_commands`",
            ]
        );
        let yaml =
            format!("source:\n  redis:\n    pattern: emp:*\n    trigger: write-behind\n{OUTPUT}");
        let (_, problems) = read(&yaml);
        assert_eq!(
            problems,
            ["jobs/emp.yaml:3:5: source.redis.pattern: `pattern` was renamed in RDI 0.105; use `key_pattern`"]
        );
    }

    #[test]
    fn every_source_problem_is_reported_at_once() {
        let yaml = "source:\n  redis:\n    trigger: write-through\n    row_format: raw\n    \
                    exclude_commands: hdel\n    keys: x\n    propagate_expired: yes\n\
                    transform:\n  - uses: filter\nextra: 1\n";
        let (job, problems) = read(yaml);
        assert_eq!(job, None);
        assert_eq!(
            problems,
            [
                "jobs/emp.yaml:10:1: extra: unknown key `extra`; expected one of: source, transform, output",
                "jobs/emp.yaml:6:5: source.redis.keys: unknown key `keys`; expected one of: key_pattern, \
                 trigger, exclude_commands, row_format, propagate_expired",
                "jobs/emp.yaml:3:5: source.redis: missing required key `key_pattern`",
                "jobs/emp.yaml:3:14: source.redis.trigger: must be `write-behind`, not `write-through`",
                "jobs/emp.yaml:5:23: source.redis.exclude_commands: must be a list",
                "jobs/emp.yaml:4:17: source.redis.row_format: must be one of: data_only, full, not `raw`",
                "jobs/emp.yaml:7:24: source.redis.propagate_expired: must be one of: true, false, not `yes`",
                "jobs/emp.yaml:9:5: transform[0]: missing required key `with`",
                "jobs/emp.yaml:1:1: missing required key `output`",
            ]
        );
    }

    #[test]
    fn a_job_file_must_be_a_map() {
        let (_, problems) = read("- source\n");
        assert_eq!(
            problems,
            ["jobs/emp.yaml:1:1: a job file must be a map with `source`, `output` and optionally `transform`"]
        );
    }

    #[test]
    fn exclude_commands_accepts_the_spec_events_that_change_nothing_with_a_note() {
        let yaml = format!(
            "source:\n  redis:\n    key_pattern: emp:*\n    trigger: write-behind\n    \
             exclude_commands: [evicted, EXPIRE, persist, loaded, json.forget]\n{OUTPUT}"
        );
        let resolver = SystemResolver::default();
        let mut w = Walker::new("jobs/emp.yaml", &resolver);
        let names = ["pg".to_string()];
        let job = job(&mut w, "emp", &parse(&yaml).unwrap(), Some(&names), &[]).unwrap();
        assert!(w.problems.is_empty(), "{:?}", w.problems);
        assert_eq!(
            job.exclude_commands,
            ["evicted", "expire", "persist", "loaded", "json.del"]
        );
        let at = |column: usize, path: usize, message: &str| {
            format!("jobs/emp.yaml:5:{column}: source.redis.exclude_commands[{path}]: {message}")
        };
        let never =
            |name: &str| format!("`{name}` is never captured, so excluding it changes nothing");
        assert_eq!(
            w.notes[..5],
            [
                at(24, 0, &never("evicted")),
                at(33, 1, &never("expire")),
                at(41, 2, &never("persist")),
                at(50, 3, &never("loaded")),
                at(
                    58,
                    4,
                    "`json.forget` arrives as the event `json.del`, which JSON.DEL sends too: both \
                     are excluded"
                ),
            ]
        );
    }

    #[test]
    fn exclude_commands_must_name_events_that_capture_sees() {
        let yaml = format!(
            "source:\n  redis:\n    key_pattern: emp:*\n    trigger: write-behind\n    \
             exclude_commands: [HDEL, json.arrpop, unlink, hmset, rename, hdell, expire, new]\n{OUTPUT}"
        );
        let (job, problems) = read(&yaml);
        assert_eq!(job, None);
        let at = |column: usize, path: usize, message: &str| {
            format!("jobs/emp.yaml:5:{column}: source.redis.exclude_commands[{path}]: {message}")
        };
        assert_eq!(
            problems,
            [
                at(
                    43,
                    2,
                    "`unlink` is captured as the event `del`; write `del`"
                ),
                at(
                    51,
                    3,
                    "`hmset` is captured as the event `hset`; write `hset`"
                ),
                at(
                    58,
                    4,
                    "`rename` is captured as the events `rename_from` and `rename_to`; write those"
                ),
                at(
                    66,
                    5,
                    &format!(
                        "unknown event `hdell`; expected one of: {}",
                        events::CAPTURED.join(", ")
                    )
                ),
                at(
                    81,
                    7,
                    "`new` only marks a created key and is never captured alone; exclude the \
                     write event (`hset`, `json.set`) instead"
                ),
            ]
        );
    }
}
