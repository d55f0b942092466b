//! RDI.DEPLOY answers bad YAML with `<file>:<line>:<column>: <path>: <message>`, every problem at once,
//! checks tables and columns in the live database, and leaves the running pipeline alone when refused.

use module_tests::yaml::{pg_config, pg_job};
use module_tests::{deploy_err, deploy_ok, PgServer, RedisOpts, RedisServer, Status};

/// A Redis with the module and a fresh database holding `emp(id, name)`.
fn setup(db: &str) -> (RedisServer, String) {
    let pg = PgServer::shared();
    let db = pg.create_database(db);
    pg.client(&db)
        .batch_execute("CREATE TABLE emp (id integer PRIMARY KEY, name text)")
        .unwrap();
    (
        RedisServer::start(RedisOpts::redis74()).expect("start redis"),
        db,
    )
}

fn good_config(db: &str) -> String {
    pg_config(PgServer::shared(), db, &[])
}

fn good_job() -> String {
    pg_job("emp:*", "emp", &["id"], &["name"])
}

/// Asserts that one ` | `-separated problem of `reply` starts with one of `prefixes` and mentions all
/// of `mentions`. A header before the first problem (`ERR invalid deployment (2 problems): `) is
/// allowed. Lines are exact; where the contract leaves open whether a problem points at the key or at
/// its value, callers pass both columns.
fn assert_problem(reply: &str, prefixes: &[&str], mentions: &[&str]) {
    assert!(reply.starts_with("ERR"), "not an ERR reply: {reply}");
    let found = reply.split(" | ").map(problem_text).any(|problem| {
        prefixes.iter().any(|p| problem.starts_with(p))
            && mentions.iter().all(|m| problem.contains(m))
    });
    assert!(
        found,
        "no problem starting with one of {prefixes:?} and mentioning {mentions:?} in: {reply}"
    );
}

/// One problem from its file name on (drops `ERR` and any header before the first problem).
fn problem_text(segment: &str) -> &str {
    let start = ["config.yaml:", "jobs/"]
        .iter()
        .filter_map(|file| segment.find(file))
        .min();
    segment[start.unwrap_or(0)..].trim()
}

fn assert_not_deployed(redis: &RedisServer) {
    let status = Status::query(&mut redis.client());
    assert_eq!(status.engine, "NOT DEPLOYED", "{}", status.raw);
    assert!(status.jobs.is_empty(), "{}", status.raw);
}

#[test]
fn config_with_a_yaml_syntax_error_names_the_file_and_line() {
    let (redis, _db) = setup("val_syntax");
    let config = "connections:\n\tpg:\n    type: postgresql\n";
    let reply = deploy_err(&mut redis.client(), config, &[("emp", &good_job())]);
    assert_problem(&reply, &["config.yaml:2:"], &[]);
    assert_not_deployed(&redis);
}

#[test]
fn config_with_an_unknown_key_names_file_line_column_and_path() {
    let (redis, db) = setup("val_unknown_key");
    let port = PgServer::shared().port();
    let config = format!(
        "connections:\n  pg:\n    type: postgresql\n    hots: 127.0.0.1\n    host: 127.0.0.1\n    port: {port}\n    \
         database: {db}\n    user: postgres\n"
    );
    let reply = deploy_err(&mut redis.client(), &config, &[("emp", &good_job())]);
    assert_problem(
        &reply,
        &["config.yaml:4:5: connections.pg.hots: "],
        &["unknown"],
    );
    assert_not_deployed(&redis);
}

#[test]
fn config_with_a_value_of_the_wrong_type_names_its_position_and_path() {
    let (redis, db) = setup("val_wrong_type");
    let config = format!(
        "connections:\n  pg:\n    type: postgresql\n    host: 127.0.0.1\n    port: not-a-number\n    \
         database: {db}\n    user: postgres\napplier:\n  read_batch_size: [1, 2]\n"
    );
    let reply = deploy_err(&mut redis.client(), &config, &[("emp", &good_job())]);
    assert_problem(
        &reply,
        &[
            "config.yaml:5:11: connections.pg.port: ",
            "config.yaml:5:5: connections.pg.port: ",
        ],
        &[],
    );
    assert_problem(
        &reply,
        &[
            "config.yaml:9:20: applier.read_batch_size: ",
            "config.yaml:9:3: applier.read_batch_size: ",
        ],
        &[],
    );
}

#[test]
fn job_without_key_pattern_is_refused_naming_the_missing_key() {
    let (redis, db) = setup("val_no_pattern");
    let job = "source:\n  redis:\n    trigger: write-behind\noutput:\n  - uses: relational.write\n    with:\n      \
               connection: pg\n      table: emp\n      keys: [id]\n";
    let reply = deploy_err(&mut redis.client(), &good_config(&db), &[("emp", job)]);
    assert_problem(
        &reply,
        &["jobs/emp.yaml:"],
        &["source.redis", "key_pattern"],
    );
    assert_not_deployed(&redis);
}

#[test]
fn job_with_a_trigger_other_than_write_behind_is_refused() {
    let (redis, db) = setup("val_trigger");
    let job = good_job().replace("trigger: write-behind", "trigger: write-through");
    assert_eq!(
        job.lines().nth(3),
        Some("    trigger: write-through"),
        "line 4 of the job"
    );
    let reply = deploy_err(&mut redis.client(), &good_config(&db), &[("emp", &job)]);
    assert_problem(
        &reply,
        &[
            "jobs/emp.yaml:4:14: source.redis.trigger: ",
            "jobs/emp.yaml:4:5: source.redis.trigger: ",
        ],
        &["write-behind"],
    );
}

#[test]
fn job_naming_an_unknown_connection_is_refused() {
    let (redis, db) = setup("val_connection");
    let job = good_job().replace("connection: pg", "connection: nope");
    assert_eq!(
        job.lines().nth(7),
        Some("      connection: nope"),
        "line 8 of the job"
    );
    let reply = deploy_err(&mut redis.client(), &good_config(&db), &[("emp", &job)]);
    let prefixes = [
        "jobs/emp.yaml:8:19: output[0].with.connection: ",
        "jobs/emp.yaml:8:7: output[0].with.connection: ",
        "jobs/emp.yaml:8:19: output.0.with.connection: ",
        "jobs/emp.yaml:8:7: output.0.with.connection: ",
    ];
    assert_problem(&reply, &prefixes, &["nope"]);
}

#[test]
fn job_in_the_old_keyspace_format_is_refused_naming_the_new_keys() {
    let (redis, db) = setup("val_keyspace");
    // Before RDI 0.105: `source.keyspace.pattern` instead of `source.redis.key_pattern`.
    let old = good_job().replace("  redis:", "  keyspace:");
    let reply = deploy_err(&mut redis.client(), &good_config(&db), &[("emp", &old)]);
    assert_problem(
        &reply,
        &["jobs/emp.yaml:2:3: source.keyspace: "],
        &["redis"],
    );
    let old = good_job().replace("key_pattern:", "pattern:");
    let reply = deploy_err(&mut redis.client(), &good_config(&db), &[("emp", &old)]);
    assert_problem(
        &reply,
        &["jobs/emp.yaml:3:5: source.redis.pattern: "],
        &["key_pattern"],
    );
    assert_not_deployed(&redis);
}

#[test]
fn several_problems_in_several_files_come_back_in_one_reply() {
    let (redis, db) = setup("val_several");
    let port = PgServer::shared().port();
    let config = format!(
        "connections:\n  pg:\n    type: postgresql\n    hots: x\n    host: 127.0.0.1\n    port: {port}\n    \
         database: {db}\n    user: postgres\n"
    );
    let bad_trigger = good_job().replace("trigger: write-behind", "trigger: sometimes");
    let bad_connection =
        pg_job("dept:*", "emp", &["id"], &[]).replace("connection: pg", "connection: nope");
    let reply = deploy_err(
        &mut redis.client(),
        &config,
        &[("emp", &bad_trigger), ("dept", &bad_connection)],
    );
    assert_problem(&reply, &["config.yaml:4:5: connections.pg.hots: "], &[]);
    assert_problem(&reply, &["jobs/emp.yaml:4:"], &["source.redis.trigger"]);
    assert_problem(&reply, &["jobs/dept.yaml:8:"], &["connection", "nope"]);
    assert!(
        reply.matches(" | ").count() >= 2,
        "problems joined by ' | ': {reply}"
    );
    assert_not_deployed(&redis);
}

#[test]
fn job_for_a_table_missing_in_postgresql_is_refused_naming_it() {
    let (redis, db) = setup("val_no_table");
    let job = pg_job("emp:*", "no_such_table", &["id"], &["name"]);
    let reply = deploy_err(&mut redis.client(), &good_config(&db), &[("emp", &job)]);
    assert!(
        reply.starts_with("ERR") && reply.contains("no_such_table"),
        "{reply}"
    );
    // Located like a YAML problem: at the table's name.
    assert!(
        reply.contains("jobs/emp.yaml:10:14: output[0].with.table: "),
        "{reply}"
    );
    assert_not_deployed(&redis);
}

#[test]
fn job_mapping_a_column_missing_in_the_table_is_refused_naming_it() {
    let (redis, db) = setup("val_no_column");
    let job = pg_job("emp:*", "emp", &["id"], &["name", "no_such_column"]);
    let reply = deploy_err(&mut redis.client(), &good_config(&db), &[("emp", &job)]);
    assert!(
        reply.starts_with("ERR") && reply.contains("no_such_column"),
        "{reply}"
    );
    // Located at the mapping entry that names it, with the columns the table has.
    let at = job
        .lines()
        .position(|l| l.contains("no_such_column"))
        .unwrap()
        + 1;
    assert!(
        reply.contains(&format!("jobs/emp.yaml:{at}:"))
            && reply.contains("output[0].with.mapping[1]: "),
        "{reply}"
    );
    assert!(reply.contains("it has: id, name"), "{reply}");
    assert_not_deployed(&redis);
}

#[test]
fn a_refused_redeploy_leaves_the_running_pipeline_in_place() {
    let (redis, db) = setup("val_redeploy");
    deploy_ok(
        &mut redis.client(),
        &good_config(&db),
        &[("emp", &good_job())],
    );
    let bad = good_job().replace("trigger: write-behind", "trigger: never");
    deploy_err(&mut redis.client(), &good_config(&db), &[("other", &bad)]);
    let status = Status::query(&mut redis.client());
    assert_eq!(status.engine, "RUNNING", "{}", status.raw);
    assert_eq!(status.job("emp").key_pattern, "emp:*");
    assert!(!status.jobs.contains_key("other"), "{}", status.raw);
}

#[test]
fn a_deploy_without_jobs_is_refused_and_keeps_the_pipeline() {
    let (redis, db) = setup("val_no_jobs");
    deploy_ok(
        &mut redis.client(),
        &good_config(&db),
        &[("emp", &good_job())],
    );
    // A folder whose jobs/ went missing must not replace the running jobs with none.
    let reply = deploy_err(&mut redis.client(), &good_config(&db), &[]);
    assert!(
        reply.starts_with("ERR invalid deployment: no job") && reply.contains("RDI.UNDEPLOY"),
        "{reply}"
    );
    let status = Status::query(&mut redis.client());
    assert!(status.jobs.contains_key("emp"), "{}", status.raw);
}

#[test]
fn a_value_from_a_secret_is_shown_as_its_reference() {
    let (redis, db) = setup("val_secret_echo");
    let mut c = redis.client();
    let _: () = redis::cmd("RDI.SET-SECRET")
        .arg("strategy")
        .arg("hunter2-secret")
        .query(&mut c)
        .unwrap();
    let job = good_job().replace(
        "keys:",
        "load_strategy: \"${secrets:strategy}\"\n      keys:",
    );
    let reply = deploy_err(&mut c, &good_config(&db), &[("emp", &job)]);
    assert!(!reply.contains("hunter2"), "{reply}");
    assert_problem(&reply, &["jobs/emp.yaml:"], &["${secrets:strategy}"]);
}
