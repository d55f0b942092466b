//! Test-only: its `mod` line carries #[cfg(test)].
//! The writer conformance suite against a real target Redis (with RedisJSON) started by each test,
//! for every data type: hash (replace and merge), json, set, sorted_set, stream and string.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde_json::Value;

use super::tests::TestRedis;
use super::RedisWriter;
use crate::config::{OnUpdate, RedisDataType};
use crate::writer::conformance::{
    conformance_tests, row, row_at, Change, Emp, Harness, Poison, Rows, Shape,
};
use crate::writer::Writer;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn harness(data_type: RedisDataType, on_update: OnUpdate) -> Harness {
    let shape = Shape::Redis(data_type, on_update);
    let server = Rc::new(RefCell::new(TestRedis::start()));
    let settings = server.borrow().settings();
    let connect = move || Box::new(RedisWriter::connect(&settings).unwrap()) as Box<dyn Writer>;
    let (read, poisoner, outage) = (server.clone(), server.clone(), server);
    Harness {
        writer: connect(),
        shape,
        state: Box::new(move || state(&read.borrow(), data_type)),
        connect: Box::new(connect),
        poison: Box::new(move |e| poison(&poisoner.borrow(), shape, e)),
        // An outage: the server goes down (keeping its data in an RDB file) and comes back.
        outage: Some(Box::new(move |start| {
            let mut server = outage.borrow_mut();
            if start {
                server.cmd::<()>(&["SAVE"]);
                server.stop();
            } else {
                server.restart();
            }
        })),
        default_schema_prefix: "",
    }
}

/// Arranges for `e`'s write to meet a key of another type. Types whose write replaces the key (a
/// string's SET, a replacing hash's DEL + HSET) overwrite it; the others are refused for that
/// record alone, at a key outside what the state reads.
fn poison(server: &TestRedis, shape: Shape, e: &Emp) -> Poison {
    let Shape::Redis(data_type, on_update) = shape else {
        panic!("not a redis shape");
    };
    let put = Change::Put(e.clone());
    let overwrites = data_type == RedisDataType::String
        || (data_type == RedisDataType::Hash && on_update == OnUpdate::Replace);
    if overwrites {
        let key = shape.key(e.id);
        match data_type {
            RedisDataType::String => server.cmd::<()>(&["HSET", &key, "foreign", "1"]),
            _ => server.cmd::<()>(&["SET", &key, "foreign"]),
        }
        return Poison::Written(row(shape, &put));
    }
    let key = format!("poison:{}", e.id);
    server.cmd::<()>(&["SET", &key, "foreign"]);
    let reason = match (data_type, on_update) {
        (RedisDataType::Hash, _) => format!("HSET: {WRONGTYPE}"),
        (RedisDataType::Json, OnUpdate::Replace) => {
            "JSON.SET: Existing key has wrong Redis type".into()
        }
        (RedisDataType::Json, OnUpdate::Merge) => {
            "JSON.MERGE: Existing key has wrong Redis type".into()
        }
        (RedisDataType::Set, _) => format!("SADD: {WRONGTYPE}"),
        (RedisDataType::SortedSet, _) => format!("ZADD: {WRONGTYPE}"),
        (RedisDataType::Stream, _) => format!("XADD: {WRONGTYPE}"),
        (RedisDataType::String, _) => unreachable!("strings overwrite"),
    };
    Poison::Refused(row_at(shape, &put, &key), reason)
}

/// The target's state as [`Shape::Redis`] spells it. Fields other than the record's are appended as
/// `field=value`, so that stray fields fail the comparison.
fn state(server: &TestRedis, data_type: RedisDataType) -> Rows {
    let some = |s: &str| Some(s.to_string());
    let keys = || {
        let mut keys: Vec<String> = server.cmd(&["KEYS", "emp:*"]);
        keys.sort();
        keys
    };
    let id = |key: &str| key.strip_prefix("emp:").map(str::to_string);
    let record = |key: &str, mut fields: BTreeMap<String, String>| {
        let mut row = vec![id(key), fields.remove("name"), fields.remove("age")];
        row.extend(fields.into_iter().map(|(k, v)| Some(format!("{k}={v}"))));
        row
    };
    match data_type {
        RedisDataType::Hash => keys()
            .iter()
            .map(|k| record(k, server.cmd(&["HGETALL", k])))
            .collect(),
        RedisDataType::Json => keys()
            .iter()
            .map(|k| {
                let text: String = server.cmd(&["JSON.GET", k, "$"]);
                let docs: Vec<BTreeMap<String, Value>> = serde_json::from_str(&text).unwrap();
                let fields = docs[0]
                    .iter()
                    .map(|(f, v)| (f.clone(), super::commands::text(v)))
                    .collect();
                record(k, fields)
            })
            .collect(),
        RedisDataType::String => keys()
            .iter()
            .map(|k| vec![id(k), server.cmd(&["GET", k])])
            .collect(),
        RedisDataType::Set => server
            .cmd::<Vec<String>>(&["SMEMBERS", "emps"])
            .iter()
            .map(|m| vec![some(m)])
            .collect(),
        RedisDataType::SortedSet => server
            .cmd::<Vec<(String, String)>>(&["ZRANGE", "emps", "0", "-1", "WITHSCORES"])
            .iter()
            .map(|(m, score)| vec![some(m), some(score)])
            .collect(),
        RedisDataType::Stream => server
            .cmd::<Vec<(String, Vec<String>)>>(&["XRANGE", "emps", "-", "+"])
            .into_iter()
            .map(|(_, fields)| {
                let (names, values): (Vec<_>, Vec<_>) = fields
                    .chunks(2)
                    .map(|pair| (pair[0].clone(), some(&pair[1])))
                    .unzip();
                let mut row = values;
                if names != ["op_code", "id", "name", "age"] {
                    row.push(Some(format!("fields {names:?}")));
                }
                row
            })
            .collect(),
    }
}

use OnUpdate::{Merge, Replace};
use RedisDataType as T;

conformance_tests!(hash, |_| super::harness(super::T::Hash, super::Replace));
conformance_tests!(hash_merge, |_| super::harness(super::T::Hash, super::Merge));
conformance_tests!(json, |_| super::harness(super::T::Json, super::Replace));
conformance_tests!(json_merge, |_| super::harness(super::T::Json, super::Merge));
conformance_tests!(set, |_| super::harness(super::T::Set, super::Replace));
conformance_tests!(sorted_set, |_| super::harness(
    super::T::SortedSet,
    super::Replace
));
conformance_tests!(stream, |_| super::harness(super::T::Stream, super::Replace));
conformance_tests!(string, |_| super::harness(super::T::String, super::Replace));
