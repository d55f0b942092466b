//! The `connections` section of `config.yaml`: one typed [`Connection`] per named target.

use std::collections::BTreeMap;

use super::model::{Connection, SqlServerConnection, POSTGRESQL_PORT_DEFAULT};
use super::walker::{Fields, Walker};
use super::yaml::Node;

/// Connection types this build can write to.
const SUPPORTED_TYPES: &[&str] = &["postgresql", "sqlite"];
/// Connection types of the specification that are not built yet.
const PLANNED_TYPES: &[&str] = &[
    "mysql",
    "mariadb",
    "oracle",
    "sqlserver",
    "cassandra",
    "redis",
];

const POSTGRESQL_KEYS: &[&str] = &[
    "host",
    "port",
    "database",
    "user",
    "password",
    "connect_args",
    "query_args",
];
const POSTGRESQL_QUERY_ARGS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "application_name",
    "connect_timeout",
];
const POSTGRESQL_CONNECT_ARGS: &[&str] = &[
    "connect_timeout",
    "application_name",
    "options",
    "keepalives",
    "keepalives_idle",
];
const SSLMODES: &[&str] = &["disable", "prefer", "require", "verify-ca", "verify-full"];
const SQLITE_KEYS: &[&str] = &["path"];

/// Reads the `connections` map. Every declared name is returned, with `None` when its entry is invalid,
/// so that jobs naming it are not reported a second time.
pub fn connections(w: &mut Walker, node: &Node) -> BTreeMap<String, Option<Connection>> {
    let mut out = BTreeMap::new();
    let Some(fields) = w.map(node, "connections") else {
        return out;
    };
    for (name, key, value) in fields.iter() {
        if name.is_empty() {
            w.problem(key.pos, &fields.path, "connection name must not be empty");
            continue;
        }
        let connection = connection(w, name, value, &fields.child(name));
        out.insert(name.to_string(), connection);
    }
    out
}

fn connection(w: &mut Walker, name: &str, node: &Node, path: &str) -> Option<Connection> {
    let fields = w.map(node, path)?;
    let type_node = fields.required(w, "type")?;
    let type_path = fields.child("type");
    let kind = w.text(type_node, &type_path)?;
    let supported = SUPPORTED_TYPES.join(", ");
    let allowed = match kind.text.as_str() {
        "postgresql" => POSTGRESQL_KEYS,
        "sqlite" => SQLITE_KEYS,
        other if PLANNED_TYPES.contains(&other) => {
            let message =
                format!("connection type `{other}` is not supported yet (supported: {supported})");
            w.problem(type_node.pos, &type_path, message);
            return None;
        }
        _ => {
            let shown = kind.mention();
            let message = format!("unknown connection type{shown}; expected one of: {supported}");
            w.problem(type_node.pos, &type_path, message);
            return None;
        }
    };
    // `type` is not listed: a user who wrote a wrong key already has the right type.
    for (key, key_node, _) in fields.iter() {
        if key != "type" && !allowed.contains(&key) {
            let message = format!(
                "unknown key `{key}`; expected one of: {}",
                allowed.join(", ")
            );
            w.problem(key_node.pos, &fields.child(key), message);
        }
    }
    if kind.text == "sqlite" {
        let path = w.required_string(&fields, "path")?;
        return Some(Connection::Sqlite { path });
    }
    postgresql(w, name, &fields).map(Connection::Postgresql)
}

fn postgresql(w: &mut Walker, name: &str, fields: &Fields) -> Option<SqlServerConnection> {
    let host = w.required_string(fields, "host");
    let database = w.required_string(fields, "database");
    let user = w.required_string(fields, "user");
    let password = w.optional_string(fields, "password");
    let port = match fields.get("port") {
        None => Some(POSTGRESQL_PORT_DEFAULT),
        Some(node) => w
            .integer(node, &fields.child("port"), 1, u64::from(u16::MAX))
            .and_then(|p| u16::try_from(p).ok()),
    };
    let connect_args = args(w, fields, "connect_args", POSTGRESQL_CONNECT_ARGS, name);
    let query_args = args(w, fields, "query_args", POSTGRESQL_QUERY_ARGS, name);
    Some(SqlServerConnection {
        host: host?,
        port: port?,
        database: database?,
        user: user?,
        password,
        connect_args: connect_args?,
        query_args: query_args?,
    })
}

/// A `connect_args` or `query_args` map: only `allowed` keys, string values, some of them checked.
fn args(
    w: &mut Walker,
    fields: &Fields,
    key: &str,
    allowed: &[&str],
    connection: &str,
) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let Some(node) = fields.get(key) else {
        return Some(out);
    };
    let args = w.map(node, &fields.child(key))?;
    let mut ok = true;
    for (name, key_node, value) in args.iter() {
        let path = args.child(name);
        if !allowed.contains(&name) {
            let message = format!(
                "unknown {key} key `{name}` for connection `{connection}`; expected one of: {}",
                allowed.join(", ")
            );
            w.problem(key_node.pos, &path, message);
            ok = false;
            continue;
        }
        let checked = match name {
            "sslmode" => w.choice(value, &path, SSLMODES).map(str::to_string),
            "connect_timeout" | "keepalives_idle" => {
                w.integer(value, &path, 0, u64::MAX).map(|n| n.to_string())
            }
            "keepalives" => w.integer(value, &path, 0, 1).map(|n| n.to_string()),
            _ => w.string(value, &path),
        };
        match checked {
            Some(text) => {
                out.insert(name.to_string(), text);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::super::reference::SystemResolver;
    use super::super::yaml::parse;
    use super::*;

    fn read(yaml: &str) -> (BTreeMap<String, Option<Connection>>, Vec<String>) {
        let resolver = SystemResolver::default();
        let mut w = Walker::new("config.yaml", &resolver);
        let found = connections(&mut w, &parse(yaml).unwrap());
        (found, w.problems.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn postgresql_reads_every_key_and_defaults_the_port() {
        let yaml = "pg:\n  type: postgresql\n  host: db\n  database: app\n  user: u\n  password: p\n  \
                    query_args: {sslmode: require, connect_timeout: '10'}\n  connect_args: {application_name: rdi}\n";
        let (found, problems) = read(yaml);
        assert!(problems.is_empty(), "{problems:?}");
        let expected = SqlServerConnection {
            host: "db".into(),
            port: 5432,
            database: "app".into(),
            user: "u".into(),
            password: Some("p".into()),
            connect_args: BTreeMap::from([("application_name".into(), "rdi".into())]),
            query_args: BTreeMap::from([
                ("connect_timeout".into(), "10".into()),
                ("sslmode".into(), "require".into()),
            ]),
        };
        assert_eq!(found["pg"], Some(Connection::Postgresql(expected)));
    }

    #[test]
    fn sqlite_needs_a_path() {
        let (found, problems) =
            read("local:\n  type: sqlite\n  path: /tmp/x.db\nbad:\n  type: sqlite\n");
        assert_eq!(
            found["local"],
            Some(Connection::Sqlite {
                path: "/tmp/x.db".into()
            })
        );
        assert_eq!(found["bad"], None);
        assert_eq!(
            problems,
            ["config.yaml:5:3: connections.bad: missing required key `path`"]
        );
    }

    #[test]
    fn unknown_keys_and_missing_required_keys_are_all_reported() {
        let (found, problems) =
            read("pg:\n  type: postgresql\n  hots: db\n  port: 70000\n  user: u\n");
        assert_eq!(found["pg"], None);
        assert_eq!(
            problems,
            [
                "config.yaml:3:3: connections.pg.hots: unknown key `hots`; expected one of: host, port, database, user, \
                 password, connect_args, query_args",
                "config.yaml:2:3: connections.pg: missing required key `host`",
                "config.yaml:2:3: connections.pg: missing required key `database`",
                "config.yaml:4:9: connections.pg.port: must be an integer between 1 and 65535",
            ]
        );
    }

    #[test]
    fn unsupported_and_unknown_types_are_problems() {
        let (_, problems) = read("my:\n  type: mysql\nx:\n  type: db2\ny:\n  host: h\n");
        assert_eq!(
            problems,
            [
                "config.yaml:2:9: connections.my.type: connection type `mysql` is not supported yet (supported: postgresql, sqlite)",
                "config.yaml:4:9: connections.x.type: unknown connection type `db2`; expected one of: postgresql, sqlite",
                "config.yaml:6:3: connections.y: missing required key `type`",
            ]
        );
    }

    #[test]
    fn args_keys_and_values_are_checked_per_connection() {
        let yaml = "pg:\n  type: postgresql\n  host: h\n  database: d\n  user: u\n  \
                    query_args:\n    sslmode: maybe\n    ssl_ca: x\n  connect_args:\n    keepalives: 2\n";
        let (found, problems) = read(yaml);
        assert_eq!(found["pg"], None);
        assert_eq!(
            problems,
            [
                "config.yaml:10:17: connections.pg.connect_args.keepalives: must be an integer between 0 and 1",
                "config.yaml:7:14: connections.pg.query_args.sslmode: must be one of: disable, prefer, require, verify-ca, \
                 verify-full, not `maybe`",
                "config.yaml:8:5: connections.pg.query_args.ssl_ca: unknown query_args key `ssl_ca` for connection `pg`; \
                 expected one of: sslmode, sslrootcert, sslcert, sslkey, application_name, connect_timeout",
            ]
        );
    }

    #[test]
    fn connections_must_be_a_map_of_maps() {
        let (found, problems) = read("pg: postgresql\n");
        assert_eq!(found["pg"], None);
        assert_eq!(problems, ["config.yaml:1:5: connections.pg: must be a map"]);
        let (found, problems) = read("- pg\n");
        assert!(found.is_empty());
        assert_eq!(problems, ["config.yaml:1:1: connections: must be a map"]);
    }

    #[test]
    fn duplicate_and_empty_connection_names_and_aliases_are_problems() {
        let config = "pg: &pg {type: sqlite, path: a.db}\npg: {type: sqlite, path: b.db}\n\
                      '': {type: sqlite, path: c.db}\ncopy: *pg\n";
        assert_eq!(
            read(config).1,
            [
                "config.yaml:2:1: connections.pg: duplicate key `pg` (first at line 1); keep one",
                "config.yaml:3:1: connections: connection name must not be empty",
                "config.yaml:4:7: connections.copy: aliases (`*name`) are not supported; write the value out",
            ]
        );
    }
}
