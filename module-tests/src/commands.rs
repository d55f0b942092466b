//! The module's commands as the tests call them: `RDI.DEPLOY`, `RDI.WAIT`, and reading error replies.

use crate::status::{integer, pairs, render, text};
use redis::Value;
use std::collections::HashMap;

/// The `RDI.WAIT` timeout used when a test just needs the queue drained.
pub const DRAIN_TIMEOUT_MS: u64 = 30_000;

/// An error reply as the server sent it: `<CODE> <detail>` (for example `ERR config.yaml:4:5: ...`).
pub fn error_text(error: &redis::RedisError) -> String {
    match (error.code(), error.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_string(),
        _ => error.to_string(),
    }
}

/// Sends `RDI.DEPLOY CONFIG <config> [JOB <name> <yaml>]...`: the notes of an `OK` reply, or the error
/// reply's text.
pub fn deploy(
    connection: &mut redis::Connection,
    config: &str,
    jobs: &[(&str, &str)],
) -> Result<Vec<String>, String> {
    let mut command = redis::cmd("RDI.DEPLOY");
    command.arg("CONFIG").arg(config);
    for (name, yaml) in jobs {
        command.arg("JOB").arg(*name).arg(*yaml);
    }
    let reply: Value = command.query(connection).map_err(|e| error_text(&e))?;
    match &reply {
        Value::Okay => Ok(Vec::new()),
        Value::SimpleString(s) if s == "OK" => Ok(Vec::new()),
        Value::Array(items) if items.first().and_then(text).as_deref() == Some("OK") => {
            Ok(items[1..].iter().map(render).collect())
        }
        other => panic!(
            "RDI.DEPLOY replied neither OK nor an error: {}",
            render(other)
        ),
    }
}

/// [`deploy`] that must succeed; returns the notes.
pub fn deploy_ok(
    connection: &mut redis::Connection,
    config: &str,
    jobs: &[(&str, &str)],
) -> Vec<String> {
    deploy(connection, config, jobs).unwrap_or_else(|e| panic!("RDI.DEPLOY failed: {e}"))
}

/// [`deploy`] that must fail; returns the error text.
pub fn deploy_err(
    connection: &mut redis::Connection,
    config: &str,
    jobs: &[(&str, &str)],
) -> String {
    match deploy(connection, config, jobs) {
        Ok(notes) => panic!("RDI.DEPLOY succeeded (notes {notes:?}) but an error was expected"),
        Err(e) => e,
    }
}

/// The reply of `RDI.WAIT`: changes written and rejected while waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitReply {
    /// Changes that reached their target.
    pub written: i64,
    /// Changes that were rejected.
    pub rejected: i64,
}

/// Sends `RDI.WAIT <timeout_ms>`: the counts, or the error text (`TIMEOUT ...` when time ran out).
pub fn rdi_wait(connection: &mut redis::Connection, timeout_ms: u64) -> Result<WaitReply, String> {
    let reply: Value = redis::cmd("RDI.WAIT")
        .arg(timeout_ms)
        .query(connection)
        .map_err(|e| error_text(&e))?;
    let raw = render(&reply);
    let fields: HashMap<String, &Value> = pairs(&reply, "RDI.WAIT", &raw).into_iter().collect();
    let count = |name: &str| {
        fields
            .get(name)
            .and_then(|v| integer(v))
            .unwrap_or_else(|| panic!("RDI.WAIT reply lacks {name:?}: {raw}"))
    };
    Ok(WaitReply {
        written: count("written"),
        rejected: count("rejected"),
    })
}

/// Waits until every change captured so far reached its target or was rejected; on timeout panics
/// with the error and the current `RDI.STATUS`.
pub fn drain(connection: &mut redis::Connection) -> WaitReply {
    drain_within(connection, DRAIN_TIMEOUT_MS)
}

/// [`drain`] with its own `RDI.WAIT` timeout.
pub fn drain_within(connection: &mut redis::Connection, timeout_ms: u64) -> WaitReply {
    rdi_wait(connection, timeout_ms).unwrap_or_else(|e| {
        let status = crate::status::Status::query(connection);
        panic!("RDI.WAIT {timeout_ms}: {e}\nRDI.STATUS: {}", status.raw)
    })
}

/// `RDI.WAIT` that counts every change queued while the writers were stopped. The caller sent
/// `RDI.STOP` before writing them; the wait is sent on `waiter` (a second connection), and `RDI.START`
/// follows only once the server shows it blocked. No change can then be written before the wait
/// began, so its `written` and `rejected` cover all of them. (A plain [`drain`] right after a write
/// can miss a change that a writer took first: RDI.WAIT counts only what was pending when it came.)
pub fn wait_from_stopped(
    control: &mut redis::Connection,
    mut waiter: redis::Connection,
) -> WaitReply {
    let wait = std::thread::spawn(move || rdi_wait(&mut waiter, DRAIN_TIMEOUT_MS));
    crate::wait::wait_until(
        std::time::Duration::from_secs(10),
        "RDI.WAIT is blocked on the server",
        || {
            let info: String = redis::cmd("INFO").arg("clients").query(control).unwrap();
            info.lines().any(|l| {
                l.strip_prefix("blocked_clients:")
                    .is_some_and(|n| n.trim() != "0")
            })
        },
    );
    call(control, &["RDI.START"]);
    wait.join()
        .expect("the RDI.WAIT thread")
        .unwrap_or_else(|e| panic!("RDI.WAIT: {e}"))
}

/// Runs one command given as words (`&["HSET", "emp:1", "id", "1"]`); panics with the error reply.
pub fn call(connection: &mut redis::Connection, words: &[&str]) -> Value {
    let mut command = redis::cmd(words[0]);
    for word in &words[1..] {
        command.arg(*word);
    }
    command
        .query(connection)
        .unwrap_or_else(|e| panic!("{}: {}", words.join(" "), error_text(&e)))
}
