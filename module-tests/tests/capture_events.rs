//! Every write command of SPEC §3.1's table, one at a time on a real Redis 7.4 with RedisJSON: the
//! entries it queues (key and opcode, read with the writers stopped), then the row it leaves in
//! SQLite once written. Hash commands (HSET, HMSET, HSETNX, HINCRBY, HINCRBYFLOAT, HDEL, DEL, UNLINK,
//! RENAME, COPY, MOVE both ways, RESTORE) and every RedisJSON write (JSON.SET, JSON.MSET, JSON.MERGE,
//! JSON.NUMINCRBY, JSON.NUMMULTBY, JSON.STRAPPEND, JSON.TOGGLE, JSON.ARR*, JSON.CLEAR, JSON.DEL and
//! JSON.FORGET of a path and of the root).

use module_tests::targets::{Target, TargetKind};
use module_tests::{call, deploy_ok, drain, RedisOpts, RedisServer};
use redis::Value;

/// One command: what runs before it (captured and written first), what it queues, and the rows of
/// the ids it touches afterwards (`None`: no row).
struct Case {
    setup: &'static [&'static [&'static str]],
    command: &'static [&'static str],
    queued: &'static [(&'static str, &'static str)],
    rows: &'static [(&'static str, &'static str, Option<&'static [&'static str]>)],
}

const HASH_CASES: &[Case] = &[
    Case {
        setup: &[],
        command: &["HSET", "h:1", "id", "1", "a", "x"],
        queued: &[("h:1", "c")],
        rows: &[("hashes", "1", Some(&["x", "-"]))],
    },
    Case {
        setup: &[],
        command: &["HSET", "h:1", "b", "y"],
        queued: &[("h:1", "u")],
        rows: &[("hashes", "1", Some(&["x", "y"]))],
    },
    Case {
        setup: &[],
        command: &["HMSET", "h:2", "id", "2", "a", "m"],
        queued: &[("h:2", "c")],
        rows: &[("hashes", "2", Some(&["m", "-"]))],
    },
    Case {
        setup: &[],
        command: &["HSETNX", "h:2", "b", "n"],
        queued: &[("h:2", "u")],
        rows: &[("hashes", "2", Some(&["m", "n"]))],
    },
    // Changes nothing: no event, nothing queued.
    Case {
        setup: &[],
        command: &["HSETNX", "h:2", "b", "other"],
        queued: &[],
        rows: &[("hashes", "2", Some(&["m", "n"]))],
    },
    Case {
        setup: &[],
        command: &["HINCRBY", "h:3", "id", "3"],
        queued: &[("h:3", "c")],
        rows: &[("hashes", "3", Some(&["-", "-"]))],
    },
    Case {
        setup: &[],
        command: &["HINCRBYFLOAT", "h:3", "a", "1.5"],
        queued: &[("h:3", "u")],
        rows: &[("hashes", "3", Some(&["1.5", "-"]))],
    },
    Case {
        setup: &[],
        command: &["HDEL", "h:1", "b"],
        queued: &[("h:1", "u")],
        rows: &[("hashes", "1", Some(&["x", "-"]))],
    },
    Case {
        setup: &[],
        command: &["HDEL", "h:3", "a", "id"],
        queued: &[("h:3", "d")],
        rows: &[("hashes", "3", None)],
    },
    Case {
        setup: &[&["HSET", "h:4", "id", "4"]],
        command: &["DEL", "h:4"],
        queued: &[("h:4", "d")],
        rows: &[("hashes", "4", None)],
    },
    Case {
        setup: &[&["HSET", "h:4", "id", "4"]],
        command: &["UNLINK", "h:4"],
        queued: &[("h:4", "d")],
        rows: &[("hashes", "4", None)],
    },
    Case {
        setup: &[&["HSET", "h:5", "id", "5", "a", "r"]],
        command: &["RENAME", "h:5", "h:6"],
        queued: &[("h:5", "d"), ("h:6", "c")],
        rows: &[("hashes", "5", Some(&["r", "-"]))],
    },
    // The overwritten destination's row goes; the moved key's stays (same id).
    Case {
        setup: &[&["HSET", "h:7", "id", "7", "a", "gone"]],
        command: &["RENAME", "h:6", "h:7"],
        queued: &[("h:6", "d"), ("h:7", "d"), ("h:7", "c")],
        rows: &[("hashes", "5", Some(&["r", "-"])), ("hashes", "7", None)],
    },
    Case {
        setup: &[&["HSET", "h:8", "id", "8", "a", "copied"]],
        command: &["COPY", "h:8", "h:9"],
        queued: &[("h:9", "c")],
        rows: &[("hashes", "8", Some(&["copied", "-"]))],
    },
    Case {
        setup: &[&["HSET", "h:10", "id", "10", "a", "replaced"]],
        command: &["COPY", "h:1", "h:10", "REPLACE"],
        queued: &[("h:10", "d"), ("h:10", "c")],
        rows: &[("hashes", "10", None), ("hashes", "1", Some(&["x", "-"]))],
    },
    Case {
        setup: &[&["HSET", "h:11", "id", "11", "a", "moved"]],
        command: &["MOVE", "h:11", "1"],
        queued: &[("h:11", "d")],
        rows: &[("hashes", "11", None)],
    },
    // Back into database 0, the one the jobs watch.
    Case {
        setup: &[&["SELECT", "1"]],
        command: &["MOVE", "h:11", "0"],
        queued: &[("h:11", "c")],
        rows: &[("hashes", "11", Some(&["moved", "-"]))],
    },
];

const JSON_CASES: &[Case] = &[
    Case {
        setup: &[],
        command: &[
            "JSON.SET",
            "j:1",
            "$",
            r#"{"id":1,"a":"x","n":2,"t":true,"l":[1]}"#,
        ],
        queued: &[("j:1", "c")],
        rows: &[("docs", "1", Some(&["x", "2", "true", "[1]"]))],
    },
    Case {
        setup: &[],
        command: &["JSON.SET", "j:1", "$.a", r#""y""#],
        queued: &[("j:1", "u")],
        rows: &[("docs", "1", Some(&["y", "2", "true", "[1]"]))],
    },
    Case {
        setup: &[],
        command: &[
            "JSON.MSET",
            "j:1",
            "$.a",
            r#""z""#,
            "j:2",
            "$",
            r#"{"id":2,"a":"two"}"#,
        ],
        queued: &[("j:1", "u"), ("j:2", "c")],
        rows: &[
            ("docs", "1", Some(&["z", "2", "true", "[1]"])),
            ("docs", "2", Some(&["two", "-", "-", "-"])),
        ],
    },
    Case {
        setup: &[],
        command: &["JSON.MERGE", "j:2", "$", r#"{"n":7}"#],
        queued: &[("j:2", "u")],
        rows: &[("docs", "2", Some(&["two", "7", "-", "-"]))],
    },
    Case {
        setup: &[],
        command: &["JSON.NUMINCRBY", "j:1", "$.n", "3"],
        queued: &[("j:1", "u")],
        rows: &[("docs", "1", Some(&["z", "5", "true", "[1]"]))],
    },
    Case {
        setup: &[],
        command: &["JSON.NUMMULTBY", "j:1", "$.n", "2"],
        queued: &[("j:1", "u")],
        rows: &[("docs", "1", Some(&["z", "10", "true", "[1]"]))],
    },
    Case {
        setup: &[],
        command: &["JSON.STRAPPEND", "j:1", "$.a", r#""!""#],
        queued: &[("j:1", "u")],
        rows: &[("docs", "1", Some(&["z!", "10", "true", "[1]"]))],
    },
    Case {
        setup: &[],
        command: &["JSON.TOGGLE", "j:1", "$.t"],
        queued: &[("j:1", "u")],
        rows: &[("docs", "1", Some(&["z!", "10", "false", "[1]"]))],
    },
    Case {
        setup: &[],
        command: &["JSON.ARRAPPEND", "j:1", "$.l", "2", "3"],
        queued: &[("j:1", "u")],
        rows: &[("docs", "1", Some(&["z!", "10", "false", "[1,2,3]"]))],
    },
    Case {
        setup: &[],
        command: &["JSON.ARRINSERT", "j:1", "$.l", "0", "0"],
        queued: &[("j:1", "u")],
        rows: &[("docs", "1", Some(&["z!", "10", "false", "[0,1,2,3]"]))],
    },
    Case {
        setup: &[],
        command: &["JSON.ARRPOP", "j:1", "$.l"],
        queued: &[("j:1", "u")],
        rows: &[("docs", "1", Some(&["z!", "10", "false", "[0,1,2]"]))],
    },
    Case {
        setup: &[],
        command: &["JSON.ARRTRIM", "j:1", "$.l", "1", "1"],
        queued: &[("j:1", "u")],
        rows: &[("docs", "1", Some(&["z!", "10", "false", "[1]"]))],
    },
    Case {
        setup: &[],
        command: &["JSON.CLEAR", "j:1", "$.l"],
        queued: &[("j:1", "u")],
        rows: &[("docs", "1", Some(&["z!", "10", "false", "[]"]))],
    },
    Case {
        setup: &[],
        command: &["JSON.DEL", "j:1", "$.a"],
        queued: &[("j:1", "u")],
        rows: &[("docs", "1", Some(&["-", "10", "false", "[]"]))],
    },
    Case {
        setup: &[],
        command: &["JSON.FORGET", "j:1", "$.n"],
        queued: &[("j:1", "u")],
        rows: &[("docs", "1", Some(&["-", "-", "false", "[]"]))],
    },
    Case {
        setup: &[],
        command: &["JSON.FORGET", "j:1"],
        queued: &[("j:1", "d")],
        rows: &[("docs", "1", None)],
    },
    Case {
        setup: &[],
        command: &["JSON.DEL", "j:2", "$"],
        queued: &[("j:2", "d")],
        rows: &[("docs", "2", None)],
    },
];

/// The (key, opcode) of every entry of `queue`, oldest first.
fn queued(r: &mut redis::Connection, queue: &str) -> Vec<(String, String)> {
    let entries: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg(queue)
        .arg("-")
        .arg("+")
        .query(r)
        .unwrap();
    entries
        .into_iter()
        .map(|(_, fields)| (fields[1].clone(), fields[3].clone()))
        .collect()
}

fn send(r: &mut redis::Connection, words: &[&str]) -> Value {
    let mut cmd = redis::cmd(words[0]);
    for word in &words[1..] {
        cmd.arg(*word);
    }
    cmd.query(r)
        .unwrap_or_else(|e| panic!("{}: {e}", words.join(" ")))
}

/// A server with the jobs `hashes` (`h:*`) and `docs` (`j:*`) writing to SQLite; `source` lines are
/// added to the `docs` job's source.
fn deployed(docs_source: &str) -> (RedisServer, Target, redis::Connection) {
    let redis = RedisServer::start(RedisOpts::redis74()).expect("start redis");
    let ddl = "CREATE TABLE hashes (id INTEGER PRIMARY KEY, a TEXT, b TEXT); \
               CREATE TABLE docs (id INTEGER PRIMARY KEY, a TEXT, n TEXT, t TEXT, l TEXT)";
    let target = Target::create(TargetKind::Sqlite, "capture_events", ddl, &[]);
    let docs = target.job("j:*", "docs", &["id"], &["a", "n", "t", "l"]);
    let trigger = "trigger: write-behind\n";
    let docs = docs.replace(trigger, &format!("{trigger}{docs_source}"));
    let jobs = [
        ("hashes", target.job("h:*", "hashes", &["id"], &["a", "b"])),
        ("docs", docs),
    ];
    let jobs: Vec<(&str, &str)> = jobs.iter().map(|(n, y)| (*n, y.as_str())).collect();
    let mut r = redis.client();
    deploy_ok(&mut r, target.config(), &jobs);
    (redis, target, r)
}

/// Runs `cases` on the keys of `job`'s queue; a NULL column reads as `-`.
fn run(cases: &[Case], job: &str, columns: &str) {
    let (redis, mut target, mut r) = deployed("");
    let queue = format!("__rdi__:queue:{job}");
    for case in cases {
        let what = case.command.join(" ");
        // Each case on a connection of its own: a SELECT in the setup holds for its command only.
        let mut c = redis.client();
        for setup in case.setup {
            send(&mut c, setup);
        }
        drain(&mut r);
        call(&mut r, &["RDI.STOP"]);
        send(&mut c, case.command);
        let want: Vec<(String, String)> = case
            .queued
            .iter()
            .map(|(k, o)| (k.to_string(), o.to_string()))
            .collect();
        assert_eq!(queued(&mut r, &queue), want, "{what}: the entries queued");
        call(&mut r, &["RDI.START"]);
        drain(&mut r);
        for (table, id, row) in case.rows {
            let got = target.rows(&format!(
                "SELECT {} FROM {table} WHERE id = {id}",
                if *table == "docs" { columns } else { "a, b" }
            ));
            let want: Vec<Vec<Option<String>>> = row
                .iter()
                .map(|cells| {
                    cells
                        .iter()
                        .map(|c| (*c != "-").then(|| c.to_string()))
                        .collect()
                })
                .collect();
            assert_eq!(got, want, "{what}: the row of {table} id {id}");
        }
    }
    let status = module_tests::Status::query(&mut r);
    assert_eq!(status.job(job).rejected, 0, "{}", status.raw);
}

#[test]
fn every_hash_command_queues_its_opcodes_and_leaves_its_row() {
    run(HASH_CASES, "hashes", "a, b");
}

#[test]
fn every_json_write_queues_its_opcodes_and_leaves_its_row() {
    run(JSON_CASES, "docs", "a, n, t, l");
}

#[test]
fn restore_queues_a_create_and_restore_replace_a_delete_then_a_create() {
    let (_redis, mut target, mut r) = deployed("");
    call(&mut r, &["HSET", "h:1", "id", "1", "a", "dumped"]);
    let dump: Vec<u8> = redis::cmd("DUMP").arg("h:1").query(&mut r).unwrap();
    call(&mut r, &["DEL", "h:1"]);
    drain(&mut r);
    assert_eq!(target.count("SELECT count(*) FROM hashes"), 0);
    let restore = |r: &mut redis::Connection, replace: bool| {
        let mut cmd = redis::cmd("RESTORE");
        cmd.arg("h:1").arg(0).arg(&dump);
        if replace {
            cmd.arg("REPLACE");
        }
        cmd.query::<()>(r).unwrap();
    };
    call(&mut r, &["RDI.STOP"]);
    restore(&mut r, false);
    assert_eq!(
        queued(&mut r, "__rdi__:queue:hashes"),
        [("h:1".into(), "c".into())]
    );
    call(&mut r, &["RDI.START"]);
    drain(&mut r);
    let row = |target: &mut Target| target.rows("SELECT a FROM hashes WHERE id = 1");
    assert_eq!(row(&mut target), [[Some("dumped".to_string())]]);

    call(&mut r, &["HSET", "h:1", "a", "changed"]);
    drain(&mut r);
    call(&mut r, &["RDI.STOP"]);
    restore(&mut r, true);
    let entries = queued(&mut r, "__rdi__:queue:hashes");
    // As COPY ... REPLACE: the replaced value's row goes first (its id may differ).
    assert_eq!(
        entries,
        [("h:1".into(), "d".into()), ("h:1".into(), "c".into())]
    );
    call(&mut r, &["RDI.START"]);
    drain(&mut r);
    assert_eq!(row(&mut target), [[Some("dumped".to_string())]]);
}

/// RedisJSON sends `json.del` for JSON.FORGET and JSON.DEL alike: excluding `json.forget` (SPEC
/// §3.1 names it) excludes both, as the deploy's note says.
#[test]
fn excluding_json_forget_excludes_both_deletes_of_a_path() {
    let (_redis, mut target, mut r) = deployed("    exclude_commands: [json.forget]\n");
    call(
        &mut r,
        &["JSON.SET", "j:1", "$", r#"{"id":1,"a":"x","n":2}"#],
    );
    drain(&mut r);
    call(&mut r, &["RDI.STOP"]);
    call(&mut r, &["JSON.FORGET", "j:1", "$.a"]);
    call(&mut r, &["JSON.DEL", "j:1", "$.n"]);
    call(&mut r, &["JSON.SET", "j:1", "$.t", "true"]);
    assert_eq!(
        queued(&mut r, "__rdi__:queue:docs"),
        [("j:1".into(), "u".into())]
    );
    call(&mut r, &["RDI.START"]);
    drain(&mut r);
    // The JSON.SET after them wrote the whole document as it is now.
    let row = target.rows("SELECT a, n, t FROM docs WHERE id = 1");
    assert_eq!(row, [[None, None, Some("true".to_string())]]);
}
