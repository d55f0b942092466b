//! `redis.write`: a key expression, a data type with its `args`, a mapping of fields and aliases,
//! `on_update` and `expire`; keys that the job itself would capture are refused (no write loop).

use super::super::model::{
    OnUpdate, RedisDataType, RedisField, RedisOutput, REDIS_DEFAULT_CONNECTION,
};
use super::super::problem::{child_path, item_path};
use super::super::walker::{Fields, Walker};
use super::super::yaml::{Node, Value};
use super::key_guard::{may_match, static_prefix};
use super::OutputReader;
use crate::expr::{Expression, Language};

const REDIS_WRITE_KEYS: &[&str] = &[
    "connection",
    "data_type",
    "key",
    "args",
    "mapping",
    "on_update",
    "expire",
];
const ARGS: &[&str] = &["member", "score", "value"];

impl OutputReader<'_> {
    /// The `with` of a `redis.write` output; `None` if anything in it is invalid.
    pub(super) fn redis(&mut self, w: &mut Walker, node: &Node, path: &str) -> Option<RedisOutput> {
        let fields = w.map(node, path)?;
        fields.reject_unknown(w, REDIS_WRITE_KEYS);
        let connection = self.redis_connection(w, &fields);
        let data_type = match fields.get("data_type") {
            Some(node) => w
                .choice(node, &fields.child("data_type"), RedisDataType::NAMES)
                .and_then(RedisDataType::parse),
            None => Some(RedisDataType::Hash),
        };
        let key = fields
            .required(w, "key")
            .and_then(|node| self.key(w, node, &fields.child("key")));
        let args = match fields.get("args") {
            Some(node) => self.args(w, node, &fields.child("args")),
            None => Some(Args::default()),
        };
        let mapping = match fields.get("mapping") {
            Some(node) => self.aliases(w, node, &fields.child("mapping")),
            None => Some(Vec::new()),
        };
        // Every key is read before any `?`, so that one bad value does not hide the problems of the next.
        let on_update = match fields.get("on_update") {
            Some(node) => w
                .choice(node, &fields.child("on_update"), &["replace", "merge"])
                .map(|choice| match choice {
                    "merge" => OnUpdate::Merge,
                    _ => OnUpdate::Replace,
                }),
            None => Some(OnUpdate::Replace),
        };
        let expire = match fields.get("expire") {
            Some(node) => w.integer(node, &fields.child("expire"), 0, u64::from(u32::MAX)),
            None => Some(0),
        };
        let merges = match (data_type, on_update) {
            (Some(data_type), Some(OnUpdate::Merge)) => merges(w, &fields, data_type),
            _ => true,
        };
        let (data_type, args, mapping) = (data_type?, args?, mapping?);
        if !fits(w, &fields, data_type, &args, &mapping) || !merges {
            return None;
        }
        Some(RedisOutput {
            connection: connection?,
            data_type,
            key: key?,
            member: args.member,
            score: args.score,
            value: args.value,
            mapping,
            on_update: on_update?,
            expire: expire?,
        })
    }

    /// `connection`, or `target` when not given; it must be a `redis` connection.
    fn redis_connection(&self, w: &mut Walker, fields: &Fields) -> Option<String> {
        let (name, pos, path) = match fields.entry("connection") {
            Some((_, node)) => {
                let path = fields.child("connection");
                (self.connection(w, node, &path)?, node.pos, path)
            }
            None => {
                let name = REDIS_DEFAULT_CONNECTION.to_string();
                if self.connections.is_some_and(|names| !names.contains(&name)) {
                    let message =
                        "missing `connection`, and config.yaml declares no connection named \
                                   `target` (the default of redis.write)";
                    w.problem(fields.pos, &fields.path, message);
                    return None;
                }
                (name, fields.pos, fields.path.clone())
            }
        };
        match self.kinds.iter().find(|(n, _)| *n == name) {
            Some((_, kind)) if *kind != "redis" => {
                let message = format!(
                    "connection `{name}` is a {kind} connection; redis.write writes through a `redis` connection"
                );
                w.problem(pos, &path, message);
                None
            }
            _ => Some(name),
        }
    }

    /// `key: {expression, language}`, refused when it may produce keys the job captures.
    fn key(&mut self, w: &mut Walker, node: &Node, path: &str) -> Option<Expression> {
        let fields = w.map(node, path)?;
        fields.reject_unknown(w, &["expression", "language"]);
        let language = fields.required(w, "language").and_then(|n| {
            w.choice(n, &fields.child("language"), Language::NAMES)
                .and_then(Language::parse)
        });
        let (expr_node, expr_path) = (
            fields.required(w, "expression")?,
            fields.child("expression"),
        );
        let source = w.string(expr_node, &expr_path)?;
        let expression = match Expression::compile(language?, &source) {
            Ok(e) => e,
            Err(e) => {
                let message = format!("{e}; fix the expression or its `language`");
                w.problem(expr_node.pos, &expr_path, message);
                return None;
            }
        };
        let Some(pattern) = self.key_pattern.as_deref() else {
            return Some(expression);
        };
        match static_prefix(&expression) {
            Some(prefix) if may_match(pattern, &prefix) => {
                let message = format!(
                    "the key expression may produce keys that this job captures (key_pattern `{pattern}`); \
                     writing them into this Redis would feed the job its own output: start the keys with a \
                     prefix the pattern does not match"
                );
                w.problem(expr_node.pos, &expr_path, message);
                None
            }
            Some(_) => Some(expression),
            None => {
                let message = format!(
                    "cannot tell whether the key expression stays outside key_pattern `{pattern}`; if the \
                     target is this Redis, make sure it does, or the job would capture its own writes"
                );
                w.note(expr_node.pos, &expr_path, message);
                Some(expression)
            }
        }
    }

    fn args(&mut self, w: &mut Walker, node: &Node, path: &str) -> Option<Args> {
        let fields = w.map(node, path)?;
        fields.reject_unknown(w, ARGS);
        let mut read = |name: &str| match fields.get(name) {
            Some(node) => self.field(w, node, &fields.child(name)).map(Some),
            None => Some(None),
        };
        let (member, score, value) = (read("member"), read("score"), read("value"));
        Some(Args {
            member: member?,
            score: score?,
            value: value?,
            pos: Some((fields.pos, fields.path.clone())),
        })
    }

    /// `mapping`: `field` or `{field: alias}`; each alias once.
    fn aliases(&mut self, w: &mut Walker, node: &Node, path: &str) -> Option<Vec<RedisField>> {
        let items = w.seq(node, path)?;
        let mut out: Vec<RedisField> = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let path = item_path(path, i);
            let (field, alias) = match &item.value {
                Value::Map(pairs) if pairs.len() == 1 => {
                    let Some(fields) = w.map(item, &path) else {
                        ok = false;
                        continue;
                    };
                    let Some((field, _, value)) = fields.iter().next() else {
                        ok = false;
                        continue;
                    };
                    let alias = w.string(value, &child_path(&path, field));
                    (self.field_name(w, item, &path, field.to_string()), alias)
                }
                Value::Scalar { .. } => match self.field(w, item, &path) {
                    Some(f) => (f.clone(), Some(f)),
                    None => {
                        ok = false;
                        continue;
                    }
                },
                _ => {
                    let message = "must be a field name or a one-entry map `field: alias`";
                    w.problem(item.pos, &path, message);
                    ok = false;
                    continue;
                }
            };
            let Some(alias) = alias.filter(|a| !a.is_empty() && !field.is_empty()) else {
                w.problem(item.pos, &path, "the field and its alias must not be empty");
                ok = false;
                continue;
            };
            if out.iter().any(|f| f.alias == alias) {
                let message = format!("duplicate field `{alias}`; write each field once");
                w.problem(item.pos, &path, message);
                ok = false;
                continue;
            }
            out.push(RedisField {
                alias,
                expression: Expression::field(&field),
            });
        }
        ok.then_some(out)
    }
}

/// `args` as read; `pos` is where they were written.
#[derive(Default)]
struct Args {
    member: Option<String>,
    score: Option<String>,
    value: Option<String>,
    pos: Option<(super::super::yaml::Pos, String)>,
}

/// Data types whose objects `on_update: merge` writes over (HSET without DEL, JSON.MERGE).
const MERGED: &[RedisDataType] = &[RedisDataType::Hash, RedisDataType::Json];

/// Whether `on_update: merge` means something for the data type: strings are always replaced, streams
/// always appended to and set members added one by one, so it would be ignored there.
fn merges(w: &mut Walker, with: &Fields, data_type: RedisDataType) -> bool {
    if MERGED.contains(&data_type) {
        return true;
    }
    let names: Vec<&str> = MERGED.iter().map(|t| t.as_str()).collect();
    let message = format!(
        "`on_update: merge` applies to data_type {} only; data_type `{}` ignores it: remove \
         `on_update`",
        names.join(" and "),
        data_type.as_str()
    );
    let pos = with.get("on_update").map_or(with.pos, |n| n.pos);
    !w.tightened(pos, &with.child("on_update"), message)
}

/// Whether `args` and `mapping` fit the data type; reports what is missing or does not apply.
fn fits(
    w: &mut Walker,
    with: &Fields,
    data_type: RedisDataType,
    args: &Args,
    mapping: &[RedisField],
) -> bool {
    let (needed, mapped): (&[&str], bool) = match data_type {
        RedisDataType::Hash | RedisDataType::Json | RedisDataType::Stream => (&[], true),
        RedisDataType::Set => (&["member"], false),
        RedisDataType::SortedSet => (&["member", "score"], false),
        RedisDataType::String => (&["value"], false),
    };
    let name = data_type.as_str();
    let (pos, path) = args.pos.clone().unwrap_or((with.pos, with.path.clone()));
    let given = [
        ("member", &args.member),
        ("score", &args.score),
        ("value", &args.value),
    ];
    let mut ok = true;
    for (arg, value) in given {
        match (needed.contains(&arg), value.is_some()) {
            (true, false) => {
                let message =
                    format!("data_type `{name}` needs `args.{arg}`: the field holding the {arg}");
                w.problem(pos, &path, message);
                ok = false;
            }
            (false, true) => {
                let message = format!("`args.{arg}` does not apply to data_type `{name}`");
                w.problem(pos, &child_path(&path, arg), message);
                ok = false;
            }
            _ => {}
        }
    }
    if !mapped && !mapping.is_empty() {
        let message = format!("`mapping` does not apply to data_type `{name}`; use `args`");
        let pos = with.get("mapping").map_or(with.pos, |n| n.pos);
        w.problem(pos, &with.child("mapping"), message);
        ok = false;
    }
    ok
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::super::super::model::Output;
    use super::super::super::reference::SystemResolver;
    use super::super::super::yaml::parse;
    use super::*;

    fn read(yaml: &str, names: &[&str]) -> (Option<Vec<Output>>, Vec<String>, Vec<String>) {
        let resolver = SystemResolver::default();
        let mut w = Walker::new("jobs/emp.yaml", &resolver);
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let kinds: Vec<(String, &'static str)> = names
            .iter()
            .map(|n| (n.clone(), if n == "pg" { "postgresql" } else { "redis" }))
            .collect();
        let mut reader = OutputReader {
            connections: Some(&names),
            noted_after: false,
            kinds: &kinds,
            key_pattern: Some("emp:*".into()),
        };
        let outputs = reader.outputs(&mut w, &parse(yaml).unwrap());
        let problems = w.problems.iter().map(ToString::to_string).collect();
        (outputs, problems, w.notes)
    }

    const KEY: &str = "key: {expression: \"concat(['copy:', id])\", language: jmespath}";

    #[test]
    fn redis_write_reads_every_key_and_defaults_to_the_target_connection() {
        let yaml = format!(
            "- uses: redis.write\n  with:\n    data_type: json\n    {KEY}\n    \
             mapping: [name, {{after.city: address.city}}]\n    on_update: merge\n    expire: 30\n"
        );
        let (outputs, problems, _) = read(&yaml, &["target"]);
        assert!(problems.is_empty(), "{problems:?}");
        let Some([Output::Redis(out)]) = outputs.as_deref() else {
            panic!("{outputs:?}")
        };
        assert_eq!(out.connection, "target");
        assert_eq!(
            (out.data_type, out.on_update, out.expire),
            (RedisDataType::Json, OnUpdate::Merge, 30)
        );
        let aliases: Vec<(&str, Option<&str>)> = out
            .mapping
            .iter()
            .map(|f| (f.alias.as_str(), f.expression.as_field()))
            .collect();
        assert_eq!(
            aliases,
            [("name", Some("name")), ("address.city", Some("city"))]
        );
        assert_eq!(out.key.source(), "concat(['copy:', id])");
    }

    #[test]
    fn every_problem_of_a_redis_write_is_reported_with_its_position() {
        let yaml = "- uses: redis.write\n  with:\n    data_type: sorted_set\n    \
                    key: {expression: \"concat(['emp:', id])\", language: jmespath}\n    \
                    args: {member: name, value: v}\n    mapping: [a, {b: a}]\n    expire: -1\n    ttl: 3\n";
        let (outputs, problems, _) = read(yaml, &["pg"]);
        assert_eq!(outputs, None);
        assert_eq!(
            problems,
            [
                "jobs/emp.yaml:8:5: output[0].with.ttl: unknown key `ttl`; expected one of: connection, data_type, \
                 key, args, mapping, on_update, expire",
                "jobs/emp.yaml:3:5: output[0].with: missing `connection`, and config.yaml declares no connection \
                 named `target` (the default of redis.write)",
                "jobs/emp.yaml:4:23: output[0].with.key.expression: the key expression may produce keys that this \
                 job captures (key_pattern `emp:*`); writing them into this Redis would feed the job its own \
                 output: start the keys with a prefix the pattern does not match",
                "jobs/emp.yaml:6:18: output[0].with.mapping[1]: duplicate field `a`; write each field once",
                "jobs/emp.yaml:7:13: output[0].with.expire: must be an integer between 0 and 4294967295",
            ]
        );
        let yaml = format!("- uses: redis.write\n  with:\n    connection: pg\n    data_type: set\n    {KEY}\n    mapping: [a]\n");
        let (_, problems, _) = read(&yaml, &["pg"]);
        assert_eq!(
            problems,
            [
                "jobs/emp.yaml:3:17: output[0].with.connection: connection `pg` is a postgresql connection; \
                 redis.write writes through a `redis` connection",
                "jobs/emp.yaml:3:5: output[0].with: data_type `set` needs `args.member`: the field holding the member",
                "jobs/emp.yaml:6:14: output[0].with.mapping: `mapping` does not apply to data_type `set`; use `args`",
            ]
        );
    }

    #[test]
    fn keys_outside_the_pattern_pass_and_unknown_prefixes_are_noted() {
        let (_, problems, notes) = read(
            "- uses: redis.write\n  with: {key: {expression: id, language: jmespath}}\n",
            &["target"],
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            notes,
            ["jobs/emp.yaml:2:28: output[0].with.key.expression: cannot tell whether the key expression stays \
              outside key_pattern `emp:*`; if the target is this Redis, make sure it does, or the job would \
              capture its own writes"]
        );
    }

    #[test]
    fn a_bad_on_update_hides_no_other_problem() {
        let yaml = format!(
            "- uses: redis.write\n  with:\n    {KEY}\n    on_update: upsert\n    expire: soon\n    \
             args: {{value: v}}\n"
        );
        let (outputs, problems, _) = read(&yaml, &["target"]);
        assert_eq!(outputs, None);
        assert_eq!(
            problems,
            [
                "jobs/emp.yaml:4:16: output[0].with.on_update: must be one of: replace, merge, not `upsert`",
                "jobs/emp.yaml:5:13: output[0].with.expire: must be an integer between 0 and 4294967295",
                "jobs/emp.yaml:6:11: output[0].with.args.value: `args.value` does not apply to data_type `hash`",
            ]
        );
    }

    #[test]
    fn merge_is_refused_where_the_data_type_ignores_it() {
        for (data_type, args) in [
            ("string", "args: {value: v}"),
            ("stream", ""),
            ("set", "args: {member: m}"),
            ("sorted_set", "args: {member: m, score: s}"),
        ] {
            let yaml = format!(
                "- uses: redis.write\n  with:\n    {KEY}\n    data_type: {data_type}\n    \
                 on_update: merge\n    {args}\n"
            );
            let (outputs, problems, _) = read(&yaml, &["target"]);
            assert_eq!(outputs, None, "{data_type}");
            assert_eq!(
                problems,
                [format!(
                    "jobs/emp.yaml:5:16: output[0].with.on_update: `on_update: merge` applies to data_type \
                     hash and json only; data_type `{data_type}` ignores it: remove `on_update`"
                )]
            );
        }
        for data_type in ["hash", "json"] {
            let yaml = format!(
                "- uses: redis.write\n  with:\n    {KEY}\n    data_type: {data_type}\n    on_update: merge\n"
            );
            let (_, problems, _) = read(&yaml, &["target"]);
            assert!(problems.is_empty(), "{data_type}: {problems:?}");
        }
    }
}
