//! A whole deployment: `config.yaml` plus the job files, parsed, resolved and validated in one pass.

use super::applier::applier;
use super::connection::connections;
use super::job::job;
use std::collections::BTreeMap;

use super::model::{Applier, Connection, Deployment, Job};
use super::problem::{sort_problems, ConfigProblem};
use super::reference::Resolver;
use super::walker::Walker;
use super::yaml::{parse, Node, Pos, Value};

/// A valid deployment and what its deploy reply should mention.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The typed deployment, references resolved.
    pub deployment: Deployment,
    /// Notes for the deploy reply: ignored ingest-only keys, `after.` fields read without the prefix.
    pub notes: Vec<String>,
}

/// Parse + validate + resolve. `jobs` are (job name, yaml text); file names in problems are
/// `config.yaml` and `jobs/<name>.yaml`. Every problem of every file is returned, sorted by file and line.
pub fn parse_deployment(
    config_yaml: &str,
    jobs: &[(String, String)],
    resolver: &dyn Resolver,
) -> Result<Parsed, Vec<ConfigProblem>> {
    parse_with(Walker::new("config.yaml", resolver), config_yaml, jobs)
}

/// [`parse_deployment`] of a deployment kept in the keyspace by an earlier version: what checks
/// added since then find is noted, not refused (see [`Walker::tightened`]).
pub fn parse_kept_deployment(
    config_yaml: &str,
    jobs: &[(String, String)],
    resolver: &dyn Resolver,
) -> Result<Parsed, Vec<ConfigProblem>> {
    let mut w = Walker::new("config.yaml", resolver);
    w.lenient = true;
    parse_with(w, config_yaml, jobs)
}

fn parse_with(
    mut w: Walker,
    config_yaml: &str,
    jobs: &[(String, String)],
) -> Result<Parsed, Vec<ConfigProblem>> {
    let (connections, applier) = config(&mut w, config_yaml).unwrap_or_default();
    // Jobs are checked against the declared names even when a connection itself is invalid.
    let names: Option<Vec<String>> = connections
        .as_ref()
        .map(|connections| connections.keys().cloned().collect());
    let kinds: Vec<(String, &'static str)> = connections
        .iter()
        .flatten()
        .filter_map(|(name, c)| Some((name.clone(), c.as_ref()?.type_name())))
        .collect();
    let mut parsed_jobs: Vec<Job> = Vec::new();
    for (i, (name, text)) in jobs.iter().enumerate() {
        w.file = format!("jobs/{name}.yaml");
        check_job_name(
            &mut w,
            name,
            jobs[..i].iter().any(|(other, _)| other == name),
        );
        if let Some(job) =
            tree(&mut w, text).and_then(|root| job(&mut w, name, &root, names.as_deref(), &kinds))
        {
            parsed_jobs.push(job);
        }
    }
    if !w.problems.is_empty() {
        let mut problems = w.problems;
        sort_problems(&mut problems);
        return Err(problems);
    }
    parsed_jobs.sort_by(|a, b| a.name.cmp(&b.name));
    let deployment = Deployment {
        connections: connections
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(name, connection)| Some((name, connection?)))
            .collect(),
        applier,
        jobs: parsed_jobs,
        hidden: w.hidden,
    };
    Ok(Parsed {
        deployment,
        notes: w.notes,
    })
}

/// Every declared connection (`None` if invalid; all `None` if the section is unreadable) and the applier.
type Config = (Option<BTreeMap<String, Option<Connection>>>, Applier);

/// Reads `config.yaml`; `None` when it is not even a map.
fn config(w: &mut Walker, text: &str) -> Option<Config> {
    let root = tree(w, text)?;
    if !matches!(root.value, Value::Map(_)) {
        let message = "config.yaml must be a map with `connections` and optionally `applier`";
        w.problem(root.pos, "", message);
        return None;
    }
    let fields = w.map(&root, "")?;
    fields.reject_unknown(w, &["connections", "applier"]);
    let connections = fields
        .required(w, "connections")
        .map(|node| connections(w, node));
    let applier = applier(w, fields.get("applier"));
    if applier.exactly_once {
        note_unsupported_checkpoints(w, &fields, connections.iter().flatten());
    }
    Some((connections, applier))
}

/// `applier.exactly_once` keeps a checkpoint in PostgreSQL, MySQL/MariaDB and SQLite only: the others are
/// written at-least-once, which the deploy reply says rather than leaving it to be found later.
fn note_unsupported_checkpoints<'c>(
    w: &mut Walker,
    fields: &super::walker::Fields,
    connections: impl Iterator<Item = (&'c String, &'c Option<Connection>)>,
) {
    let Some(node) = fields
        .get("applier")
        .and_then(|applier| match &applier.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(key, _)| matches!(&key.value, Value::Scalar { text, .. } if text == "exactly_once")),
            _ => None,
        })
        .map(|(_, value)| value.pos)
    else {
        return;
    };
    for (name, connection) in connections {
        let Some(kind) = connection.as_ref().map(Connection::type_name) else {
            continue;
        };
        if !matches!(kind, "postgresql" | "sqlite" | "mysql" | "mariadb") {
            let message = format!(
                "connection `{name}` ({kind}) keeps no checkpoint: jobs writing to it stay \
                 at-least-once (exactly_once is built for postgresql, mysql, mariadb and sqlite)"
            );
            w.note(node, "applier.exactly_once", message);
        }
    }
}

/// The YAML tree of the current file, or one problem at the syntax error.
fn tree(w: &mut Walker, text: &str) -> Option<Node> {
    match parse(text) {
        Ok(root) => Some(root),
        Err(e) => {
            w.problem(e.pos, "", format!("invalid YAML: {}", e.message));
            None
        }
    }
}

/// A job name is its file name without `.yaml`: non-empty, `[A-Za-z0-9_.-]`, unique.
fn check_job_name(w: &mut Walker, name: &str, duplicate: bool) {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    let message = if name.is_empty() {
        "the job name must not be empty; name the file `<job>.yaml`".to_string()
    } else if !name.chars().all(allowed) {
        format!(
            "job name `{name}` may only contain letters, digits, `_`, `.` and `-`; rename the file"
        )
    } else if duplicate {
        format!("job name `{name}` is used twice; give each job its own file name")
    } else {
        return;
    };
    w.problem(Pos::START, "", message);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::io::Write;

    use super::super::model::{
        ColumnMapping, ErrorHandling, Output, RelationalOutput, RowFormat, SqlServerConnection,
    };
    use super::super::reference::SystemResolver;
    use super::*;

    const CONFIG: &str = "\
connections:
  my-postgres:
    type: postgresql
    host: 172.17.0.3
    port: 5432
    database: postgres
    user: postgres
    password: ${secrets:PG_PASSWORD}
    query_args:
      sslmode: verify-ca
      sslrootcert: /opt/work/ssl/ca.crt
  local:
    type: sqlite
    path: /var/lib/rdi/local.db
applier:
  error_handling: ignore
  wait_enabled: false
";

    const JOB: &str = "\
source:
  redis:
    key_pattern: emp:*
    trigger: write-behind
    exclude_commands: [\"json.del\"]
output:
  - uses: relational.write
    with:
      connection: my-postgres
      schema: my-schema
      table: my-table
      keys:
        - first_name
        - last_name
      mapping:
        - first_name
        - last_name
        - address
        - gender: after.sex
";

    fn resolver() -> SystemResolver {
        SystemResolver {
            secrets: BTreeMap::from([("PG_PASSWORD".to_string(), "s3cret-pw".to_string())]),
        }
    }

    fn jobs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect()
    }

    fn problems(config: &str, list: &[(&str, &str)]) -> Vec<String> {
        let err = parse_deployment(config, &jobs(list), &resolver()).unwrap_err();
        err.iter().map(ToString::to_string).collect()
    }

    fn column(name: &str, field: &str) -> ColumnMapping {
        ColumnMapping::field(name, field)
    }

    #[test]
    fn quickstart_config_and_job_parse_to_the_deployment() {
        let parsed = parse_deployment(CONFIG, &jobs(&[("emp", JOB)]), &resolver()).unwrap();
        let postgres = SqlServerConnection {
            host: "172.17.0.3".into(),
            port: 5432,
            database: "postgres".into(),
            user: "postgres".into(),
            password: Some("s3cret-pw".into()),
            connect_args: BTreeMap::new(),
            query_args: BTreeMap::from([
                ("sslmode".into(), "verify-ca".into()),
                ("sslrootcert".into(), "/opt/work/ssl/ca.crt".into()),
            ]),
        };
        let expected = Deployment {
            connections: BTreeMap::from([
                (
                    "local".into(),
                    Connection::Sqlite {
                        path: "/var/lib/rdi/local.db".into(),
                    },
                ),
                ("my-postgres".into(), Connection::Postgresql(postgres)),
            ]),
            applier: Applier {
                error_handling: ErrorHandling::Ignore,
                ..Applier::default()
            },
            jobs: vec![Job {
                name: "emp".into(),
                key_pattern: "emp:*".into(),
                exclude_commands: vec!["json.del".into()],
                row_format: RowFormat::DataOnly,
                propagate_expired: false,
                transforms: vec![],
                outputs: vec![Output::Relational(RelationalOutput {
                    connection: "my-postgres".into(),
                    schema: Some("my-schema".into()),
                    table: "my-table".into(),
                    keys: vec![
                        column("first_name", "first_name"),
                        column("last_name", "last_name"),
                    ],
                    mapping: vec![
                        column("first_name", "first_name"),
                        column("last_name", "last_name"),
                        column("address", "address"),
                        ColumnMapping {
                            column: "gender".into(),
                            expression: crate::expr::Expression::compile(
                                crate::expr::Language::Jmespath,
                                "sex",
                            )
                            .unwrap(),
                        },
                    ],
                    foreach: None,
                    opcode_field: None,
                    load_strategy: Default::default(),
                })],
            }],
            hidden: parsed.deployment.hidden.clone(),
        };
        assert_eq!(parsed.deployment, expected);
        assert_eq!(
            parsed.notes,
            [
                "config.yaml:17:3: applier.wait_enabled: ignored (only used by RDI ingest)",
                "jobs/emp.yaml:19:19: output[0].with.mapping[3].gender: `after.sex` is read as `sex`, as are \
                 other `after.` fields of this job (RDI compatibility)",
            ]
        );
    }

    #[test]
    fn exactly_once_notes_each_connection_that_keeps_no_checkpoint() {
        let config = "connections:\n  pg: {type: postgresql, host: h, database: d, user: u}\n\
                      \x20 maria: {type: mariadb, host: h, database: d, user: u}\n\
                      \x20 ms: {type: sqlserver, host: h, database: d, user: u}\n\
                      \x20 lite: {type: sqlite, path: x.db}\n\
                      applier:\n  exactly_once: true\n";
        let job = "source: {redis: {key_pattern: 'k:*', trigger: write-behind}}\n\
                   output: [{uses: relational.write, with: {connection: lite, table: t, keys: [id], mapping: [name]}}]\n";
        let parsed = parse_deployment(config, &jobs(&[("a", job)]), &resolver()).unwrap();
        assert_eq!(
            parsed.notes,
            [
                "config.yaml:7:17: applier.exactly_once: connection `ms` (sqlserver) keeps no \
              checkpoint: jobs writing to it stay at-least-once (exactly_once is built for \
              postgresql, mysql, mariadb and sqlite)"
            ]
        );
        let off = config.replace("exactly_once: true", "exactly_once: false");
        let parsed = parse_deployment(&off, &jobs(&[("a", job)]), &resolver()).unwrap();
        assert!(parsed.notes.is_empty());
    }

    #[test]
    fn a_minimal_deployment_gets_the_defaults_and_jobs_in_name_order() {
        let config = "connections:\n  local: {type: sqlite, path: x.db}\n";
        let job = "source: {redis: {key_pattern: 'k:*', trigger: write-behind}}\n\
                   output: [{uses: relational.write, with: {connection: local, table: t, keys: [id]}}]\n";
        let parsed =
            parse_deployment(config, &jobs(&[("b", job), ("a", job)]), &resolver()).unwrap();
        assert_eq!(parsed.deployment.applier, Applier::default());
        // Only that the outputs write their keys alone (no `mapping`).
        assert_eq!(parsed.notes.len(), 2, "{:?}", parsed.notes);
        assert!(
            parsed.notes.iter().all(|n| n.contains("no `mapping`")),
            "{:?}",
            parsed.notes
        );
        let names: Vec<_> = parsed
            .deployment
            .jobs
            .iter()
            .map(|j| j.name.as_str())
            .collect();
        assert_eq!(names, ["a", "b"]);
        let job = &parsed.deployment.jobs[0];
        assert_eq!(job.row_format, RowFormat::DataOnly);
        let Output::Relational(out) = &job.outputs[0] else {
            panic!("{:?}", job.outputs)
        };
        assert_eq!((out.schema.as_deref(), out.mapping.len()), (None, 0));
    }

    #[test]
    fn passwords_never_appear_in_debug_output() {
        let parsed = parse_deployment(CONFIG, &jobs(&[("emp", JOB)]), &resolver()).unwrap();
        let shown = format!("{:?}", parsed);
        assert!(!shown.contains("s3cret-pw"), "{shown}");
        assert!(shown.contains("my-postgres"));
    }

    #[test]
    fn files_properties_and_secrets_resolve() {
        let mut password = tempfile::NamedTempFile::new().unwrap();
        password.write_all(b"from-file\n").unwrap();
        let mut props = tempfile::NamedTempFile::new().unwrap();
        props.write_all(b"db.user=app\ndb.port = 6543\n").unwrap();
        let (pw, pr) = (password.path().display(), props.path().display());
        let config = format!(
            "connections:\n  pg:\n    type: postgresql\n    host: ${{env:RDI_TEST_UNSET_HOST}}\n    \
             database: db\n    user: ${{file:{pr}:db.user}}\n    port: ${{file:{pr}:db.port}}\n    \
             password: ${{file:{pw}}}\n"
        );
        let err = problems(&config, &[]);
        assert_eq!(
            err,
            ["config.yaml:4:11: connections.pg.host: cannot resolve ${env:RDI_TEST_UNSET_HOST}: environment \
              variable not set in the redis-server process (set it where the server starts, or store \
              the value with RDI.SET-SECRET and write ${secrets:NAME})"]
        );
        let config = config.replace("${env:RDI_TEST_UNSET_HOST}", "db-${secrets:PG_PASSWORD}");
        let parsed = parse_deployment(&config, &[], &resolver()).unwrap();
        let Connection::Postgresql(pg) = &parsed.deployment.connections["pg"] else {
            panic!("not postgresql")
        };
        assert_eq!(
            (
                pg.host.as_str(),
                pg.user.as_str(),
                pg.port,
                pg.password.as_deref()
            ),
            ("db-s3cret-pw", "app", 6543, Some("from-file"))
        );
    }

    #[test]
    fn an_unresolvable_reference_leaks_no_resolved_value() {
        let config = "connections:\n  pg:\n    type: postgresql\n    host: h\n    database: d\n    user: u\n    \
                      password: \"${secrets:PG_PASSWORD}${secrets:MISSING}\"\n";
        let err = problems(config, &[]);
        assert_eq!(
            err,
            ["config.yaml:7:15: connections.pg.password: cannot resolve ${secrets:MISSING}: secret not set; \
              store it with RDI.SET-SECRET"]
        );
        assert!(!err[0].contains("s3cret-pw"));
    }

    #[test]
    fn resolved_values_are_shown_as_their_references() {
        // A value from a reference is never echoed back, whichever check refuses it.
        let config = "connections:\n  lite: {type: sqlite, path: x.db}\n";
        let job = "source: {redis: {key_pattern: 'k:*', trigger: write-behind}}\n\
                   output: [{uses: relational.write, with: {connection: lite, table: t, keys: [id], mapping: [name], \
                   load_strategy: '${secrets:PG_PASSWORD}'}}]\n";
        let err = problems(config, &[("a", job)]);
        assert_eq!(err.len(), 1, "{err:?}");
        assert!(err[0].contains("not `${secrets:PG_PASSWORD}`"), "{err:?}");
        assert!(!err.iter().any(|e| e.contains("s3cret")), "{err:?}");
        // Shown fields of the deployment hide them too; a password written out gets a note.
        let config = "connections:\n  pg: {type: postgresql, host: 'db-${secrets:PG_PASSWORD}', \
                      database: d, user: u, password: hunter2}\n";
        let job = job
            .replace("lite", "pg")
            .replace("'${secrets:PG_PASSWORD}'", "UPSERT");
        let parsed = parse_deployment(config, &jobs(&[("a", &job)]), &resolver()).unwrap();
        let hidden = &parsed.deployment.hidden;
        assert_eq!(hidden.field("db-s3cret-pw"), "db-${secrets:PG_PASSWORD}");
        assert_eq!(
            hidden.hide("cannot reach db-s3cret-pw:5432"),
            "cannot reach db-${secrets:PG_PASSWORD}:5432"
        );
        assert!(!format!("{hidden:?}").contains("s3cret"));
        assert_eq!(parsed.notes.len(), 1, "{:?}", parsed.notes);
        assert!(
            parsed.notes[0].starts_with("config.yaml:2:")
                && parsed.notes[0].contains("connections.pg.password: written out"),
            "{:?}",
            parsed.notes
        );
    }

    #[test]
    fn a_kept_deployment_gets_notes_where_a_new_deploy_gets_problems() {
        // An upgrade must not stop a pipeline that an earlier version accepted.
        let config = "connections:\n  lite: {type: sqlite, path: x.db}\n";
        let job = "source: {redis: {key_pattern: 'k:*', trigger: write-behind, \
                   exclude_commands: [unlink]}}\n\
                   output: [{uses: relational.write, with: {connection: lite, table: t, keys: [id], mapping: [name]}}]\n";
        let err = problems(config, &[("a", job)]);
        assert!(
            err[0].contains("`unlink` is captured as the event `del`"),
            "{err:?}"
        );
        let kept = parse_kept_deployment(config, &jobs(&[("a", job)]), &resolver()).unwrap();
        assert_eq!(kept.deployment.jobs[0].exclude_commands, ["unlink"]);
        assert!(
            kept.notes.iter().any(|n| n.contains("`unlink` is captured")
                && n.contains("ignored in the deployment kept from before")),
            "{:?}",
            kept.notes
        );
    }

    #[test]
    fn config_top_level_problems_are_reported() {
        assert_eq!(
            problems("applier: {}\nconection: {}\n", &[]),
            [
                "config.yaml:1:1: missing required key `connections`",
                "config.yaml:2:1: conection: unknown key `conection`; expected one of: connections, applier",
            ]
        );
        assert_eq!(
            problems("", &[]),
            ["config.yaml:1:1: config.yaml must be a map with `connections` and optionally `applier`"]
        );
        assert_eq!(
            problems("connections:\n  pg: {type: sqlite\n", &[]),
            ["config.yaml:3:1: invalid YAML: while parsing a flow mapping, did not find expected ',' or '}'"]
        );
    }

    #[test]
    fn problems_of_every_file_are_reported_at_once_and_sorted() {
        let config = "connections:\n  pg:\n    type: postgresql\n    host: h\n    database: d\n    user: u\n    \
                      port: 0\n  my: {type: redis}\n";
        let good_job = JOB.replace("my-postgres", "pg");
        let bad_job = JOB
            .replace("my-postgres", "nope")
            .replace("write-behind", "write");
        let err = problems(
            config,
            &[
                ("zz", "source: [\n"),
                ("bad", &bad_job),
                ("good", &good_job),
                ("good", &good_job),
                ("a b", ""),
            ],
        );
        assert_eq!(
            err,
            [
                "config.yaml:7:11: connections.pg.port: must be an integer between 1 and 65535",
                "config.yaml:8:7: connections.my: missing required key `host`",
                "config.yaml:8:7: connections.my: missing required key `port`",
                "jobs/a b.yaml:1:1: job name `a b` may only contain letters, digits, `_`, `.` and `-`; \
                 rename the file",
                "jobs/a b.yaml:1:1: a job file must be a map with `source`, `output` and optionally `transform`",
                "jobs/bad.yaml:4:14: source.redis.trigger: must be `write-behind`, not `write`",
                "jobs/bad.yaml:9:19: output[0].with.connection: unknown connection `nope`; config.yaml \
                 declares: my, pg",
                "jobs/good.yaml:1:1: job name `good` is used twice; give each job its own file name",
                "jobs/zz.yaml:2:1: invalid YAML: while parsing a node, did not find expected node content",
            ]
        );
    }

    #[test]
    fn an_empty_job_name_is_a_problem() {
        let config = "connections: {}\n";
        assert_eq!(
            problems(config, &[("", "{}")])[0],
            "jobs/.yaml:1:1: the job name must not be empty; name the file `<job>.yaml`"
        );
    }
}
