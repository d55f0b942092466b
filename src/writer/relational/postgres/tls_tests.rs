//! PostgreSQL over TLS with certificates the test generates: verify-full works, a wrong CA fails clearly.
//! Test-only: its `mod` line carries #[cfg(test)].

use super::test_server::{database_on, sql, PgServer};
use super::tests::{target, up};
use super::*;
use serde_json::json;

#[test]
fn tls_verify_full_with_generated_certificates_and_a_wrong_ca_fails_clearly() {
    let certs = crate::writer::relational::test_certs::generate();
    let server = PgServer::start();
    server.enable_ssl(&certs);
    let mut s = server.admin();
    s.query_args.insert("sslmode".into(), "verify-full".into());
    s.query_args
        .insert("sslrootcert".into(), certs.path("ca.pem"));
    s.query_args
        .insert("sslcert".into(), certs.path("client.pem"));
    s.query_args
        .insert("sslkey".into(), certs.path("client.key"));
    let db = database_on(&s, "tls");
    sql(&db, "CREATE TABLE t (id int PRIMARY KEY)");
    let mut writer = PostgresWriter::connect(&db).unwrap();
    let t = target(None, "t", &["id"], &[]);
    writer.write(&[up(&t, vec![json!(1)])]).unwrap();
    let client = writer.client().unwrap();
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap();
    assert!(row.get::<_, bool>(0), "the connection is not encrypted");
    let mut wrong = (*db).clone();
    wrong
        .query_args
        .insert("sslrootcert".into(), certs.path("other-ca.pem"));
    let err = PostgresWriter::connect(&wrong).err().unwrap();
    assert!(
        matches!(&err, WriteError::Schema(m) if m.starts_with("cannot connect") && m.contains("certificate verify failed")),
        "{err:?}"
    );
}
