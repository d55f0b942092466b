//! The connection to the Redis server that runs the module: address, ACL login, TLS, RESP3.

use std::time::Duration;

use redis::{
    ClientTlsConfig, ConnectionAddr, ConnectionInfo, ProtocolVersion, RedisConnectionInfo,
    TlsCertificates, Value,
};

use crate::args::ConnectionArgs;
use crate::error::{self, CliError};

/// How long connecting (TCP, TLS, HELLO) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An open connection to the module's server.
pub struct Rdi {
    conn: redis::Connection,
}

impl Rdi {
    /// Connects and logs in (RESP3, so maps arrive as maps; RESP2 flat arrays are read as well).
    pub fn connect(args: &ConnectionArgs) -> Result<Rdi, CliError> {
        let address = format!("{}:{}", args.rdi_host, args.rdi_port);
        let connect_err = |source| CliError::Connect {
            address: address.clone(),
            source,
        };
        let client = client(args).map_err(|e| match e {
            ClientError::Redis(source) => connect_err(source),
            ClientError::Cli(e) => e,
        })?;
        let conn = client
            .get_connection_with_timeout(CONNECT_TIMEOUT)
            .map_err(connect_err)?;
        // Replies may take long on purpose (RDI.WAIT, RDI.TRACE, a deploy checking its targets).
        conn.set_read_timeout(None).map_err(connect_err)?;
        Ok(Rdi { conn })
    }

    /// Sends one command and returns its reply; a server error becomes [`CliError::Server`].
    pub fn call(&mut self, args: &[&str]) -> Result<Value, CliError> {
        let Some((name, rest)) = args.split_first() else {
            return Err(CliError::Usage("empty command".into()));
        };
        let mut cmd = redis::cmd(name);
        for a in rest {
            cmd.arg(*a);
        }
        cmd.query::<Value>(&mut self.conn)
            .map_err(|e| error::from_command(name, e))
            .and_then(|v| match v {
                // RESP3 may deliver an error nested as a value rather than as the reply's error.
                Value::ServerError(e) => Err(CliError::Server(
                    format!("{} {}", e.code(), e.details().unwrap_or_default())
                        .trim_end()
                        .to_string(),
                )),
                v => Ok(v),
            })
    }

    /// Sends a command given as owned strings.
    pub fn call_owned(&mut self, args: &[String]) -> Result<Value, CliError> {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.call(&refs)
    }
}

enum ClientError {
    Redis(redis::RedisError),
    Cli(CliError),
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|source| {
        ClientError::Cli(CliError::ReadFile {
            path: path.to_path_buf(),
            source,
        })
    })
}

fn client(args: &ConnectionArgs) -> Result<redis::Client, ClientError> {
    let redis = RedisConnectionInfo {
        db: 0,
        username: args.rdi_user.clone(),
        password: args.rdi_password.clone(),
        protocol: ProtocolVersion::RESP3,
    };
    if !args.tls {
        if args.tls_ca.is_some() || args.tls_cert.is_some() {
            return Err(ClientError::Cli(CliError::Usage(
                "--tls-ca, --tls-cert and --tls-key need --tls".into(),
            )));
        }
        let info = ConnectionInfo {
            addr: ConnectionAddr::Tcp(args.rdi_host.clone(), args.rdi_port),
            redis,
        };
        return redis::Client::open(info).map_err(ClientError::Redis);
    }
    let info = ConnectionInfo {
        addr: ConnectionAddr::TcpTls {
            host: args.rdi_host.clone(),
            port: args.rdi_port,
            insecure: false,
            tls_params: None,
        },
        redis,
    };
    let client_tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(ClientTlsConfig {
            client_cert: read(cert)?,
            client_key: read(key)?,
        }),
        _ => None,
    };
    let root_cert = args.tls_ca.as_deref().map(read).transpose()?;
    redis::Client::build_with_tls(
        info,
        TlsCertificates {
            client_tls,
            root_cert,
        },
    )
    .map_err(ClientError::Redis)
}
