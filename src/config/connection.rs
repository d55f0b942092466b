//! The `connections` section of `config.yaml`: one typed [`Connection`] per named target.

use std::collections::BTreeMap;

use super::connection_redis::{redis, REDIS_KEYS};
use super::connection_types::{
    bool_word, sql_type, Arg, ArgCheck, SqlType, CASSANDRA_CONNECT_ARGS, CASSANDRA_KEYS,
    SQLITE_KEYS, SQL_KEYS,
};
use super::model::{CassandraConnection, Connection, SqlServerConnection, CASSANDRA_PORT_DEFAULT};
use super::walker::{Fields, Walker};
use super::yaml::Node;

/// Connection types this build can write to.
const SUPPORTED_TYPES: &[&str] = &[
    "postgresql",
    "mysql",
    "mariadb",
    "sqlserver",
    "oracle",
    "cassandra",
    "redis",
    "sqlite",
];
/// Connection types of the specification that are not built yet.
const PLANNED_TYPES: &[&str] = &[];

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
    let sql = sql_type(&kind.text);
    let allowed = match kind.text.as_str() {
        _ if sql.is_some() => SQL_KEYS,
        "sqlite" => SQLITE_KEYS,
        "cassandra" => CASSANDRA_KEYS,
        "redis" => REDIS_KEYS,
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
    match (kind.text.as_str(), sql) {
        ("sqlite", _) => {
            let path = w.required_string(&fields, "path")?;
            Some(Connection::Sqlite { path })
        }
        ("cassandra", _) => cassandra(w, name, &fields).map(Connection::Cassandra),
        ("redis", _) => redis(w, &fields).map(Connection::Redis),
        (_, Some(sql)) => {
            let settings = sql_server(w, name, &fields, sql)?;
            Some(match sql.name {
                "mysql" => Connection::Mysql(settings),
                "mariadb" => Connection::Mariadb(settings),
                "sqlserver" => Connection::Sqlserver(settings),
                "oracle" => Connection::Oracle(settings),
                _ => Connection::Postgresql(settings),
            })
        }
        _ => None,
    }
}

fn port(w: &mut Walker, fields: &Fields, default: u16) -> Option<u16> {
    match fields.get("port") {
        None => Some(default),
        Some(node) => w
            .integer(node, &fields.child("port"), 1, u64::from(u16::MAX))
            .and_then(|p| u16::try_from(p).ok()),
    }
}

fn sql_server(
    w: &mut Walker,
    name: &str,
    fields: &Fields,
    sql: &SqlType,
) -> Option<SqlServerConnection> {
    let host = w.required_string(fields, "host");
    let database = if sql.database_required {
        w.required_string(fields, "database")
    } else {
        Some(w.optional_string(fields, "database").unwrap_or_default())
    };
    let user = w.required_string(fields, "user");
    let password = w.credential(fields, "password");
    let port = port(w, fields, sql.default_port);
    let connect_args = args(w, fields, "connect_args", sql.connect_args, name);
    let query_args = args(w, fields, "query_args", sql.query_args, name);
    if let (Some(""), Some(query_args)) = (database.as_deref(), &query_args) {
        if !query_args.contains_key("service_name") && !query_args.contains_key("sid") {
            let message = "missing `database` (the service name) or `query_args.service_name`";
            w.problem(fields.pos, &fields.path, message);
            return None;
        }
    }
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

fn cassandra(w: &mut Walker, name: &str, fields: &Fields) -> Option<CassandraConnection> {
    let hosts = fields.required(w, "hosts").and_then(|node| {
        let path = fields.child("hosts");
        let items = w.seq(node, &path)?;
        if items.is_empty() {
            w.problem(node.pos, &path, "must list at least one host");
            return None;
        }
        let hosts: Vec<Option<String>> = items
            .iter()
            .enumerate()
            .map(|(i, item)| w.string(item, &format!("{path}[{i}]")))
            .collect();
        hosts.into_iter().collect::<Option<Vec<_>>>()
    });
    let port = port(w, fields, CASSANDRA_PORT_DEFAULT);
    let user = w.optional_string(fields, "user");
    let password = w.credential(fields, "password");
    let connect_args = args(w, fields, "connect_args", CASSANDRA_CONNECT_ARGS, name);
    Some(CassandraConnection {
        hosts: hosts?,
        port: port?,
        user,
        password,
        connect_args: connect_args?,
    })
}

/// A `connect_args` or `query_args` map: only `allowed` keys, string values, each checked.
fn args(
    w: &mut Walker,
    fields: &Fields,
    key: &str,
    allowed: &[Arg],
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
        let Some((_, check)) = allowed.iter().find(|(k, _)| *k == name) else {
            let names: Vec<&str> = allowed.iter().map(|(k, _)| *k).collect();
            let message = format!(
                "unknown {key} key `{name}` for connection `{connection}`; expected one of: {}",
                names.join(", ")
            );
            w.problem(key_node.pos, &path, message);
            ok = false;
            continue;
        };
        let checked = match check {
            ArgCheck::Choice(options) => w.choice(value, &path, options).map(str::to_string),
            ArgCheck::Seconds => w.integer(value, &path, 0, u64::MAX).map(|n| n.to_string()),
            ArgCheck::Flag => w.integer(value, &path, 0, 1).map(|n| n.to_string()),
            ArgCheck::Count(min, max) => w.integer(value, &path, *min, *max).map(|n| n.to_string()),
            ArgCheck::Bool => w.string(value, &path).and_then(|text| {
                let word = bool_word(&text);
                if word.is_none() {
                    w.problem(value.pos, &path, "must be true or false");
                }
                word.map(str::to_string)
            }),
            ArgCheck::Text => w.string(value, &path),
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
        let (_, problems) = read("x:\n  type: db2\ny:\n  host: h\n");
        let supported = "postgresql, mysql, mariadb, sqlserver, oracle, cassandra, redis, sqlite";
        assert_eq!(
            problems,
            [
                format!("config.yaml:2:9: connections.x.type: unknown connection type `db2`; expected one of: {supported}"),
                "config.yaml:4:3: connections.y: missing required key `type`".to_string(),
            ]
        );
    }

    #[test]
    fn mysql_and_mariadb_default_to_3306_and_take_tls_files_in_connect_args() {
        let yaml = "my:\n  type: mysql\n  host: h\n  database: d\n  user: u\n  \
                    connect_args: {ssl_ca: /ca.pem, ssl_cert: /c.pem, ssl_key: /k.pem, read_timeout: 5}\n\
                    maria:\n  type: mariadb\n  host: h\n  port: 3307\n  database: d\n  user: u\n  \
                    query_args: {charset: utf8mb4}\n";
        let (found, problems) = read(yaml);
        assert!(problems.is_empty(), "{problems:?}");
        let Some(Connection::Mysql(my)) = &found["my"] else {
            panic!("{found:?}")
        };
        assert_eq!(my.port, 3306);
        assert_eq!(my.connect_args["ssl_ca"], "/ca.pem");
        assert_eq!(my.connect_args["read_timeout"], "5");
        let Some(Connection::Mariadb(maria)) = &found["maria"] else {
            panic!("{found:?}")
        };
        assert_eq!(
            (maria.port, maria.query_args["charset"].as_str()),
            (3307, "utf8mb4")
        );
    }

    #[test]
    fn unknown_mysql_args_name_the_key_and_the_connection() {
        let yaml = "my:\n  type: mysql\n  host: h\n  database: d\n  user: u\n  \
                    connect_args: {sslmode: require, ssl_verify_identity: perhaps}\n";
        let (found, problems) = read(yaml);
        assert_eq!(found["my"], None);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("unknown connect_args key `sslmode` for connection `my`"));
        assert!(problems[1].ends_with("connect_args.ssl_verify_identity: must be true or false"));
    }

    #[test]
    fn oracle_needs_a_database_or_a_service_name_and_sqlserver_defaults_to_1433() {
        let yaml =
            "o1:\n  type: oracle\n  host: h\n  user: u\n  query_args: {service_name: ORCLPDB1}\n\
                    o2:\n  type: oracle\n  host: h\n  user: u\n\
                    ms:\n  type: sqlserver\n  host: h\n  database: d\n  user: 'CORP\\u'\n  \
                    connect_args: {encrypt: required, trust_server_certificate: yes}\n";
        let (found, problems) = read(yaml);
        let Some(o1) = &found["o1"] else {
            panic!("{problems:?}")
        };
        assert_eq!(
            (o1.type_name(), o1.database()),
            ("oracle", Some("ORCLPDB1"))
        );
        assert_eq!(found["o2"], None);
        assert_eq!(
            problems,
            ["config.yaml:7:3: connections.o2: missing `database` (the service name) or `query_args.service_name`"]
        );
        let Some(Connection::Sqlserver(ms)) = &found["ms"] else {
            panic!("{found:?}")
        };
        assert_eq!((ms.port, ms.user.as_str()), (1433, "CORP\\u"));
        assert_eq!(ms.connect_args["trust_server_certificate"], "true");
    }

    #[test]
    fn cassandra_reads_a_host_list_and_defaults_to_9042() {
        let yaml = "c:\n  type: cassandra\n  hosts: [a, b]\n  user: u\n  password: p\n  \
                    connect_args: {consistency: LOCAL_QUORUM}\n\
                    bad:\n  type: cassandra\n  hosts: []\n  database: x\n";
        let (found, problems) = read(yaml);
        let Some(Connection::Cassandra(c)) = &found["c"] else {
            panic!("{problems:?}")
        };
        assert_eq!(c.hosts, ["a", "b"]);
        assert_eq!(c.port, 9042);
        assert_eq!(found["c"].as_ref().unwrap().location(), "a:9042,b:9042");
        assert!(!format!("{c:?}").contains("\"p\""));
        assert_eq!(found["bad"], None);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("unknown key `database`"),
            "{problems:?}"
        );
        assert!(problems[1].ends_with("connections.bad.hosts: must list at least one host"));
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
