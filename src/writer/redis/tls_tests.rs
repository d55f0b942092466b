//! TLS to a real Redis with certificates the test generates: a client certificate is accepted, an
//! encrypted client key opens with `key_password`, and a CA that did not sign the server's certificate
//! fails with a schema error (the deploy fails instead of warning that the target is unreachable).
//! Test-only: its `mod` line carries #[cfg(test)].

use std::process::Child;
use std::time::{Duration, Instant};

use super::tests::TestRedis;
use super::*;
use crate::config::RedisConnection;
use crate::writer::relational::test_certs;

/// Kills the server by PID on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn settings(port: u16, certs: &test_certs::Certs, ca: &str) -> RedisConnection {
    RedisConnection {
        host: "127.0.0.1".into(),
        port,
        user: None,
        password: None,
        key: Some(certs.path("client.key")),
        key_password: None,
        cert: Some(certs.path("client.pem")),
        cacert: Some(certs.path(ca)),
    }
}

#[test]
fn tls_with_a_client_certificate_works_and_a_wrong_ca_is_a_schema_error() {
    let certs = test_certs::generate();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = [
        "--tls-port",
        &port.to_string(),
        "--tls-cert-file",
        &certs.path("server.pem"),
        "--tls-key-file",
        &certs.path("server.key"),
        "--tls-ca-cert-file",
        &certs.path("ca.pem"),
        "--tls-auth-clients",
        "yes",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // The plain port is 0: only TLS listens.
    let _server = Server(TestRedis::spawn_with(0, dir.path(), &args));
    let good = settings(port, &certs, "ca.pem");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut writer = loop {
        match RedisWriter::connect(&good) {
            Ok(w) => break w,
            Err(e) if Instant::now() > deadline => panic!("TLS redis did not start: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let t = std::sync::Arc::new(TableTarget {
        schema: None,
        table: "k".into(),
        keys: vec!["key".into()],
        columns: vec!["key".into(), "value".into()],
        redis: Some(crate::writer::RedisShape {
            data_type: RedisDataType::String,
            on_update: crate::config::OnUpdate::Replace,
            expire: 0,
        }),
    });
    writer.check(&t).unwrap();
    let row = RowChange {
        target: t,
        op: crate::writer::RowOp::Upsert,
        values: vec![serde_json::json!("tls:1"), serde_json::json!("v")],
    };
    assert_eq!(writer.write(&[row]).unwrap(), WriteOutcome::default());

    let err = RedisWriter::connect(&settings(port, &certs, "other-ca.pem"))
        .err()
        .expect("a wrong CA is refused");
    assert!(matches!(err, WriteError::Schema(_)), "{err}");
    assert!(err.to_string().contains("TLS"), "{err}");

    // An encrypted client key opens with its passphrase, and not without.
    let out = std::process::Command::new("openssl")
        .args([
            "pkey",
            "-in",
            &certs.path("client.key"),
            "-aes256",
            "-passout",
            "pass:kp-4411",
        ])
        .args(["-out", &certs.path("client-enc.key")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut encrypted = good.clone();
    encrypted.key = Some(certs.path("client-enc.key"));
    encrypted.key_password = Some("kp-4411".into());
    RedisWriter::connect(&encrypted).unwrap();
    encrypted.key_password = Some("wrong-kp".into());
    let err = RedisWriter::connect(&encrypted)
        .err()
        .expect("wrong passphrase");
    assert_eq!(
        err.to_string(),
        "target misconfigured: cannot decrypt the `key` file with `key_password`"
    );

    let mut missing = good.clone();
    missing.cacert = Some(certs.path("no-such-file.pem"));
    let err = RedisWriter::connect(&missing).err().expect("missing file");
    assert!(
        err.to_string().contains("cannot read the `cacert` file"),
        "{err}"
    );
}
