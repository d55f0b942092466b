//! `RDI.STATUS` read into typed structs (RESP2 flat key/value arrays or RESP3 maps alike).

use redis::Value;
use std::collections::HashMap;

/// The whole `RDI.STATUS` reply.
#[derive(Clone, Debug)]
pub struct Status {
    /// `RUNNING`, `STOPPED` or `NOT DEPLOYED`.
    pub engine: String,
    /// `primary` or `replica`.
    pub role: String,
    /// Connections by name.
    pub connections: HashMap<String, ConnectionStatus>,
    /// Jobs by name.
    pub jobs: HashMap<String, JobStatus>,
    /// Warnings, as text.
    pub warnings: Vec<String>,
    /// The reply rendered as text, for messages and for "never shows a secret" checks.
    pub raw: String,
}

/// One connection in `RDI.STATUS`.
#[derive(Clone, Debug)]
pub struct ConnectionStatus {
    /// `postgresql`, `sqlite`...
    pub kind: String,
    /// Host and port, or the SQLite path.
    pub location: String,
    /// The host name (absent for SQLite).
    pub host: Option<String>,
    /// The port (absent for SQLite).
    pub port: Option<i64>,
    /// The database name when there is one.
    pub database: Option<String>,
    /// `ok`, `error` or `unknown`.
    pub health: String,
    /// The last error, when there was one.
    pub last_error: Option<String>,
}

/// One job in `RDI.STATUS`.
#[derive(Clone, Debug)]
pub struct JobStatus {
    /// The job's `source.redis.key_pattern`.
    pub key_pattern: String,
    /// Changes queued and not yet written or rejected.
    pub pending: i64,
    /// Rows inserted (`c` changes written).
    pub inserted: i64,
    /// Rows updated (`u` changes written).
    pub updated: i64,
    /// Rows deleted.
    pub deleted: i64,
    /// Records rejected (conversion errors and the like).
    pub rejected: i64,
    /// Age of the oldest pending change, in ms (0 when none).
    pub lag_ms: i64,
    /// The last error, when there was one.
    pub last_error: Option<String>,
    /// When the last error happened (Unix ms), when there was one.
    pub last_error_time_ms: Option<i64>,
    /// Retries of the current failing batch.
    pub retry_attempts: i64,
    /// Time until the next attempt while the writer backs off (0 when it is not retrying).
    pub next_retry_in_ms: i64,
}

impl Status {
    /// Sends `RDI.STATUS` and parses the reply; panics when the reply does not have the agreed shape.
    pub fn query(connection: &mut redis::Connection) -> Status {
        let value: Value = redis::cmd("RDI.STATUS")
            .query(connection)
            .unwrap_or_else(|e| panic!("RDI.STATUS: {}", crate::commands::error_text(&e)));
        Status::parse(&value)
    }

    /// Parses a reply of `RDI.STATUS`.
    pub fn parse(value: &Value) -> Status {
        let raw = render(value);
        let top = fields(value, "RDI.STATUS", &raw);
        let connections = match top.get("connections") {
            Some(v) => pairs(v, "connections", &raw)
                .into_iter()
                .map(|(name, v)| (name, ConnectionStatus::parse(v, &raw)))
                .collect(),
            None => HashMap::new(),
        };
        let jobs = match top.get("jobs") {
            Some(v) => pairs(v, "jobs", &raw)
                .into_iter()
                .map(|(name, v)| (name, JobStatus::parse(v, &raw)))
                .collect(),
            None => HashMap::new(),
        };
        let warnings = match top.get("warnings") {
            Some(Value::Array(items)) | Some(Value::Set(items)) => {
                items.iter().map(render).collect()
            }
            Some(Value::Nil) | None => Vec::new(),
            Some(other) => vec![render(other)],
        };
        Status {
            engine: required_text(&top, "engine", &raw),
            role: required_text(&top, "role", &raw),
            connections,
            jobs,
            warnings,
            raw,
        }
    }

    /// The job `name`; panics with the whole reply when it is not there.
    pub fn job(&self, name: &str) -> &JobStatus {
        self.jobs
            .get(name)
            .unwrap_or_else(|| panic!("no job {name:?} in RDI.STATUS: {}", self.raw))
    }

    /// The connection `name`; panics with the whole reply when it is not there.
    pub fn connection(&self, name: &str) -> &ConnectionStatus {
        self.connections
            .get(name)
            .unwrap_or_else(|| panic!("no connection {name:?} in RDI.STATUS: {}", self.raw))
    }
}

impl ConnectionStatus {
    fn parse(value: &Value, raw: &str) -> ConnectionStatus {
        let f = fields(value, "connection", raw);
        ConnectionStatus {
            kind: required_text(&f, "type", raw),
            location: required_text(&f, "location", raw),
            host: f.get("host").and_then(|v| text(v)),
            port: f.get("port").and_then(|v| match v {
                Value::Int(n) => Some(*n),
                _ => None,
            }),
            database: f.get("database").and_then(|v| text(v)),
            health: required_text(&f, "health", raw),
            last_error: f
                .get("last_error")
                .and_then(|v| text(v))
                .filter(|s| !s.is_empty()),
        }
    }
}

impl JobStatus {
    fn parse(value: &Value, raw: &str) -> JobStatus {
        let f = fields(value, "job", raw);
        let int = |name: &str| {
            f.get(name)
                .and_then(|v| integer(v))
                .unwrap_or_else(|| panic!("job field {name:?} missing or not an integer: {raw}"))
        };
        JobStatus {
            key_pattern: required_text(&f, "key_pattern", raw),
            pending: int("pending"),
            inserted: int("inserted"),
            updated: int("updated"),
            deleted: int("deleted"),
            rejected: int("rejected"),
            lag_ms: int("lag_ms"),
            last_error: f
                .get("last_error")
                .and_then(|v| text(v))
                .filter(|s| !s.is_empty()),
            last_error_time_ms: f
                .get("last_error_time_ms")
                .and_then(|v| integer(v))
                .filter(|t| *t > 0),
            retry_attempts: int("retry_attempts"),
            next_retry_in_ms: int("next_retry_in_ms"),
        }
    }

    /// Rows written so far (inserted + updated + deleted).
    pub fn written(&self) -> i64 {
        self.inserted + self.updated + self.deleted
    }
}

/// The key/value pairs of a map reply (RESP3 map or RESP2 flat array); panics naming `what` otherwise.
pub fn pairs<'a>(value: &'a Value, what: &str, raw: &str) -> Vec<(String, &'a Value)> {
    match value {
        Value::Map(entries) => entries.iter().map(|(k, v)| (render(k), v)).collect(),
        Value::Array(items) if items.len() % 2 == 0 => {
            items.chunks(2).map(|kv| (render(&kv[0]), &kv[1])).collect()
        }
        other => panic!("{what} is not a map but {}: {raw}", render(other)),
    }
}

fn fields<'a>(value: &'a Value, what: &str, raw: &str) -> HashMap<String, &'a Value> {
    pairs(value, what, raw).into_iter().collect()
}

fn required_text(fields: &HashMap<String, &Value>, name: &str, raw: &str) -> String {
    fields
        .get(name)
        .and_then(|v| text(v))
        .unwrap_or_else(|| panic!("field {name:?} missing or not text: {raw}"))
}

/// A string-like reply as text; `None` for nil and non-strings.
pub fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Okay => Some("OK".into()),
        _ => None,
    }
}

/// An integer reply (or a string or double holding one).
pub fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Int(i) => Some(*i),
        Value::Double(d) => Some(*d as i64),
        other => text(other).and_then(|s| s.trim().parse().ok()),
    }
}

/// A reply rendered as compact text: `{a: 1, b: [x, y]}`, `nil`, strings unquoted.
pub fn render(value: &Value) -> String {
    let list = |items: &[Value]| items.iter().map(render).collect::<Vec<_>>().join(", ");
    match value {
        Value::Nil => "nil".into(),
        Value::Int(i) => i.to_string(),
        Value::Double(d) => d.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Array(items) | Value::Set(items) => format!("[{}]", list(items)),
        Value::Map(entries) => {
            let inner: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}: {}", render(k), render(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
        other => text(other).unwrap_or_else(|| format!("{other:?}")),
    }
}
