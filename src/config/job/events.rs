//! The keyspace events `exclude_commands` may name: the ones capture really sees (SPEC §3.1, the
//! events `src/module/capture.rs` classifies), and what to write instead for a command name or an
//! event that never reaches a job.

/// Events that become entries of a job's queue, as Redis and RedisJSON name them.
pub const CAPTURED: &[&str] = &[
    "hset",
    "hincrby",
    "hincrbyfloat",
    "hdel",
    "hexpired",
    "del",
    "expired",
    "rename_from",
    "rename_to",
    "move_from",
    "move_to",
    "copy_to",
    "restore",
    "json.set",
    "json.mset",
    "json.merge",
    "json.del",
    "json.numincrby",
    "json.nummultby",
    "json.strappend",
    "json.toggle",
    "json.arrappend",
    "json.arrinsert",
    "json.arrpop",
    "json.arrtrim",
    "json.clear",
];

/// Commands whose changes arrive as other events.
const ARRIVES_AS: &[(&str, &[&str])] = &[
    ("hmset", &["hset"]),
    ("hsetnx", &["hset"]),
    ("hgetdel", &["hdel"]),
    ("unlink", &["del"]),
    ("getdel", &["del"]),
    ("json.forget", &["json.del"]),
    ("rename", &["rename_from", "rename_to"]),
    ("renamenx", &["rename_from", "rename_to"]),
    ("move", &["move_from", "move_to"]),
    ("copy", &["copy_to"]),
];

/// Events Redis sends that no job captures, so that excluding them changes nothing.
const NEVER_CAPTURED: &[&str] = &[
    "expire", "persist", "evicted", "set", "hpexpire", "hexpire", "hpersist", "loaded",
];

/// What is wrong with `name` (lower-case) as an entry of `exclude_commands`; `None` when it is a
/// captured event. A `referenced` name came from a `${...}` reference and is not shown.
pub fn problem(name: &str, referenced: bool) -> Option<String> {
    if CAPTURED.contains(&name) {
        return None;
    }
    let shown = if referenced {
        "the value of the reference".to_string()
    } else {
        format!("`{name}`")
    };
    if let Some((_, events)) = ARRIVES_AS.iter().find(|(command, _)| *command == name) {
        return Some(match events {
            [one] => format!("{shown} is captured as the event `{one}`; write `{one}`"),
            _ => {
                let list: Vec<String> = events.iter().map(|e| format!("`{e}`")).collect();
                format!(
                    "{shown} is captured as the events {}; write those",
                    list.join(" and ")
                )
            }
        });
    }
    if name == "new" {
        return Some(format!(
            "{shown} only marks a created key and is never captured alone; exclude the write \
             event (`hset`, `json.set`) instead"
        ));
    }
    if NEVER_CAPTURED.contains(&name) {
        return Some(format!(
            "{shown} is never captured, so excluding it changes nothing; remove it"
        ));
    }
    let shown = if referenced {
        " (the reference resolved to something else)".to_string()
    } else {
        format!(" `{name}`")
    };
    Some(format!(
        "unknown event{shown}; expected one of: {}",
        CAPTURED.join(", ")
    ))
}
