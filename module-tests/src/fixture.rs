//! A deployed pipeline ready for a test: Redis with the module, a fresh PostgreSQL database, jobs.

use crate::commands::{self, WaitReply};
use crate::postgres_server::PgServer;
use crate::redis_server::{RedisOpts, RedisServer};
use crate::status::Status;
use crate::yaml;

/// Applier settings every fixture deploys: retry a failing target at least once a second, so tests that
/// stop PostgreSQL do not wait out the default 5 s back-off cap.
pub const FAST_RETRY: &str = "on_failed_retry_interval: 1";

/// Redis started with `opts` and the SQLite job `emp` deployed: keys `emp:*` → table `emp` (`id`
/// INTEGER PRIMARY KEY, `name` TEXT) of the file `target.db` in the server's directory; that file.
pub fn sqlite_emp(opts: RedisOpts) -> (RedisServer, std::path::PathBuf) {
    let redis = RedisServer::start(opts).expect("start redis");
    let db = redis.dir().join("target.db");
    crate::sqlite_target::create(&db, "CREATE TABLE emp (id INTEGER PRIMARY KEY, name TEXT)");
    let job = yaml::sqlite_job("emp:*", "emp", &["id"], &["name"]);
    commands::deploy_ok(
        &mut redis.client(),
        &yaml::sqlite_config(&db, &[]),
        &[("emp", &job)],
    );
    (redis, db)
}

/// Redis (own port and directory) deployed against database `db` of a PostgreSQL server.
pub struct PgPipeline<'a> {
    /// The Redis server with the module.
    pub redis: RedisServer,
    /// The PostgreSQL server holding the target database.
    pub pg: &'a PgServer,
    /// The target database.
    pub db: String,
    /// The config.yaml that was deployed.
    pub config: String,
}

impl<'a> PgPipeline<'a> {
    /// Creates database `db` on `pg`, runs `ddl` in it, starts Redis with `opts`, and deploys
    /// [`yaml::pg_config`] (with [`FAST_RETRY`]) plus `jobs` (name, YAML).
    pub fn start(
        pg: &'a PgServer,
        opts: RedisOpts,
        db: &str,
        ddl: &str,
        jobs: &[(&str, &str)],
    ) -> Self {
        let db = pg.create_database(db);
        pg.client(&db)
            .batch_execute(ddl)
            .expect("create the target tables");
        let redis = RedisServer::start(opts).expect("start redis with the module");
        let config = yaml::pg_config(pg, &db, &[FAST_RETRY]);
        // No jobs: the caller deploys its own (RDI.DEPLOY refuses a deployment without jobs).
        if !jobs.is_empty() {
            commands::deploy_ok(&mut redis.client(), &config, jobs);
        }
        PgPipeline {
            redis,
            pg,
            db,
            config,
        }
    }

    /// A new Redis connection.
    pub fn redis(&self) -> redis::Connection {
        self.redis.client()
    }

    /// A new client of the target database.
    pub fn pg_client(&self) -> postgres::Client {
        self.pg.client(&self.db)
    }

    /// The rows of `sql` on the target, every column read as text (cast in the query: `id::text`).
    pub fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        query_text(&mut self.pg_client(), sql)
    }

    /// `RDI.STATUS` of the Redis server.
    pub fn status(&self) -> Status {
        Status::query(&mut self.redis())
    }

    /// `RDI.WAIT` until every change captured so far is written or rejected.
    pub fn drain(&self) -> WaitReply {
        commands::drain(&mut self.redis())
    }
}

/// The rows of `sql`, every column read as optional text (the query casts non-text columns).
pub fn query_text(client: &mut postgres::Client, sql: &str) -> Vec<Vec<Option<String>>> {
    client
        .query(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|row| {
            (0..row.len())
                .map(|i| row.get::<_, Option<String>>(i))
                .collect()
        })
        .collect()
}

/// A row of optional text from string literals, `None` written as `"NULL"`: `row(&["1", "NULL"])`.
pub fn row(values: &[&str]) -> Vec<Option<String>> {
    values
        .iter()
        .map(|v| {
            if *v == "NULL" {
                None
            } else {
                Some(v.to_string())
            }
        })
        .collect()
}
