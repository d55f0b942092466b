//! `redis.write`: a target Redis through the sync `redis` client (TLS with rustls). Each batch is one
//! MULTI/EXEC; a command that fails inside it rejects its row only (Redis runs the others).

pub mod commands;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod conformance_tests;
mod errors;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tls_tests;

use std::time::Duration;

use redis::{ConnectionLike, Value};

use crate::config::{RedisConnection, RedisDataType};
use crate::writer::{RowChange, TableTarget, WriteError, WriteOutcome, Writer};
pub use errors::{classify, classify_reply};

/// How long connecting and each reply may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The client name the writer's connection carries (`CLIENT LIST` shows it).
pub const CLIENT_NAME: &str = "rdi-writer";

/// A connection to a target Redis.
pub struct RedisWriter {
    con: redis::Connection,
}

/// Opens a writer for a `redis` connection.
pub fn connect(settings: &RedisConnection) -> Result<Box<dyn Writer>, WriteError> {
    Ok(Box::new(RedisWriter::connect(settings)?))
}

impl RedisWriter {
    /// Connects (TLS when `cacert`, `cert` or `key` is set), authenticates and names the client.
    pub fn connect(settings: &RedisConnection) -> Result<RedisWriter, WriteError> {
        let info = redis::ConnectionInfo {
            addr: match settings.tls() {
                true => redis::ConnectionAddr::TcpTls {
                    host: settings.host.clone(),
                    port: settings.port,
                    insecure: false,
                    tls_params: None,
                },
                false => redis::ConnectionAddr::Tcp(settings.host.clone(), settings.port),
            },
            // No credentials here: the client would send AUTH before any read timeout is set, and a
            // server that accepts the connection but never answers would hold the writer thread.
            // AUTH is sent below, bounded like every other command.
            redis: redis::RedisConnectionInfo {
                db: 0,
                username: None,
                password: None,
                protocol: redis::ProtocolVersion::RESP2,
            },
        };
        let client = if settings.tls() {
            redis::Client::build_with_tls(info, certificates(settings)?)
        } else {
            redis::Client::open(info)
        }
        .map_err(|e| {
            WriteError::Schema(format!(
                "redis connection settings: {}",
                errors::describe(&e)
            ))
        })?;
        let mut con = client
            .get_connection_with_timeout(TIMEOUT)
            .map_err(|e| classify(&e))?;
        con.set_read_timeout(Some(TIMEOUT))
            .map_err(|e| classify(&e))?;
        con.set_write_timeout(Some(TIMEOUT))
            .map_err(|e| classify(&e))?;
        if let Some(password) = &settings.password {
            let mut auth = redis::cmd("AUTH");
            if let Some(user) = &settings.user {
                auth.arg(user);
            }
            auth.arg(password)
                .query::<()>(&mut con)
                .map_err(|e| refused_auth(&e))?;
        }
        redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg(CLIENT_NAME)
            .query::<()>(&mut con)
            .map_err(|e| classify(&e))?;
        Ok(RedisWriter { con })
    }
}

/// An error of AUTH: an error reply means the credentials do not fit (a setting to fix), unless the
/// server is only busy for now; anything else is classified as usual.
fn refused_auth(e: &redis::RedisError) -> WriteError {
    match classify(e) {
        WriteError::Batch(m) | WriteError::Unknown(m) => {
            WriteError::Schema(format!("authentication refused: {m}"))
        }
        other => other,
    }
}

/// The TLS files of a connection, read (and the key decrypted with `key_password`).
fn certificates(settings: &RedisConnection) -> Result<redis::TlsCertificates, WriteError> {
    let read = |what: &str, path: &str| {
        std::fs::read(path).map_err(|e| {
            WriteError::Schema(format!(
                "cannot read the `{what}` file {path}: {}",
                e.kind()
            ))
        })
    };
    let root_cert = settings
        .cacert
        .as_deref()
        .map(|p| read("cacert", p))
        .transpose()?;
    let client_tls = match (&settings.cert, &settings.key) {
        (Some(cert), Some(key)) => {
            let mut client_key = read("key", key)?;
            if let Some(pass) = &settings.key_password {
                client_key = decrypt_key(&client_key, pass)?;
            }
            Some(redis::ClientTlsConfig {
                client_cert: read("cert", cert)?,
                client_key,
            })
        }
        _ => None,
    };
    Ok(redis::TlsCertificates {
        client_tls,
        root_cert,
    })
}

/// An encrypted PEM key, decrypted to PKCS#8 PEM (rustls reads no encrypted keys).
fn decrypt_key(pem: &[u8], pass: &str) -> Result<Vec<u8>, WriteError> {
    openssl::pkey::PKey::private_key_from_pem_passphrase(pem, pass.as_bytes())
        .and_then(|k| k.private_key_to_pem_pkcs8())
        .map_err(|_| WriteError::Schema("cannot decrypt the `key` file with `key_password`".into()))
}

impl Writer for RedisWriter {
    fn check(&mut self, target: &TableTarget) -> Result<(), WriteError> {
        redis::cmd("PING")
            .query::<String>(&mut self.con)
            .map_err(|e| classify(&e))?;
        let Some(shape) = target.redis else {
            return Err(WriteError::Schema(format!(
                "{} is a table; a redis connection takes redis.write outputs only",
                target.display_name()
            )));
        };
        if shape.data_type == RedisDataType::Json {
            let info: Value = redis::cmd("COMMAND")
                .arg("INFO")
                .arg("JSON.SET")
                .arg("JSON.MERGE")
                .query(&mut self.con)
                .map_err(|e| classify(&e))?;
            let found =
                matches!(&info, Value::Array(items) if items.iter().all(|i| *i != Value::Nil));
            if !found {
                return Err(WriteError::Schema(
                    "the target Redis has no JSON.SET / JSON.MERGE: load the RedisJSON module there \
                     (data_type json)"
                        .into(),
                ));
            }
        }
        Ok(())
    }

    fn write(&mut self, rows: &[RowChange]) -> Result<WriteOutcome, WriteError> {
        let mut outcome = WriteOutcome::default();
        let mut pipe = redis::pipe();
        pipe.cmd("MULTI");
        // The row of each queued command.
        let mut owners: Vec<usize> = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            match commands::commands(row) {
                Ok(cmds) => {
                    for cmd in cmds {
                        pipe.add_command(cmd);
                        owners.push(i);
                    }
                }
                Err(reason) => outcome.rejected.push((i, reason)),
            }
        }
        if owners.is_empty() {
            return Ok(outcome);
        }
        pipe.cmd("EXEC");
        let packed = pipe.get_packed_pipeline();
        let replies = self
            .con
            .req_packed_commands(&packed, owners.len() + 1, 1)
            .map_err(|e| classify(&e))?;
        let results = match replies.into_iter().next() {
            Some(Value::Array(results)) if results.len() == owners.len() => results,
            Some(Value::ServerError(e)) => return Err(classify_reply(e.code(), e.details())),
            _ => return Err(WriteError::Transient("EXEC gave no results".into())),
        };
        for (j, result) in results.iter().enumerate() {
            if let Value::ServerError(e) = result {
                let row = owners[j];
                if outcome.rejected.iter().any(|(r, _)| *r == row) {
                    continue;
                }
                let name = commands::words(&rows[row])
                    .ok()
                    .and_then(|w| {
                        w.get(j - first(&owners, row))
                            .and_then(|c| c.first().cloned())
                    })
                    .map_or_else(String::new, |(name, _)| format!("{name}: "));
                outcome.rejected.push((
                    row,
                    format!("{name}{}", errors::reply_text(e.code(), e.details())),
                ));
            }
        }
        outcome.rejected.sort_by_key(|(i, _)| *i);
        Ok(outcome)
    }

    fn statement(&self, row: &RowChange) -> String {
        commands::statement(row)
    }
}

/// The index of the first command of `row`.
fn first(owners: &[usize], row: usize) -> usize {
    owners.iter().position(|o| *o == row).unwrap_or(0)
}
