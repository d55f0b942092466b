//! The YAML the tests deploy: config.yaml for a PostgreSQL or SQLite target, and relational jobs.

use crate::mariadb_server::MariaServer;
use crate::postgres_server::PgServer;
use std::path::Path;

/// The password put in every PostgreSQL connection (the servers trust, so any value works); tests
/// check that it never appears in a reply.
pub const PG_PASSWORD: &str = "pw-never-shown-7f3a";

/// The name of the PostgreSQL connection in [`pg_config`].
pub const PG_CONNECTION: &str = "pg";
/// The name of the MariaDB connection in [`mariadb_config`].
pub const MARIADB_CONNECTION: &str = "maria";
/// The name of the SQLite connection in [`sqlite_config`].
pub const SQLITE_CONNECTION: &str = "lite";

/// config.yaml with one PostgreSQL connection named `pg` to database `db`, and `applier` lines (each
/// `key: value`) such as `on_failed_retry_interval: 1`.
pub fn pg_config(pg: &PgServer, db: &str, applier: &[&str]) -> String {
    let mut yaml = format!(
        "connections:\n  {PG_CONNECTION}:\n    type: postgresql\n    host: 127.0.0.1\n    port: {}\n    \
         database: {db}\n    user: postgres\n    password: {PG_PASSWORD}\n",
        pg.port()
    );
    push_applier(&mut yaml, applier);
    yaml
}

/// config.yaml with one MariaDB connection named `maria` to database `db` (user `root`, no password).
pub fn mariadb_config(maria: &MariaServer, db: &str, applier: &[&str]) -> String {
    let mut yaml = format!(
        "connections:\n  {MARIADB_CONNECTION}:\n    type: mariadb\n    host: 127.0.0.1\n    port: {}\n    \
         database: {db}\n    user: root\n",
        maria.port()
    );
    push_applier(&mut yaml, applier);
    yaml
}

/// config.yaml with one SQLite connection named `lite` at `path`.
pub fn sqlite_config(path: &Path, applier: &[&str]) -> String {
    let mut yaml = format!(
        "connections:\n  {SQLITE_CONNECTION}:\n    type: sqlite\n    path: {}\n",
        path.display()
    );
    push_applier(&mut yaml, applier);
    yaml
}

fn push_applier(yaml: &mut String, applier: &[&str]) {
    if !applier.is_empty() {
        yaml.push_str("applier:\n");
        for line in applier {
            yaml.push_str(&format!("  {line}\n"));
        }
    }
}

/// A write-behind job on `pattern` writing table `public.<table>` of connection `pg`. Items of `keys`
/// and `mapping` are YAML list items as written: `name`, or `full_name: name` for a renaming column.
pub fn pg_job(pattern: &str, table: &str, keys: &[&str], mapping: &[&str]) -> String {
    relational_job(pattern, PG_CONNECTION, Some("public"), table, keys, mapping)
}

/// A write-behind job on `pattern` writing table `<table>` of connection `lite`.
pub fn sqlite_job(pattern: &str, table: &str, keys: &[&str], mapping: &[&str]) -> String {
    relational_job(pattern, SQLITE_CONNECTION, None, table, keys, mapping)
}

/// A write-behind job with one `relational.write` output.
pub fn relational_job(
    pattern: &str,
    connection: &str,
    schema: Option<&str>,
    table: &str,
    keys: &[&str],
    mapping: &[&str],
) -> String {
    let mut yaml = format!(
        "source:\n  redis:\n    key_pattern: \"{pattern}\"\n    trigger: write-behind\noutput:\n  \
         - uses: relational.write\n    with:\n      connection: {connection}\n"
    );
    if let Some(schema) = schema {
        yaml.push_str(&format!("      schema: {schema}\n"));
    }
    yaml.push_str(&format!("      table: {table}\n      keys:\n"));
    for key in keys {
        yaml.push_str(&format!("        - {key}\n"));
    }
    if !mapping.is_empty() {
        yaml.push_str("      mapping:\n");
        for column in mapping {
            yaml.push_str(&format!("        - {column}\n"));
        }
    }
    yaml
}
