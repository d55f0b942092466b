//! The commands that send one RDI command and print its reply: jobs, rejected records, trace,
//! start/stop, wait, secrets, undeploy.

use std::io::{IsTerminal, Read, Write};

use serde_json::Value as Json;

use crate::client::Rdi;
use crate::error::CliError;
use crate::reply::{self, field, number, Shape};
use crate::table::{duration_ms, timestamp_ms, Table};

/// Prints `value` as pretty JSON or as the text `human` makes of it.
fn print(json: bool, value: &Json, human: impl FnOnce(&Json) -> String) -> Result<(), CliError> {
    let text = if json {
        format!("{value:#}\n")
    } else {
        human(value)
    };
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(())
}

/// Sends `args`, converts the reply following `shape` and prints it.
pub fn show(
    rdi: &mut Rdi,
    args: &[String],
    shape: Shape,
    json: bool,
    human: impl FnOnce(&Json) -> String,
) -> Result<(), CliError> {
    let value = reply::to_json(&rdi.call_owned(args)?, shape);
    print(json, &value, human)
}

/// A list field as `a, b`.
fn list(obj: &Json, name: &str) -> String {
    match obj.get(name) {
        Some(Json::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|i| i.as_str().map_or(i.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(", "),
        _ => field(obj, name),
    }
}

/// `list-jobs`.
pub fn render_jobs(value: &Json) -> String {
    let items = value.as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return "no jobs deployed\n".into();
    }
    let mut t = Table::new(&["JOB", "PATTERN", "PENDING", "OUTPUTS"]);
    for j in &items {
        t.row(vec![
            field(j, "name"),
            field(j, "key_pattern"),
            number(j, "pending").to_string(),
            list(j, "outputs"),
        ]);
    }
    t.render()
}

/// Fields `describe-job` shows first, in this order; the others follow as the server sent them.
const JOB_FIRST: &[&str] = &["name", "key_pattern", "outputs", "pending", "lag_ms"];

/// `describe-job`: the fields, then the YAML as deployed.
pub fn render_job(value: &Json) -> String {
    let mut out = String::new();
    let Some(obj) = value.as_object() else {
        return format!("{value}\n");
    };
    let first = JOB_FIRST.iter().filter_map(|k| obj.get_key_value(*k));
    let rest = obj.iter().filter(|(k, _)| !JOB_FIRST.contains(&k.as_str()));
    for (k, v) in first.chain(rest) {
        match (k.as_str(), v) {
            ("yaml", _) => {}
            ("outputs", _) => out.push_str(&format!("{k}: {}\n", list(value, k))),
            ("lag_ms", _) => out.push_str(&format!("lag: {}\n", duration_ms(number(value, k)))),
            ("last_error_time_ms", _) => out.push_str(&format!(
                "last_error_time: {}\n",
                timestamp_ms(number(value, k))
            )),
            (_, Json::Object(_)) => out.push_str(&format!("{k}: {v}\n")),
            _ => out.push_str(&format!("{k}: {}\n", field(value, k))),
        }
    }
    if let Some(yaml) = value.get("yaml").and_then(Json::as_str) {
        out.push_str("\n--- as deployed ---\n");
        out.push_str(yaml);
        if !yaml.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// `get-rejected`.
pub fn render_rejected(value: &Json) -> String {
    let items = value.as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return "no rejected records\n".into();
    }
    let mut t = Table::new(&["TIME (UTC)", "JOB", "KEY", "OP", "OUTPUT", "REASON", "ID"]);
    for r in &items {
        t.row(vec![
            timestamp_ms(number(r, "time_ms")),
            field(r, "job"),
            field(r, "key"),
            field(r, "opcode"),
            field(r, "output"),
            field(r, "reason"),
            field(r, "id"),
        ]);
    }
    t.render()
}

/// `trace`: one block per record.
pub fn render_trace(value: &Json) -> String {
    let items = value.as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return "no records passed while tracing\n".into();
    }
    let mut out = String::new();
    for r in &items {
        let took = number(r, "took_us");
        out.push_str(&format!(
            "{} {} op={} outcome={} took={} us\n",
            field(r, "job"),
            field(r, "key"),
            field(r, "opcode"),
            field(r, "outcome"),
            took
        ));
        for part in ["before", "after", "statement"] {
            out.push_str(&format!("  {part:<10} {}\n", field(r, part)));
        }
    }
    out
}

/// `wait`.
pub fn render_wait(value: &Json) -> String {
    let (written, rejected) = (number(value, "written"), number(value, "rejected"));
    if written == 0 && rejected == 0 {
        // The writers had already applied everything: not "0 written", which reads like a failure.
        return "up to date: nothing was waiting to be written when the call arrived\n".into();
    }
    format!(
        "up to date: every change captured before the call was applied ({written} written, {rejected} rejected while waiting)\n"
    )
}

/// A command whose reply is `OK`: prints `message` (or the reply as JSON).
pub fn simple(rdi: &mut Rdi, args: &[String], json: bool, message: &str) -> Result<(), CliError> {
    let value = reply::to_json(&rdi.call_owned(args)?, Shape::Any);
    print(json, &value, |_| format!("{message}\n"))
}

/// `set-secret`: the value from the argument, or from stdin (one line, newline trimmed).
pub fn set_secret(
    rdi: &mut Rdi,
    name: &str,
    value: Option<String>,
    json: bool,
) -> Result<(), CliError> {
    let value = read_secret(name, value)?;
    let args = ["RDI.SET-SECRET".to_string(), name.to_string(), value];
    // The value is never echoed, not even in JSON mode.
    simple(rdi, &args, json, &format!("secret `{name}` stored"))
}

/// The value of a secret: the argument, or stdin when absent or `-` (at a terminal: one line typed
/// after a prompt, not echoed; otherwise all of it, less one final newline); never empty.
pub fn read_secret(name: &str, value: Option<String>) -> Result<String, CliError> {
    let value = match value {
        Some(v) if v != "-" => v,
        _ => {
            let mut text = String::new();
            if std::io::stdin().is_terminal() {
                eprint!("value of secret `{name}` (not shown; end with Enter): ");
                let hidden = stty("-echo");
                let read = std::io::stdin().read_line(&mut text);
                if hidden {
                    stty("echo");
                }
                eprintln!();
                read?;
            } else {
                std::io::stdin().read_to_string(&mut text)?;
            }
            text.strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(&text)
                .to_string()
        }
    };
    if value.is_empty() {
        return Err(CliError::Usage(format!(
            "the value of secret `{name}` is empty"
        )));
    }
    Ok(value)
}

/// Sets a terminal mode of stdin with `stty` (no unsafe code here for termios); whether it worked.
fn stty(mode: &str) -> bool {
    std::process::Command::new("stty")
        .arg(mode)
        .stdin(std::process::Stdio::inherit())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jobs_list_as_a_table() {
        let text = render_jobs(
            &json!([{"name": "emp", "key_pattern": "emp:*", "pending": 3,
                                        "outputs": ["relational.write -> emp (target)"]}]),
        );
        assert_eq!(
            text,
            "JOB  PATTERN  PENDING  OUTPUTS\nemp  emp:*    3        relational.write -> emp (target)\n"
        );
        assert_eq!(render_jobs(&json!([])), "no jobs deployed\n");
    }

    #[test]
    fn a_job_shows_fields_then_yaml() {
        let text = render_job(
            &json!({"batches": 1, "key_pattern": "emp:*", "last_error": null, "lag_ms": 2500,
                    "name": "emp", "outputs": ["a", "b"], "yaml": "source: {}"}),
        );
        assert_eq!(
            text,
            "name: emp\nkey_pattern: emp:*\noutputs: a, b\nlag: 2.5 s\nbatches: 1\nlast_error: -\n\n--- as deployed ---\nsource: {}\n"
        );
    }

    #[test]
    fn rejected_records_show_time_key_and_reason() {
        let text = render_rejected(
            &json!([{"id": "1-0", "job": "emp", "key": "emp:1", "opcode": "c",
            "reason": "column age: text does not convert to integer", "output": "emp", "time_ms": 1000}]),
        );
        assert!(
            text.contains("1970-01-01 00:00:01  emp  emp:1  c   emp"),
            "{text}"
        );
        assert!(
            text.contains("column age: text does not convert to integer  1-0"),
            "{text}"
        );
        assert_eq!(render_rejected(&json!([])), "no rejected records\n");
    }

    #[test]
    fn trace_records_show_before_after_and_statement() {
        let text = render_trace(&json!([{"job": "emp", "key": "emp:1", "opcode": "u",
            "before": {"a": "1"}, "after": {"a": "1"}, "statement": "UPDATE emp SET a = ?",
            "outcome": "written", "took_us": 420}]));
        assert_eq!(
            text,
            "emp emp:1 op=u outcome=written took=420 us\n  before     {\"a\":\"1\"}\n  after      {\"a\":\"1\"}\n  statement  UPDATE emp SET a = ?\n"
        );
    }

    #[test]
    fn wait_reports_counts() {
        assert_eq!(
            render_wait(&json!({"written": 2, "rejected": 1})),
            "up to date: every change captured before the call was applied (2 written, 1 rejected while waiting)\n"
        );
        assert_eq!(
            render_wait(&json!({"written": 0, "rejected": 0})),
            "up to date: nothing was waiting to be written when the call arrived\n"
        );
    }
}
