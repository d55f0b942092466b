//! One SQL target of a test, whichever database it is: PostgreSQL, MariaDB or a SQLite file. Creates
//! a fresh database with the test's tables, gives the config.yaml and jobs that write to it, and
//! reads its rows back as text.

use crate::mariadb_server::MariaServer;
use crate::postgres_server::PgServer;
use crate::sqlite_target;
use crate::yaml::{
    mariadb_config, pg_config, relational_job, sqlite_config, MARIADB_CONNECTION, PG_CONNECTION,
    SQLITE_CONNECTION,
};
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

/// Which database a [`Target`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    Postgres,
    MariaDb,
    Sqlite,
}

/// A fresh database of one test, on the process's shared server (or in a file of its own).
pub struct Target {
    inner: Inner,
    config: String,
}

enum Inner {
    Pg(Box<postgres::Client>),
    Maria(&'static MariaServer, String),
    /// The file, in a directory removed with it.
    Sqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
}

impl Target {
    /// Database `db` (letters, digits and `_`) holding the tables of `ddl` (statements separated
    /// by `;`), and a config.yaml with one connection to it and `applier` lines.
    pub fn create(kind: TargetKind, db: &str, ddl: &str, applier: &[&str]) -> Target {
        match kind {
            TargetKind::Postgres => {
                let pg = PgServer::shared();
                let db = pg.create_database(db);
                let mut client = pg.client(&db);
                client
                    .batch_execute(ddl)
                    .unwrap_or_else(|e| panic!("{ddl}: {e}"));
                Target {
                    config: pg_config(pg, &db, applier),
                    inner: Inner::Pg(Box::new(client)),
                }
            }
            TargetKind::MariaDb => {
                let maria = MariaServer::shared();
                let db = maria.create_database(db);
                maria.query(&db, ddl);
                Target {
                    config: mariadb_config(maria, &db, applier),
                    inner: Inner::Maria(maria, db),
                }
            }
            TargetKind::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join(format!("{db}.db"));
                sqlite_target::create(&path, ddl);
                Target {
                    config: sqlite_config(&path, applier),
                    inner: Inner::Sqlite { _dir: dir, path },
                }
            }
        }
    }

    /// The config.yaml to deploy.
    pub fn config(&self) -> &str {
        &self.config
    }

    /// The name of its connection in [`Target::config`].
    pub fn connection(&self) -> &'static str {
        match self.inner {
            Inner::Pg(_) => PG_CONNECTION,
            Inner::Maria(..) => MARIADB_CONNECTION,
            Inner::Sqlite { .. } => SQLITE_CONNECTION,
        }
    }

    /// The schema its jobs name (`public` in PostgreSQL; none elsewhere).
    pub fn schema(&self) -> Option<&'static str> {
        match self.inner {
            Inner::Pg(_) => Some("public"),
            _ => None,
        }
    }

    /// A write-behind job on `pattern` writing `table` of this target (see `yaml::relational_job`).
    pub fn job(&self, pattern: &str, table: &str, keys: &[&str], mapping: &[&str]) -> String {
        relational_job(
            pattern,
            self.connection(),
            self.schema(),
            table,
            keys,
            mapping,
        )
    }

    /// The rows of `sql`, each value as text (`None` for NULL).
    pub fn rows(&mut self, sql: &str) -> Vec<Vec<Option<String>>> {
        match &mut self.inner {
            Inner::Pg(client) => client
                .simple_query(sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .into_iter()
                .filter_map(|message| match message {
                    postgres::SimpleQueryMessage::Row(row) => Some(
                        (0..row.len())
                            .map(|i| row.get(i).map(str::to_string))
                            .collect(),
                    ),
                    _ => None,
                })
                .collect(),
            // The client prints NULL for a null; the tests hold no such text.
            Inner::Maria(maria, db) => maria
                .query(db, sql)
                .into_iter()
                .map(|row| {
                    row.into_iter()
                        .map(|v| (v != "NULL").then_some(v))
                        .collect()
                })
                .collect(),
            Inner::Sqlite { path, .. } => sqlite_target::rows(path, sql),
        }
    }

    /// The one integer `sql` answers (`SELECT count(*) ...`).
    pub fn count(&mut self, sql: &str) -> i64 {
        let rows = self.rows(sql);
        rows.first()
            .and_then(|row| row.first().cloned().flatten())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{sql}: not one integer: {rows:?}"))
    }

    /// Interrupts the writers' work on this target: closes their connections (PostgreSQL,
    /// MariaDB), or holds the SQLite file's write lock for `hold` on a thread of its own (returned,
    /// to be joined).
    pub fn interrupt(&mut self, hold: Duration) -> Option<JoinHandle<()>> {
        match &mut self.inner {
            Inner::Pg(client) => {
                client
                    .simple_query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE datname = current_database() AND pid <> pg_backend_pid()",
                    )
                    .unwrap_or_else(|e| panic!("terminate the writers' backends: {e}"));
                None
            }
            Inner::Maria(maria, db) => {
                let sql = format!(
                    "SELECT id FROM information_schema.processlist \
                     WHERE db = '{db}' AND id <> CONNECTION_ID()"
                );
                for row in maria.query(db, &sql) {
                    // A connection may have ended meanwhile.
                    let _ = maria.try_query(db, &format!("KILL CONNECTION {}", row[0]));
                }
                None
            }
            Inner::Sqlite { path, .. } => {
                let lock = crate::sqlite_target::lock(path, hold);
                Some(std::thread::spawn(move || {
                    lock.wait();
                }))
            }
        }
    }

    /// SQL counting the tables named `table` in this target's database.
    pub fn tables_named_sql(&self, table: &str) -> String {
        match &self.inner {
            Inner::Pg(_) => format!(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = '{table}'"
            ),
            Inner::Maria(_, db) => format!(
                "SELECT count(*) FROM information_schema.tables \
                 WHERE table_name = '{table}' AND table_schema = '{db}'"
            ),
            Inner::Sqlite { .. } => {
                format!("SELECT count(*) FROM sqlite_master WHERE name = '{table}'")
            }
        }
    }
}
