//! RDI.METRICS: Prometheus text with RDI's names and labels, values that match RDI.STATUS, and a
//! well-formed exposition (one HELP and TYPE per family, samples of a family together).

use module_tests::replies::{field_int, fields, string};
use module_tests::yaml::pg_job;
use module_tests::{call, wait_from_stopped, wait_until, PgPipeline, PgServer, RedisOpts};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

type Labels = BTreeMap<String, String>;

/// A parsed exposition: TYPE and HELP lines per family, samples in order.
#[derive(Default, Debug)]
struct Exposition {
    types: HashMap<String, Vec<String>>,
    helps: HashMap<String, usize>,
    /// (family, sample name, labels, value)
    samples: Vec<(String, String, Labels, f64)>,
}

impl Exposition {
    fn parse(text: &str) -> Exposition {
        let mut e = Exposition::default();
        for line in text.lines().filter(|l| !l.is_empty()) {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect(line);
                e.types.entry(name.into()).or_default().push(kind.into());
                continue;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap();
                *e.helps.entry(name.into()).or_default() += 1;
                continue;
            }
            assert!(!line.starts_with('#'), "unexpected comment {line:?}");
            let (name, labels, value) = sample(line);
            let family = e.family_of(&name);
            e.samples.push((family, name, labels, value));
        }
        e
    }

    /// The family a sample name belongs to (a histogram's `_bucket`, `_sum`, `_count` included).
    fn family_of(&self, name: &str) -> String {
        if self.types.contains_key(name) {
            return name.to_string();
        }
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix) {
                if self.types.get(base).is_some_and(|k| k[0] == "histogram") {
                    return base.to_string();
                }
            }
        }
        panic!("sample {name} before or without a TYPE line of its family");
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let want: Labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let found: Vec<f64> = self
            .samples
            .iter()
            .filter(|(_, n, l, _)| n == name && *l == want)
            .map(|s| s.3)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{name}{want:?} appears {} times",
            found.len()
        );
        found[0]
    }
}

/// `name{k="v",...} value` or `name value`.
fn sample(line: &str) -> (String, Labels, f64) {
    let (head, value) = line.rsplit_once(' ').expect(line);
    let value: f64 = value
        .parse()
        .unwrap_or_else(|_| panic!("bad value in {line:?}"));
    let Some((name, rest)) = head.split_once('{') else {
        return (head.to_string(), Labels::new(), value);
    };
    let body = rest.strip_suffix('}').expect(line);
    let mut labels = Labels::new();
    let mut chars = body.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "{line}");
        let mut val = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => val.push(chars.next().expect(line)),
                '"' => break,
                c => val.push(c),
            }
        }
        assert!(
            labels.insert(key, val).is_none(),
            "duplicate label in {line}"
        );
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    (name.to_string(), labels, value)
}

fn metrics(r: &mut redis::Connection) -> Exposition {
    let text = string(&call(r, &["RDI.METRICS"]));
    let e = Exposition::parse(&text);
    for (name, kinds) in &e.types {
        assert_eq!(
            kinds.len(),
            1,
            "{name} has {} TYPE lines:\n{text}",
            kinds.len()
        );
        assert_eq!(e.helps.get(name), Some(&1), "{name} HELP lines:\n{text}");
    }
    // The samples of a family are together.
    let mut seen: Vec<&str> = Vec::new();
    for (family, ..) in &e.samples {
        if seen.last() != Some(&family.as_str()) {
            assert!(!seen.contains(&family.as_str()), "{family} split:\n{text}");
            seen.push(family);
        }
    }
    e
}

fn ds(op: &str) -> Vec<(&str, &str)> {
    vec![("data_source", "emp"), ("operation", op)]
}

/// Buckets never decrease, and +Inf equals _count; returns _count.
fn check_histogram(e: &Exposition, name: &str) -> f64 {
    let bucket = format!("{name}_bucket");
    let mut buckets: Vec<(f64, f64)> = e
        .samples
        .iter()
        .filter(|(_, n, l, _)| *n == bucket && l["data_source"] == "emp")
        .map(|(_, _, l, v)| (l["le"].parse::<f64>().unwrap(), *v))
        .collect();
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    assert!(buckets.len() >= 2, "{name}: {buckets:?}");
    assert!(
        buckets.windows(2).all(|w| w[0].1 <= w[1].1),
        "{name}: {buckets:?}"
    );
    let count = e.value(&format!("{name}_count"), &[("data_source", "emp")]);
    assert_eq!(buckets.last().unwrap(), &(f64::INFINITY, count), "{name}");
    e.value(&format!("{name}_sum"), &[("data_source", "emp")]);
    count
}

#[test]
fn metrics_have_rdi_names_labels_and_values_matching_status() {
    let job = pg_job("emp:*", "emp", &["id"], &["name", "qty"]);
    let ddl = "CREATE TABLE emp (id integer PRIMARY KEY, name text, qty integer CHECK (qty >= 0))";
    let p = PgPipeline::start(
        PgServer::shared(),
        RedisOpts::redis74(),
        "metrics_values",
        ddl,
        &[("emp", &job)],
    );
    let mut r = p.redis();
    for i in 1..=5 {
        let id = i.to_string();
        call(
            &mut r,
            &["HSET", &format!("emp:{i}"), "id", &id, "qty", "1"],
        );
    }
    p.drain();
    call(&mut r, &["HSET", "emp:1", "name", "renamed"]);
    p.drain();
    call(&mut r, &["DEL", "emp:2"]);
    p.drain();
    call(&mut r, &["RDI.STOP"]);
    call(&mut r, &["HSET", "emp:9", "id", "9", "qty", "-1"]);
    assert_eq!(wait_from_stopped(&mut r, p.redis()).rejected, 1);

    let e = metrics(&mut r);
    let status = fields(&call(&mut r, &["RDI.DESCRIBE-JOB", "emp"]));
    let stat = |name: &str| field_int(&status, name) as f64;
    assert_eq!(
        (
            stat("inserted"),
            stat("updated"),
            stat("deleted"),
            stat("rejected")
        ),
        (5.0, 1.0, 1.0, 1.0)
    );
    for op in [
        "pending", "inserted", "updated", "deleted", "filtered", "rejected",
    ] {
        assert_eq!(
            e.value("rdi_incoming_entries", &ds(op)),
            stat(op),
            "operation {op}"
        );
    }
    let running = [("status", "RUNNING"), ("sync_mode", "UNKNOWN")];
    assert_eq!(e.value("rdi_engine_state", &running), 1.0);
    assert_eq!(
        e.value(
            "rdi_engine_state",
            &[("status", "STOPPED"), ("sync_mode", "UNKNOWN")]
        ),
        0.0
    );
    let job = [("data_source", "emp")];
    assert_eq!(e.value("rdi_stream_size", &job), 0.0);
    assert_eq!(e.value("rdi_stream_event_latency_ms", &job), 0.0);
    assert_eq!(e.value("rdi_dlq_size", &job), stat("dlq_size"));
    assert_eq!(e.value("rdi_dlq_size", &job), 1.0);
    assert_eq!(e.value("rdi_batches_total", &job), stat("batches"));
    assert_eq!(e.value("rdi_coalesced_total", &job), stat("coalesced"));
    assert_eq!(e.value("rdi_retries_total", &job), 0.0);
    assert_eq!(e.value("rdi_connection_up", &[("connection", "pg")]), 1.0);
    // The row PostgreSQL refused (CHECK qty >= 0) is the one `batch` error; nothing else failed.
    for (kind, n) in [("transient", 0.0), ("batch", 1.0), ("schema", 0.0)] {
        let labels = [("connection", "pg"), ("kind", kind)];
        assert_eq!(e.value("rdi_target_errors_total", &labels), n, "{kind}");
    }
    let batches = check_histogram(&e, "rdi_batch_rows");
    assert_eq!(
        batches,
        stat("batches"),
        "one rdi_batch_rows observation per batch"
    );
    assert!(check_histogram(&e, "rdi_write_duration_ms") >= 1.0);
    assert!(check_histogram(&e, "rdi_end_to_end_latency_ms") >= 1.0);
    for (name, kind) in [
        ("rdi_engine_state", "gauge"),
        ("rdi_incoming_entries", "gauge"),
        ("rdi_stream_size", "gauge"),
        ("rdi_batches_total", "counter"),
        ("rdi_target_errors_total", "counter"),
        ("rdi_batch_rows", "histogram"),
    ] {
        assert_eq!(e.types[name], vec![kind.to_string()], "{name}");
    }
}

#[test]
fn stopped_engine_and_queued_changes_show_in_the_metrics() {
    let job = pg_job("emp:*", "emp", &["id"], &["name"]);
    let ddl = "CREATE TABLE emp (id integer PRIMARY KEY, name text)";
    let p = PgPipeline::start(
        PgServer::shared(),
        RedisOpts::redis74(),
        "metrics_stopped",
        ddl,
        &[("emp", &job)],
    );
    let mut r = p.redis();
    call(&mut r, &["RDI.STOP"]);
    call(&mut r, &["HSET", "emp:1", "id", "1"]);
    call(&mut r, &["HSET", "emp:2", "id", "2"]);
    wait_until(
        Duration::from_secs(10),
        "the oldest change is 100 ms old",
        || metrics(&mut r).value("rdi_stream_event_latency_ms", &[("data_source", "emp")]) >= 100.0,
    );
    let e = metrics(&mut r);
    assert_eq!(
        e.value(
            "rdi_engine_state",
            &[("status", "STOPPED"), ("sync_mode", "UNKNOWN")]
        ),
        1.0
    );
    assert_eq!(
        e.value(
            "rdi_engine_state",
            &[("status", "RUNNING"), ("sync_mode", "UNKNOWN")]
        ),
        0.0
    );
    assert_eq!(e.value("rdi_stream_size", &[("data_source", "emp")]), 2.0);
    assert_eq!(e.value("rdi_incoming_entries", &ds("pending")), 2.0);
    assert_eq!(p.status().job("emp").pending, 2);
    call(&mut r, &["RDI.START"]);
    p.drain();
    let e = metrics(&mut r);
    assert_eq!(e.value("rdi_stream_size", &[("data_source", "emp")]), 0.0);
    assert_eq!(e.value("rdi_incoming_entries", &ds("inserted")), 2.0);
}
