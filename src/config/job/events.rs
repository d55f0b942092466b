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
    ("rename", &["rename_from", "rename_to"]),
    ("renamenx", &["rename_from", "rename_to"]),
    ("move", &["move_from", "move_to"]),
    ("copy", &["copy_to"]),
];

/// Events Redis sends that no job captures, so that excluding them changes nothing. SPEC §3.1 lists
/// `expire`, `persist`, `evicted` and `loaded` among the events `exclude_commands` may name.
const NEVER_CAPTURED: &[&str] = &[
    "expire", "persist", "evicted", "set", "hpexpire", "hexpire", "hpersist", "loaded",
];

/// What `exclude_commands` makes of one (lower-case) name.
#[derive(Debug, PartialEq)]
pub enum Check {
    /// An event capture sees: excluded as written.
    Captured,
    /// Accepted with a note for the deploy reply; `store` is the event it excludes.
    Noted { store: &'static str, note: String },
    /// Refused: the message says what to write instead.
    Refused(String),
}

/// What `name` (lower-case) is as an entry of `exclude_commands`. A `referenced` name came from a
/// `${...}` reference and is not shown.
pub fn check(name: &str, referenced: bool) -> Check {
    if CAPTURED.contains(&name) {
        return Check::Captured;
    }
    let shown = if referenced {
        "the value of the reference".to_string()
    } else {
        format!("`{name}`")
    };
    if name == "json.forget" {
        // SPEC §3.1 names it with `json.del`: RedisJSON sends `json.del` for both commands.
        return Check::Noted {
            store: "json.del",
            note: format!(
                "{shown} arrives as the event `json.del`, which JSON.DEL sends too: both are excluded"
            ),
        };
    }
    if let Some(never) = NEVER_CAPTURED.iter().find(|n| **n == name) {
        return Check::Noted {
            store: never,
            note: format!("{shown} is never captured, so excluding it changes nothing"),
        };
    }
    if let Some((_, events)) = ARRIVES_AS.iter().find(|(command, _)| *command == name) {
        return Check::Refused(match events {
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
        return Check::Refused(format!(
            "{shown} only marks a created key and is never captured alone; exclude the write \
             event (`hset`, `json.set`) instead"
        ));
    }
    let shown = if referenced {
        " (the reference resolved to something else)".to_string()
    } else {
        format!(" `{name}`")
    };
    Check::Refused(format!(
        "unknown event{shown}; expected one of: {}",
        CAPTURED.join(", ")
    ))
}
