//! Replies of the operator commands: any command as words, error replies, map replies as fields.

use crate::commands::error_text;
use crate::status::{integer, pairs, render, text};
use redis::Value;
use std::collections::HashMap;

/// Runs one command given as words: its reply, or the error reply's text.
pub fn try_call(connection: &mut redis::Connection, words: &[&str]) -> Result<Value, String> {
    let mut command = redis::cmd(words[0]);
    for word in &words[1..] {
        command.arg(*word);
    }
    command.query(connection).map_err(|e| error_text(&e))
}

/// Runs one command that must fail; returns the error text. Panics with the reply when it succeeds.
pub fn call_err(connection: &mut redis::Connection, words: &[&str]) -> String {
    match try_call(connection, words) {
        Ok(reply) => panic!(
            "{} succeeded with {} but an error was expected",
            words.join(" "),
            render(&reply)
        ),
        Err(e) => e,
    }
}

/// A map reply (RESP3 map or RESP2 flat array) as fields by name.
pub fn fields(value: &Value) -> HashMap<String, Value> {
    let raw = render(value);
    pairs(value, "reply", &raw)
        .into_iter()
        .map(|(k, v)| (k, v.clone()))
        .collect()
}

/// The text field `name` of a map's fields; panics naming it when missing.
pub fn field_text(fields: &HashMap<String, Value>, name: &str) -> String {
    fields
        .get(name)
        .and_then(text)
        .unwrap_or_else(|| panic!("field {name:?} missing or not text in {fields:?}"))
}

/// The integer field `name` of a map's fields; panics naming it when missing.
pub fn field_int(fields: &HashMap<String, Value>, name: &str) -> i64 {
    fields
        .get(name)
        .and_then(integer)
        .unwrap_or_else(|| panic!("field {name:?} missing or not an integer in {fields:?}"))
}

/// The items of an array reply; panics when it is not one.
pub fn items(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) | Value::Set(items) => items.clone(),
        other => panic!("not an array: {}", render(other)),
    }
}

/// The text of a string reply; panics when it is not one.
pub fn string(value: &Value) -> String {
    text(value).unwrap_or_else(|| panic!("not a string: {}", render(value)))
}
