//! The text of the scaffolded files: one commented connection per target type, the applier defaults,
//! and an example job (`emp:*` hashes to the table `emp`, as in RDI's write-behind quickstart).

use crate::args::DbType;

/// Path of the example job, relative to the scaffolded folder.
pub const JOB_FILE: &str = "jobs/emp.yaml";

const HEADER: &str = "\
# RDI write-behind pipeline: deploy this folder with `redis-di deploy --dir <folder>`.
# Any value may be a reference resolved on the Redis host at deploy time (and after a restart):
#   ${env:NAME}          an environment variable of the Redis server
#   ${file:/path}        a whole file, trailing newline trimmed
#   ${file:/path:prop}   one `prop=value` line of a properties file
#   ${secrets:NAME}      a secret stored with `redis-di set-secret NAME`
# Resolved values are never stored, returned or logged.
connections:
  # Jobs name this connection in their outputs (`connection: target`).
  target:
";

const APPLIER: &str = "
# How changes are batched and written (uncomment to change a default).
#applier:
#  read_batch_size: 2000          # most change entries taken from a job's queue at once
#  write_batch_size: 200          # most rows per target transaction (<= read_batch_size)
#  duration: 100                  # ms an idle writer sleeps between looks at its queues; a new change
#                                 # wakes it at once, so no change waits for a batch to fill
#  on_failed_retry_interval: 5    # s: cap of the retry back-off after a target error
#  error_handling: dlq            # dlq keeps rejected records; ignore drops them (both count them)
#  dlq_max_messages: 1000         # cap of each job's dead-letter queue; the oldest go first
#  writer_threads: 2              # background writer threads shared by the jobs
#  max_pending: 0                 # cap on queued changes per job (0: no cap)
#  exactly_once: false            # extension: a checkpoint per batch in the target, no replays after a
#                                 # crash (postgresql, mysql/mariadb and sqlite; others stay at-least-once)
#  checkpoint_table: rdi_checkpoints  # the checkpoint table (`table` or `schema.table`), made on first use
";

/// The connection entry (indented under `target:`) for a type.
fn connection(db: DbType) -> String {
    let sql = |kind: &str, port: u16, db_line: &str, user: &str, env: &str, tls: &str| {
        format!(
            "    type: {kind}
    host: 127.0.0.1
    port: {port}
{db_line}
    user: {user}
    password: ${{env:{env}}}
{tls}"
        )
    };
    match db {
        DbType::Postgresql => sql(
            "postgresql",
            5432,
            "    database: postgres",
            "postgres",
            "POSTGRES_PASSWORD",
            "    #query_args:                  # TLS
    #  sslmode: verify-ca          # disable, prefer, require, verify-ca, verify-full
    #  sslrootcert: /opt/ssl/ca.crt
    #  sslcert: /opt/ssl/client.crt
    #  sslkey: /opt/ssl/client.key
",
        ),
        DbType::Mysql | DbType::Mariadb => sql(
            if db == DbType::Mysql { "mysql" } else { "mariadb" },
            3306,
            "    database: test",
            "test",
            "MYSQL_PASSWORD",
            "    #connect_args:                # TLS
    #  ssl_ca: /opt/ssl/ca.crt
    #  ssl_cert: /opt/ssl/client.crt
    #  ssl_key: /opt/ssl/client.key
",
        ),
        DbType::Oracle => sql(
            "oracle",
            1521,
            "    database: ORCLCDB                # or query_args.service_name instead
    #query_args:
    #  service_name: ORCLPDB1",
            "system",
            "ORACLE_PASSWORD",
            "",
        ),
        DbType::Sqlserver => sql(
            "sqlserver",
            1433,
            "    database: master",
            "sa                             # DOMAIN\\user for Windows (NTLM) authentication",
            "SQLSERVER_PASSWORD",
            "    #connect_args: {}
    #query_args: {}
",
        ),
        DbType::Cassandra => "    type: cassandra
    hosts: [127.0.0.1]                  # contact points
    port: 9042
    #user: cassandra
    #password: ${env:CASSANDRA_PASSWORD}
    #connect_args: {}
"
        .to_string(),
        DbType::Redis => "    type: redis
    host: 127.0.0.1
    port: 12000
    #user: default
    #password: ${env:REDIS_TARGET_PASSWORD}
    #cacert: /opt/ssl/ca.crt            # TLS: CA of the target's certificate
    #cert: /opt/ssl/client.crt          # TLS client certificate (needs key)
    #key: /opt/ssl/client.key
    #key_password: ${env:REDIS_TARGET_KEY_PASSWORD}
"
        .to_string(),
        DbType::Sqlite => "    type: sqlite
    path: rdi.db                        # relative to the Redis server's working directory (its `dir`)
"
        .to_string(),
    }
}

/// `config.yaml` for a target type.
pub fn config_yaml(db: DbType) -> String {
    format!("{HEADER}{}{APPLIER}", connection(db))
}

const SOURCE: &str = "\
# One job per key pattern; the file name without .yaml is the job's name.
source:
  redis:
    key_pattern: emp:*                  # Redis glob of the Hash or JSON keys to capture
    trigger: write-behind
    #exclude_commands: [hdel]           # events to ignore
    #row_format: full                   # data_only (default) or full (key, before, after, opcode)
    #propagate_expired: true            # extension: an expired key deletes its row, expired hash fields update it
#transform:
#  - uses: rename_field
#    with:
#      from_field: country
#      to_field: my_country
";

/// The example job for a target type.
pub fn job_yaml(db: DbType) -> String {
    let output = match db {
        DbType::Cassandra => {
            "\
output:
  - uses: cassandra.write
    with:
      connection: target
      keyspace: rdi
      table: emp
      keys: [first_name, last_name]
      mapping: [first_name, last_name, address, gender]
"
        }
        DbType::Redis => {
            "\
output:
  - uses: redis.write
    with:
      connection: target
      data_type: hash
      key:
        expression: concat(['emp_copy:', first_name, ':', last_name])   # outside emp:* (no write loop)
        language: jmespath
      mapping: [first_name, last_name, address, gender]
"
        }
        _ => {
            "\
output:
  - uses: relational.write
    with:
      connection: target
      #schema: public                   # blank: the connection's default
      table: emp
      keys:                             # unique key columns: upsert and delete by these
        - first_name
        - last_name
      mapping:                          # columns to write (keys are included)
        - first_name
        - last_name
        - address
        - gender
"
        }
    };
    format!("{SOURCE}{output}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_applier_section_names_the_checkpoint_keys_with_their_defaults() {
        let text = config_yaml(DbType::Postgresql);
        assert!(text.contains("\n#  exactly_once: false "), "{text}");
        assert!(
            text.contains("\n#  checkpoint_table: rdi_checkpoints "),
            "{text}"
        );
    }
}
