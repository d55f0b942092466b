//! `configure` and `upgrade`: the steps of RDI's quickstart that install or upgrade its engine. Here the
//! engine is the module loaded into Redis, so they check that it is loaded and say what to do.

use std::io::Write;

use redis::Value;
use serde_json::json;

use crate::client::Rdi;
use crate::error::CliError;
use crate::reply;

/// The module's name in `MODULE LIST`.
const MODULE_NAME: &str = "rdi";

/// The `ver` of the loaded rdi module, from `MODULE LIST`; an error naming what to do when it is not
/// loaded.
fn loaded_version(rdi: &mut Rdi) -> Result<i64, CliError> {
    let list = rdi.call(&["MODULE", "LIST"])?;
    module_version(&list).ok_or_else(|| {
        CliError::Usage(
            "the rdi module is not loaded in this server: start it with \
             `--loadmodule /path/to/librdi.so` (or `MODULE LOAD /path/to/librdi.so`), then run this again"
                .into(),
        )
    })
}

/// Finds the rdi module's version in a `MODULE LIST` reply (RESP2 pairs or RESP3 maps).
fn module_version(list: &Value) -> Option<i64> {
    let Value::Array(modules) = list else {
        return None;
    };
    modules.iter().find_map(|m| {
        let pairs: Vec<(String, &Value)> = match m {
            Value::Array(items) => items
                .chunks(2)
                .filter_map(|kv| Some((reply::text(kv.first()?), kv.get(1)?)))
                .collect(),
            Value::Map(items) => items.iter().map(|(k, v)| (reply::text(k), v)).collect(),
            _ => return None,
        };
        let name = pairs.iter().find(|(k, _)| k == "name")?.1;
        if reply::text(name) != MODULE_NAME {
            return None;
        }
        match pairs.iter().find(|(k, _)| k == "ver")?.1 {
            Value::Int(v) => Some(*v),
            other => reply::text(other).parse().ok(),
        }
    })
}

fn out(text: &str) -> Result<(), CliError> {
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(())
}

/// `configure`: RDI's CLI installs its engine into the database; the module is that engine.
pub fn configure(rdi: &mut Rdi, json: bool) -> Result<(), CliError> {
    let version = loaded_version(rdi)?;
    if json {
        return out(&format!(
            "{:#}\n",
            json!({"module": MODULE_NAME, "version": version, "configured": true})
        ));
    }
    out(&format!(
        "the rdi module (version {version}) is loaded: the engine runs inside this server, nothing to install.\n\
         next: `redis-di scaffold --db-type <type> --dir <folder>`, edit config.yaml, then `redis-di deploy --dir <folder>`\n"
    ))
}

/// `upgrade`: the module is a shared library; a new build is loaded by a restart, one node at a time.
pub fn upgrade(rdi: &mut Rdi, json: bool) -> Result<(), CliError> {
    let version = loaded_version(rdi)?;
    let cli = env!("CARGO_PKG_VERSION");
    if json {
        return out(&format!(
            "{:#}\n",
            json!({"module": MODULE_NAME, "version": version, "cli_version": cli})
        ));
    }
    out(&format!(
        "this server runs the rdi module version {version} (redis-di {cli}).\n\
         to upgrade: replace librdi.so on disk, then restart the servers one at a time, replicas first, then\n\
         fail over (FAILOVER, or your orchestrator) and restart the old primary. The deployment and the queued\n\
         changes are in the keyspace, so each server resumes where it stopped: nothing queued is lost.\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn finds_the_rdi_module_in_module_list_replies() {
        let resp2 = Value::Array(vec![
            Value::Array(vec![
                bulk("name"),
                bulk("ReJSON"),
                bulk("ver"),
                Value::Int(20809),
            ]),
            Value::Array(vec![bulk("name"), bulk("rdi"), bulk("ver"), Value::Int(1)]),
        ]);
        assert_eq!(module_version(&resp2), Some(1));
        let resp3 = Value::Array(vec![Value::Map(vec![
            (bulk("name"), bulk("rdi")),
            (bulk("ver"), Value::Int(3)),
        ])]);
        assert_eq!(module_version(&resp3), Some(3));
        let other = Value::Array(vec![Value::Array(vec![
            bulk("name"),
            bulk("ReJSON"),
            bulk("ver"),
            Value::Int(1),
        ])]);
        assert_eq!(module_version(&other), None);
    }
}
