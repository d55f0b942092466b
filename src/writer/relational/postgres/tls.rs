//! TLS for PostgreSQL connections, read the way libpq reads `sslmode`, `sslrootcert`, `sslcert` and
//! `sslkey`: `prefer` and `require` encrypt without checking the server (unless `require` is given a
//! root certificate, which makes it `verify-ca`), `verify-ca` checks the chain, `verify-full` also the
//! host name.

use ::openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslVerifyMode};
use ::postgres_openssl::MakeTlsConnector;
use ::tokio_postgres::{CancelToken, Client, Config, NoTls};

use super::session::Connection;

use crate::config::SqlServerConnection;
use crate::writer::WriteError;

/// How a writer opens its connections.
#[derive(Clone)]
pub enum Tls {
    /// `sslmode: disable`: never encrypt.
    Plain,
    /// Encrypt through OpenSSL, verifying as the mode says.
    OpenSsl(MakeTlsConnector),
}

impl Tls {
    /// Opens a connection with `config`: the client, and the connection to drive.
    pub async fn connect(
        &self,
        config: &Config,
    ) -> Result<(Client, Connection), ::tokio_postgres::Error> {
        Ok(match self {
            Tls::Plain => {
                let (client, connection) = config.connect(NoTls).await?;
                (client, Box::pin(connection))
            }
            Tls::OpenSsl(connector) => {
                let (client, connection) = config.connect(connector.clone()).await?;
                (client, Box::pin(connection))
            }
        })
    }

    /// Asks the server to cancel the statement running for `token`'s connection (over a connection
    /// of its own, encrypted as the first was).
    pub async fn cancel(&self, token: &CancelToken) -> Result<(), ::tokio_postgres::Error> {
        match self {
            Tls::Plain => token.cancel_query(NoTls).await,
            Tls::OpenSsl(connector) => token.cancel_query(connector.clone()).await,
        }
    }

    /// A blocking connection with `config`, for tests' own statements.
    #[cfg(test)]
    pub fn connect_blocking(
        &self,
        config: &Config,
    ) -> Result<::postgres::Client, ::postgres::Error> {
        let config = ::postgres::Config::from(config.clone());
        match self {
            Tls::Plain => config.connect(NoTls),
            Tls::OpenSsl(connector) => config.connect(connector.clone()),
        }
    }
}

/// The TLS of a connection's settings (`query_args`, or `connect_args` as a fallback).
pub fn tls(settings: &SqlServerConnection) -> Result<Tls, WriteError> {
    let arg = |key: &str| {
        settings
            .query_args
            .get(key)
            .or_else(|| settings.connect_args.get(key))
            .map(String::as_str)
    };
    let mode = arg("sslmode").unwrap_or("prefer");
    if mode == "disable" {
        return Ok(Tls::Plain);
    }
    let root = arg("sslrootcert");
    let verify = match mode {
        "verify-ca" | "verify-full" => true,
        "require" => root.is_some(),
        _ => false,
    };
    let ssl = |what: &str, e: ::openssl::error::ErrorStack| {
        WriteError::Schema(format!("postgresql TLS: {what}: {e}"))
    };
    let mut builder =
        SslConnector::builder(SslMethod::tls_client()).map_err(|e| ssl("no TLS context", e))?;
    if let Some(root) = root {
        readable("sslrootcert", root)?;
        builder
            .set_ca_file(root)
            .map_err(|e| ssl("`sslrootcert` is not a PEM certificate", e))?;
    }
    match (arg("sslcert"), arg("sslkey")) {
        (Some(cert), Some(key)) => {
            readable("sslcert", cert)?;
            readable("sslkey", key)?;
            builder
                .set_certificate_chain_file(cert)
                .map_err(|e| ssl("`sslcert` is not a PEM certificate", e))?;
            builder
                .set_private_key_file(key, SslFiletype::PEM)
                .map_err(|e| ssl("`sslkey` is not a PEM key for `sslcert`", e))?;
        }
        (None, None) => {}
        _ => {
            return Err(WriteError::Schema(
                "postgresql `sslcert` and `sslkey` go together: give both or neither".into(),
            ))
        }
    }
    builder.set_verify(if verify {
        SslVerifyMode::PEER
    } else {
        SslVerifyMode::NONE
    });
    let mut connector = MakeTlsConnector::new(builder.build());
    if mode != "verify-full" {
        connector.set_callback(|config, _| {
            config.set_verify_hostname(false);
            Ok(())
        });
    }
    Ok(Tls::OpenSsl(connector))
}

/// Whether a driver error is a failed TLS handshake (an unknown CA, a wrong host name): a setting to
/// fix rather than an outage.
pub fn is_handshake_failure(err: &::tokio_postgres::Error) -> bool {
    err.to_string().contains("TLS handshake")
}

fn readable(key: &str, path: &str) -> Result<(), WriteError> {
    std::fs::File::open(path)
        .map(drop)
        .map_err(|e| WriteError::Schema(format!("postgresql `{key}`: cannot read {path}: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn settings(args: &[(&str, &str)]) -> SqlServerConnection {
        SqlServerConnection {
            host: "h".into(),
            port: 5432,
            database: "d".into(),
            user: "u".into(),
            password: None,
            connect_args: BTreeMap::new(),
            query_args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn disable_is_plain_and_other_modes_use_openssl() {
        assert!(matches!(
            tls(&settings(&[("sslmode", "disable")])),
            Ok(Tls::Plain)
        ));
        assert!(matches!(tls(&settings(&[])), Ok(Tls::OpenSsl(_))));
        assert!(matches!(
            tls(&settings(&[("sslmode", "require")])),
            Ok(Tls::OpenSsl(_))
        ));
    }

    #[test]
    fn missing_files_and_a_lone_certificate_are_setting_errors() {
        let err = tls(&settings(&[
            ("sslmode", "verify-full"),
            ("sslrootcert", "/no/ca.pem"),
        ]))
        .err()
        .unwrap();
        assert!(
            matches!(&err, WriteError::Schema(m) if m.starts_with("postgresql `sslrootcert`: cannot read /no/ca.pem")),
            "{err:?}"
        );
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("c.pem");
        std::fs::write(&cert, "not a certificate").unwrap();
        let cert = cert.to_str().unwrap();
        let err = tls(&settings(&[("sslcert", cert)])).err().unwrap();
        assert!(
            matches!(&err, WriteError::Schema(m) if m.contains("go together")),
            "{err:?}"
        );
        let err = tls(&settings(&[("sslrootcert", cert)])).err().unwrap();
        assert!(
            matches!(&err, WriteError::Schema(m) if m.contains("not a PEM")),
            "{err:?}"
        );
    }
}
