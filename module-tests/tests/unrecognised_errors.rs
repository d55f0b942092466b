//! A row that the target fails with an error code the writer does not know (here a trigger's made-up
//! SQLSTATE) is first retried like an outage, then isolated: it goes to the dead-letter queue once
//! the other rows of its batch are committed, and the queue moves on.

use module_tests::replies::{field_text, fields, items};
use module_tests::yaml::pg_job;
use module_tests::{call, wait_from_stopped, PgPipeline, PgServer, RedisOpts};

const DDL: &str = "CREATE TABLE emp (id integer PRIMARY KEY, name text);
    CREATE FUNCTION emp_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.name LIKE 'odd%' THEN
        RAISE EXCEPTION 'emp_guard refused %', NEW.name USING ERRCODE = 'Z0001';
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER emp_guard BEFORE INSERT OR UPDATE ON emp
      FOR EACH ROW EXECUTE FUNCTION emp_guard();";

#[test]
fn a_row_failing_with_an_unknown_code_goes_to_the_dlq_and_the_rest_is_written() {
    let emp = pg_job("emp:*", "emp", &["id"], &["name"]);
    let p = PgPipeline::start(
        PgServer::shared(),
        RedisOpts::redis74(),
        "unrecognised_errors",
        DDL,
        &[("emp", &emp)],
    );
    let mut r = p.redis();
    call(&mut r, &["RDI.STOP"]);
    let mut pipe = redis::pipe();
    for i in 1..=300 {
        let name = if i == 150 {
            "odd-secret".to_string()
        } else {
            format!("n{i}")
        };
        pipe.cmd("HSET")
            .arg(format!("emp:{i}"))
            .arg("id")
            .arg(i)
            .arg("name")
            .arg(name)
            .ignore();
    }
    pipe.query::<()>(&mut r).unwrap();
    let waited = wait_from_stopped(&mut r, p.redis());
    assert_eq!((waited.written, waited.rejected), (299, 1), "{waited:?}");

    let count = p.rows("SELECT count(*)::text FROM emp");
    assert_eq!(count[0][0].as_deref(), Some("299"));
    assert!(p.rows("SELECT id FROM emp WHERE id = 150").is_empty());
    let dead: Vec<_> = items(&call(&mut r, &["RDI.GET-REJECTED"]))
        .iter()
        .map(fields)
        .collect();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(field_text(&dead[0], "key"), "emp:150");
    let reason = field_text(&dead[0], "reason");
    assert!(
        reason.contains("SQLSTATE Z0001") && reason.contains("failed alone twice"),
        "{reason}"
    );
    assert!(
        !reason.contains("secret"),
        "the reason shows the value: {reason}"
    );

    // The passes before the probe count as unrecognised errors of the connection.
    let metrics: String = redis::cmd("RDI.METRICS").query(&mut r).unwrap();
    let unknown: u64 = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("rdi_target_errors_total{connection=\"pg\",kind=\"unknown\"} ")
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no unknown errors counted:\n{metrics}"));
    assert!(unknown >= 3, "{unknown}");

    // Later changes flow as usual.
    call(&mut r, &["HSET", "emp:301", "id", "301", "name", "n301"]);
    module_tests::drain(&mut r);
    assert_eq!(
        p.rows("SELECT name FROM emp WHERE id = 301")[0][0].as_deref(),
        Some("n301")
    );
}
