//! A target that accepts connections and never answers (a stopped or hung server, whose kernel still
//! completes the TCP handshake): every writer must give up within its timeouts with a transient error,
//! never hold its thread until the server comes back. Test-only: its `mod` line carries #[cfg(test)].
//! Oracle is left out: its client library bounds the connect itself, and is not installed here.

use crate::config::{Connection, SqlServerConnection};
use crate::writer::WriteError;
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// A listening socket that never accepts: the kernel completes handshakes into its backlog.
fn silent() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

#[allow(dead_code)]
fn sql(port: u16, args: &[(&str, &str)]) -> SqlServerConnection {
    SqlServerConnection {
        host: "127.0.0.1".into(),
        port,
        database: "d".into(),
        user: "u".into(),
        password: Some("secret-pw".into()),
        connect_args: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        query_args: BTreeMap::new(),
    }
}

/// Connects on another thread; fails the test if no answer came within `bound`.
fn gives_up(conn: Connection, bound: Duration) -> (Duration, String) {
    let (tx, rx) = std::sync::mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        let _ = tx.send(super::connect(&conn).err());
    });
    match rx.recv_timeout(bound) {
        Ok(Some(WriteError::Transient(m))) => (started.elapsed(), m),
        Ok(other) => panic!("expected a transient error, got {other:?}"),
        Err(_) => panic!("the writer still waited after {bound:?}"),
    }
}

#[cfg(feature = "postgres")]
#[test]
fn postgresql_gives_up_after_connect_timeout() {
    let (_listener, port) = silent();
    let conn = sql(port, &[("connect_timeout", "1")]);
    let (took, message) = gives_up(Connection::Postgresql(conn), Duration::from_secs(8));
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert_eq!(
        message,
        "cannot connect: postgresql: no answer within 1 s (connect_timeout)"
    );
}

#[cfg(feature = "mysql")]
#[test]
fn mysql_gives_up_after_read_timeout() {
    let (_listener, port) = silent();
    let conn = sql(port, &[("connect_timeout", "1"), ("read_timeout", "1")]);
    let (_, message) = gives_up(Connection::Mysql(conn), Duration::from_secs(8));
    assert_eq!(
        message,
        "cannot connect: mysql: no answer within the connection's read_timeout or write_timeout"
    );
}

#[cfg(feature = "sqlserver")]
#[test]
fn sqlserver_gives_up_after_connect_timeout() {
    let (_listener, port) = silent();
    let conn = sql(port, &[("connect_timeout", "1"), ("encrypt", "off")]);
    let (_, message) = gives_up(Connection::Sqlserver(conn), Duration::from_secs(8));
    assert!(
        message.starts_with("cannot connect: sqlserver"),
        "{message}"
    );
    assert!(!message.contains("secret-pw"), "{message}");
}

#[cfg(feature = "cassandra")]
#[test]
fn cassandra_gives_up_after_connect_timeout() {
    let (_listener, port) = silent();
    let conn = crate::config::CassandraConnection {
        hosts: vec!["127.0.0.1".into()],
        port,
        user: None,
        password: None,
        connect_args: [("connect_timeout".to_string(), "1".to_string())]
            .into_iter()
            .collect(),
    };
    let (_, message) = gives_up(Connection::Cassandra(conn), Duration::from_secs(8));
    assert_eq!(
        message,
        "cannot connect: cassandra: no answer within 1 s (connect_timeout)"
    );
}

#[cfg(feature = "redis-target")]
#[test]
fn redis_gives_up_after_its_timeout_even_when_authenticating() {
    let (_listener, port) = silent();
    let conn = crate::config::RedisConnection {
        host: "127.0.0.1".into(),
        port,
        user: Some("writer".into()),
        password: Some("secret-pw".into()),
        key: None,
        key_password: None,
        cert: None,
        cacert: None,
    };
    let (took, message) = gives_up(Connection::Redis(conn), Duration::from_secs(20));
    assert!(took >= Duration::from_secs(9), "{took:?}");
    assert!(!message.contains("secret-pw"), "{message}");
}
