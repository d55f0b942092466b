//! Which Redis errors are transient (retry the batch), which mean the target does not fit (retry, say
//! so loudly) and which belong to what the batch holds.

use crate::writer::WriteError;

/// Error codes of a server that is busy, loading, failing over or read-only for now.
const TRANSIENT_CODES: &[&str] = &[
    "LOADING",
    "READONLY",
    "BUSY",
    "TRYAGAIN",
    "MASTERDOWN",
    "CLUSTERDOWN",
    "NOREPLICAS",
    "OOM",
    "MISCONF",
];
/// Error codes of a target that refuses this client: credentials or rights.
const SCHEMA_CODES: &[&str] = &["NOAUTH", "WRONGPASS", "NOPERM"];

/// The class of an error reply `code` (`WRONGTYPE`, `LOADING`...) with its `detail`.
pub fn classify_reply(code: &str, detail: Option<&str>) -> WriteError {
    let text = reply_text(code, detail);
    let unknown_command = code == "ERR" && detail.is_some_and(|d| d.starts_with("unknown command"));
    if TRANSIENT_CODES.contains(&code) {
        WriteError::Transient(text)
    } else if SCHEMA_CODES.contains(&code) || unknown_command {
        WriteError::Schema(text)
    } else {
        WriteError::Batch(text)
    }
}

/// `CODE detail`, as the server said it (Redis error replies hold no values of the request).
pub fn reply_text(code: &str, detail: Option<&str>) -> String {
    match detail {
        Some(d) if !d.is_empty() => format!("{code} {}", d.trim()),
        _ => code.to_string(),
    }
}

/// The class of a client error: connection trouble is transient; refused credentials, bad TLS files
/// and certificates the client does not trust mean the target does not fit; error replies by code.
pub fn classify(e: &redis::RedisError) -> WriteError {
    use redis::ErrorKind;
    let text = describe(e);
    let tls = text.contains("certificate") || text.contains("Certificate") || text.contains("TLS");
    match e.kind() {
        ErrorKind::AuthenticationFailed | ErrorKind::InvalidClientConfig => {
            WriteError::Schema(text)
        }
        _ if tls => WriteError::Schema(format!("TLS: {text}")),
        _ if e.is_io_error()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_timeout() =>
        {
            WriteError::Transient(text)
        }
        ErrorKind::ResponseError
        | ErrorKind::ExecAbortError
        | ErrorKind::BusyLoadingError
        | ErrorKind::TryAgain
        | ErrorKind::ClusterDown
        | ErrorKind::MasterDown
        | ErrorKind::ReadOnly
        | ErrorKind::ExtensionError => classify_reply(e.code().unwrap_or("ERR"), e.detail()),
        _ => WriteError::Transient(text),
    }
}

/// The error's text: the client's description, without anything sent.
pub fn describe(e: &redis::RedisError) -> String {
    e.to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn error_replies_are_classified_by_code() {
        let class = |code: &str, detail: &str| match classify_reply(code, Some(detail)) {
            WriteError::Transient(_) => "transient",
            WriteError::Schema(_) => "schema",
            WriteError::Batch(_) => "batch",
            WriteError::Unknown(_) => "unknown",
        };
        assert_eq!(
            class("LOADING", "Redis is loading the dataset in memory"),
            "transient"
        );
        assert_eq!(
            class("READONLY", "You can't write against a read only replica."),
            "transient"
        );
        assert_eq!(
            class("BUSY", "Redis is busy running a script."),
            "transient"
        );
        assert_eq!(
            class("TRYAGAIN", "Multiple keys request during rehashing of slot"),
            "transient"
        );
        assert_eq!(
            class("OOM", "command not allowed when used memory > 'maxmemory'."),
            "transient"
        );
        assert_eq!(
            class("WRONGPASS", "invalid username-password pair"),
            "schema"
        );
        assert_eq!(class("NOPERM", "this user has no permissions"), "schema");
        assert_eq!(
            class(
                "ERR",
                "unknown command 'JSON.SET', with args beginning with:"
            ),
            "schema"
        );
        assert_eq!(
            class(
                "WRONGTYPE",
                "Operation against a key holding the wrong kind of value"
            ),
            "batch"
        );
        assert_eq!(
            class(
                "EXECABORT",
                "Transaction discarded because of previous errors."
            ),
            "batch"
        );
        assert_eq!(class("ERR", "value is not a valid float"), "batch");
        assert_eq!(reply_text("WRONGTYPE", None), "WRONGTYPE");
    }

    #[test]
    fn client_errors_split_connection_trouble_from_misconfiguration() {
        let io =
            redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(matches!(classify(&io), WriteError::Transient(_)));
        let auth = redis::RedisError::from((
            redis::ErrorKind::AuthenticationFailed,
            "Password authentication failed",
        ));
        assert!(matches!(classify(&auth), WriteError::Schema(_)));
        let loading = redis::RedisError::from((
            redis::ErrorKind::BusyLoadingError,
            "loading",
            "x".to_string(),
        ));
        assert!(matches!(classify(&loading), WriteError::Transient(_)));
        let wrong = redis::RedisError::from((
            redis::ErrorKind::ExtensionError,
            "WRONGTYPE",
            "Operation against a key holding the wrong kind of value".to_string(),
        ));
        assert!(matches!(classify(&wrong), WriteError::Batch(_)));
    }
}
