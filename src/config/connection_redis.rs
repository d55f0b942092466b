//! A `redis` connection of `config.yaml`: host and port, ACL user and password, TLS files.

use super::model::RedisConnection;
use super::walker::{Fields, Walker};

/// The keys of a `redis` connection.
pub const REDIS_KEYS: &[&str] = &[
    "host",
    "port",
    "user",
    "password",
    "key",
    "key_password",
    "cert",
    "cacert",
];

/// Reads a `redis` connection; `cert` and `key` go together and `key_password` needs `key`.
pub fn redis(w: &mut Walker, fields: &Fields) -> Option<RedisConnection> {
    let host = w.required_string(fields, "host");
    let port = fields.required(w, "port").and_then(|node| {
        w.integer(node, &fields.child("port"), 1, u64::from(u16::MAX))
            .and_then(|p| u16::try_from(p).ok())
    });
    let user = w.optional_string(fields, "user").filter(|u| !u.is_empty());
    let password = w.credential(fields, "password");
    let key = w.optional_string(fields, "key");
    let key_password = w.credential(fields, "key_password");
    let cert = w.optional_string(fields, "cert");
    let cacert = w.optional_string(fields, "cacert");
    let mut ok = true;
    if key.is_some() != cert.is_some() {
        let (given, missing) = if key.is_some() {
            ("key", "cert")
        } else {
            ("cert", "key")
        };
        let message = format!(
            "`{given}` is set without `{missing}`; a client certificate needs both `cert` and `key`"
        );
        w.problem(fields.pos, &fields.path, message);
        ok = false;
    }
    if key_password.is_some() && key.is_none() {
        let message = "`key_password` is set without `key`; it is the passphrase of the `key` file";
        w.problem(fields.pos, &fields.path, message);
        ok = false;
    }
    let connection = RedisConnection {
        host: host?,
        port: port?,
        user,
        password,
        key,
        key_password,
        cert,
        cacert,
    };
    ok.then_some(connection)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::super::connection::connections;
    use super::super::model::Connection;
    use super::super::reference::SystemResolver;
    use super::super::yaml::parse;

    fn read(yaml: &str) -> (Option<Connection>, Vec<String>) {
        let resolver = SystemResolver::default();
        let mut w = Walker::new("config.yaml", &resolver);
        let mut found = connections(&mut w, &parse(yaml).unwrap());
        let problems = w.problems.iter().map(ToString::to_string).collect();
        (found.remove("r").flatten(), problems)
    }

    use super::*;

    #[test]
    fn a_redis_connection_reads_every_key_and_hides_secrets() {
        let yaml =
            "r:\n  type: redis\n  host: cache\n  port: 6380\n  user: rdi\n  password: s3cret\n  \
                    key: /k.pem\n  key_password: kp4ss\n  cert: /c.pem\n  cacert: /ca.pem\n";
        let (found, problems) = read(yaml);
        assert!(problems.is_empty(), "{problems:?}");
        let Some(Connection::Redis(r)) = &found else {
            panic!("{found:?}")
        };
        assert_eq!((r.host.as_str(), r.port), ("cache", 6380));
        assert_eq!(r.user.as_deref(), Some("rdi"));
        assert!(r.tls());
        let shown = format!("{found:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("kp4ss"),
            "{shown}"
        );
        assert_eq!(found.as_ref().unwrap().location(), "cache:6380");
        assert_eq!(found.as_ref().unwrap().type_name(), "redis");
    }

    #[test]
    fn host_and_port_are_required_and_tls_files_go_together() {
        let (found, problems) =
            read("r:\n  type: redis\n  cert: /c.pem\n  key_password: x\n  db: 1\n");
        assert_eq!(found, None);
        assert_eq!(
            problems,
            [
                "config.yaml:5:3: connections.r.db: unknown key `db`; expected one of: host, port, user, password, \
                 key, key_password, cert, cacert",
                "config.yaml:2:3: connections.r: missing required key `host`",
                "config.yaml:2:3: connections.r: missing required key `port`",
                "config.yaml:2:3: connections.r: `cert` is set without `key`; a client certificate needs both \
                 `cert` and `key`",
                "config.yaml:2:3: connections.r: `key_password` is set without `key`; it is the passphrase of the \
                 `key` file",
            ]
        );
        let (found, problems) = read("r: {type: redis, host: h, port: 6379}\n");
        assert!(problems.is_empty(), "{problems:?}");
        let Some(Connection::Redis(r)) = found else {
            panic!()
        };
        assert!(!r.tls() && r.user.is_none() && r.password.is_none());
    }
}
