//! Every way a `redis-di` run can fail, each rendered as the one-line reason printed on stderr.

use std::path::PathBuf;

/// A failure of a `redis-di` command; the process exits non-zero with its `Display` on stderr.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The server could not be reached or the login failed.
    #[error(
        "cannot connect to {address}: {source}{}",
        connect_hint(address, source)
    )]
    Connect {
        /// `host:port` as given.
        address: String,
        /// The client library's error.
        #[source]
        source: redis::RedisError,
    },
    /// A TLS file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    WriteFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server answered with an error (the text as the server gave it).
    #[error("{0}")]
    Server(String),
    /// The connection broke or the reply could not be read.
    #[error("lost the connection: {0}")]
    Io(#[source] redis::RedisError),
    /// The module is not loaded into this server.
    #[error("{0} (is the rdi module loaded, and recent enough?)")]
    NoModule(String),
    /// A deploy was refused; the problems were printed one per line before.
    #[error("{0}")]
    Deploy(String),
    /// The user asked for something that cannot be done as asked.
    #[error("{0}")]
    Usage(String),
    /// Output (stdout) or a local socket failed.
    #[error("{0}")]
    Local(#[source] std::io::Error),
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Local(e)
    }
}

/// What to change after a failed connection, when the error says enough to tell.
fn connect_hint(address: &str, e: &redis::RedisError) -> &'static str {
    let text = e.to_string();
    if e.is_connection_refusal() || text.contains("Connection refused") {
        if address.ends_with(":6379") {
            " (is Redis running there? `make run`'s server is on port 6390: --rdi-port 6390)"
        } else {
            " (is Redis running there?)"
        }
    } else if text.contains("NOAUTH") {
        " (the server requires a password: give --rdi-password, or set RDI_PASSWORD)"
    } else {
        ""
    }
}

/// The server's error text as it sent it (`CODE detail`), not the client library's wording.
pub fn server_text(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_string(),
        _ => e.to_string(),
    }
}

/// Sorts a command failure into "the server said no" and "the connection failed".
pub fn from_command(command: &str, e: redis::RedisError) -> CliError {
    if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() {
        return CliError::Io(e);
    }
    let text = server_text(&e);
    if text.contains("unknown command") {
        // The server quotes the arguments it was sent (a deploy's YAML, passwords written out): cut.
        let text = text
            .split_once(", with args beginning with")
            .map_or(text.as_str(), |(head, _)| head);
        return CliError::NoModule(format!("{command}: {text}").trim_end().to_string());
    }
    CliError::Server(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_keep_their_code_and_text() {
        let e = redis::RedisError::from((
            redis::ErrorKind::ResponseError,
            "An error was signalled by the server",
            "invalid deployment (1 problem): a".to_string(),
        ));
        assert_eq!(server_text(&e), "ERR invalid deployment (1 problem): a");
    }

    #[test]
    fn unknown_command_means_no_module() {
        let e = redis::RedisError::from((
            redis::ErrorKind::ResponseError,
            "An error was signalled by the server",
            "unknown command 'RDI.METRICS', with args beginning with: ".to_string(),
        ));
        let err = from_command("RDI.METRICS", e);
        assert!(matches!(err, CliError::NoModule(_)), "{err}");
        assert!(err.to_string().contains("RDI.METRICS"));
    }

    #[test]
    fn the_arguments_the_server_quotes_are_not_shown() {
        let e = redis::RedisError::from((
            redis::ErrorKind::ResponseError,
            "An error was signalled by the server",
            "unknown command 'RDI.DEPLOY', with args beginning with: 'CONFIG' 'password: TopSecret' "
                .to_string(),
        ));
        let err = from_command("RDI.DEPLOY", e).to_string();
        assert!(
            !err.contains("TopSecret") && !err.contains("CONFIG"),
            "{err}"
        );
        assert!(err.contains("unknown command 'RDI.DEPLOY'"), "{err}");
    }
}
