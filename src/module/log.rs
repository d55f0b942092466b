//! The server log, through `redis-module` with the message made safe for it.
//!
//! `redis-module` (2.0) passes a message to `RedisModule_Log` as its printf *format*: a `%` in it
//! (a file path, a YAML value, a target's error text quoted in a message) reads arguments that were
//! never passed, and `%s` or `%n` crashes the server. It also panics on a NUL. Every log line of
//! the module goes through here: `%` doubled, NUL written as a space. A test fails on a call of the
//! crate's log methods anywhere else in `src/`.

use redis_module::Context;

/// Logs `message` at the notice level.
pub fn notice(ctx: &Context, message: &str) {
    ctx.log_notice(&printable(message));
}

/// Logs `message` at the warning level.
pub fn warning(ctx: &Context, message: &str) {
    ctx.log_warning(&printable(message));
}

/// `message` as a format that prints exactly it.
fn printable(message: &str) -> String {
    message.replace('%', "%%").replace('\0', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_signs_are_doubled_and_nul_is_a_space() {
        assert_eq!(
            printable("rdi: ${file:/tmp/p%s%n} 100% \0x"),
            "rdi: ${file:/tmp/p%%s%%n} 100%%  x"
        );
        assert_eq!(printable("plain"), "plain");
    }

    #[test]
    fn the_crate_s_log_methods_are_called_only_here() {
        let mut calls = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.ends_with("module/log.rs")
                {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for (n, line) in text.lines().enumerate() {
                        if ["log_notice(", "log_warning(", "log_verbose(", "log_debug("]
                            .iter()
                            .any(|m| {
                                line.contains(&format!(".{m}")) || line.contains(&format!("::{m}"))
                            })
                        {
                            calls.push(format!("{}:{}: {line}", path.display(), n + 1));
                        }
                    }
                }
            }
        }
        assert!(
            calls.is_empty(),
            "log through module::log instead: {calls:#?}"
        );
    }
}
