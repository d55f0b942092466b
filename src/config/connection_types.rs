//! What each connection type of `config.yaml` accepts: its keys, default port, and the `connect_args`
//! and `query_args` keys with the check each value passes (SPEC §2.1).

/// How the value of one `connect_args` / `query_args` key is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgCheck {
    /// Any string (paths, names).
    Text,
    /// A whole number of seconds, 0 or more.
    Seconds,
    /// A whole number within these bounds.
    Count(u64, u64),
    /// 0 or 1.
    Flag,
    /// `true` or `false` (also `yes`/`no`, `1`/`0`), normalized to `true`/`false`.
    Bool,
    /// One of these words.
    Choice(&'static [&'static str]),
}

/// One accepted `connect_args` / `query_args` key.
pub type Arg = (&'static str, ArgCheck);

/// The rules of one client-server SQL connection type.
#[derive(Debug, Clone, Copy)]
pub struct SqlType {
    /// `type` as written in `config.yaml`.
    pub name: &'static str,
    /// `port` when the connection does not set one.
    pub default_port: u16,
    /// Whether `database` must be given (Oracle may name a service in `query_args` instead).
    pub database_required: bool,
    /// Accepted `connect_args`.
    pub connect_args: &'static [Arg],
    /// Accepted `query_args`.
    pub query_args: &'static [Arg],
}

/// The keys of every client-server SQL connection.
pub const SQL_KEYS: &[&str] = &[
    "host",
    "port",
    "database",
    "user",
    "password",
    "connect_args",
    "query_args",
];
/// The keys of a `cassandra` connection.
pub const CASSANDRA_KEYS: &[&str] = &["hosts", "port", "user", "password", "connect_args"];
/// The keys of a `sqlite` connection.
pub const SQLITE_KEYS: &[&str] = &["path"];

/// PostgreSQL `sslmode` values.
pub const SSLMODES: &[&str] = &["disable", "prefer", "require", "verify-ca", "verify-full"];
/// SQL Server `encrypt` values: TLS for the whole session, only for the login, or none.
pub const SQLSERVER_ENCRYPT: &[&str] = &["required", "on", "off", "not_supported"];
/// Cassandra consistency levels a writer may use.
pub const CASSANDRA_CONSISTENCY: &[&str] = &[
    "ANY",
    "ONE",
    "TWO",
    "THREE",
    "QUORUM",
    "ALL",
    "LOCAL_QUORUM",
    "EACH_QUORUM",
    "LOCAL_ONE",
];

const POSTGRESQL: SqlType = SqlType {
    name: "postgresql",
    default_port: 5432,
    database_required: true,
    connect_args: &[
        ("connect_timeout", ArgCheck::Seconds),
        ("application_name", ArgCheck::Text),
        ("options", ArgCheck::Text),
        ("keepalives", ArgCheck::Flag),
        ("keepalives_idle", ArgCheck::Seconds),
        ("keepalives_interval", ArgCheck::Seconds),
        ("keepalives_count", ArgCheck::Count(1, 1000)),
        ("tcp_user_timeout", ArgCheck::Count(0, 3_600_000)),
        ("read_timeout", ArgCheck::Seconds),
    ],
    query_args: &[
        ("sslmode", ArgCheck::Choice(SSLMODES)),
        ("sslrootcert", ArgCheck::Text),
        ("sslcert", ArgCheck::Text),
        ("sslkey", ArgCheck::Text),
        ("application_name", ArgCheck::Text),
        ("connect_timeout", ArgCheck::Seconds),
    ],
};

const MYSQL_CONNECT_ARGS: &[Arg] = &[
    ("ssl_ca", ArgCheck::Text),
    ("ssl_cert", ArgCheck::Text),
    ("ssl_key", ArgCheck::Text),
    ("ssl_verify_identity", ArgCheck::Bool),
    ("connect_timeout", ArgCheck::Seconds),
    ("read_timeout", ArgCheck::Seconds),
    ("write_timeout", ArgCheck::Seconds),
];
const MYSQL_QUERY_ARGS: &[Arg] = &[
    ("charset", ArgCheck::Choice(&["utf8mb4", "utf8"])),
    ("connect_timeout", ArgCheck::Seconds),
    ("read_timeout", ArgCheck::Seconds),
    ("write_timeout", ArgCheck::Seconds),
];

const MYSQL: SqlType = SqlType {
    name: "mysql",
    default_port: 3306,
    database_required: true,
    connect_args: MYSQL_CONNECT_ARGS,
    query_args: MYSQL_QUERY_ARGS,
};

const MARIADB: SqlType = SqlType {
    name: "mariadb",
    ..MYSQL
};

const SQLSERVER_ARGS: &[Arg] = &[
    ("encrypt", ArgCheck::Choice(SQLSERVER_ENCRYPT)),
    ("trust_server_certificate", ArgCheck::Bool),
    ("trust_server_certificate_ca", ArgCheck::Text),
    ("application_name", ArgCheck::Text),
    ("instance_name", ArgCheck::Text),
    ("connect_timeout", ArgCheck::Seconds),
    ("read_timeout", ArgCheck::Seconds),
];

const SQLSERVER: SqlType = SqlType {
    name: "sqlserver",
    default_port: 1433,
    database_required: true,
    connect_args: SQLSERVER_ARGS,
    // `driver` is the ODBC driver of a SQLAlchemy URL: accepted so that RDI configs load, not needed.
    query_args: &[
        ("driver", ArgCheck::Text),
        ("encrypt", ArgCheck::Choice(SQLSERVER_ENCRYPT)),
        ("trust_server_certificate", ArgCheck::Bool),
        ("application_name", ArgCheck::Text),
    ],
};

const ORACLE: SqlType = SqlType {
    name: "oracle",
    default_port: 1521,
    database_required: false,
    connect_args: &[
        ("connect_timeout", ArgCheck::Seconds),
        ("stmt_cache_size", ArgCheck::Seconds),
        ("read_timeout", ArgCheck::Seconds),
    ],
    query_args: &[("service_name", ArgCheck::Text), ("sid", ArgCheck::Text)],
};

/// The `connect_args` of a `cassandra` connection.
pub const CASSANDRA_CONNECT_ARGS: &[Arg] = &[
    ("connect_timeout", ArgCheck::Seconds),
    ("request_timeout", ArgCheck::Seconds),
    ("local_datacenter", ArgCheck::Text),
    ("consistency", ArgCheck::Choice(CASSANDRA_CONSISTENCY)),
    // Most statements per UNLOGGED BATCH (the writer's BATCH_STATEMENTS_MIN..=MAX).
    ("batch_statements", ArgCheck::Count(1, 1000)),
];

/// The client-server SQL types, by `type`.
pub fn sql_type(name: &str) -> Option<&'static SqlType> {
    [&POSTGRESQL, &MYSQL, &MARIADB, &SQLSERVER, &ORACLE]
        .into_iter()
        .find(|t| t.name == name)
}

/// Every `connect_args` and `query_args` key a client-server SQL type accepts, each with a value its
/// check accepts: for the writers' tests, so that a writer cannot refuse what a deploy lets through.
#[cfg(test)]
pub fn accepted_args(name: &str) -> Vec<(&'static str, &'static str)> {
    sql_type(name)
        .map(|t| {
            t.connect_args
                .iter()
                .chain(t.query_args)
                .map(|(key, check)| {
                    let value = match check {
                        ArgCheck::Text => "x",
                        ArgCheck::Seconds => "5",
                        ArgCheck::Count(min, _) if *min <= 1 => "1",
                        ArgCheck::Count(..) => "1000",
                        ArgCheck::Flag => "1",
                        ArgCheck::Bool => "true",
                        ArgCheck::Choice(choices) => choices.first().copied().unwrap_or(""),
                    };
                    (*key, value)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Normalizes a boolean word to `true`/`false`.
pub fn bool_word(text: &str) -> Option<&'static str> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Some("true"),
        "false" | "no" | "0" | "off" => Some("false"),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn every_sql_type_has_its_default_port_and_mysql_takes_tls_in_connect_args() {
        let ports: Vec<_> = ["postgresql", "mysql", "mariadb", "sqlserver", "oracle"]
            .iter()
            .map(|t| sql_type(t).unwrap().default_port)
            .collect();
        assert_eq!(ports, [5432, 3306, 3306, 1433, 1521]);
        let mariadb = sql_type("mariadb").unwrap();
        assert!(mariadb.connect_args.iter().any(|(k, _)| *k == "ssl_ca"));
        assert!(sql_type("cassandra").is_none());
        assert!(!sql_type("oracle").unwrap().database_required);
    }

    #[test]
    fn boolean_words_normalize() {
        assert_eq!(bool_word(" Yes"), Some("true"));
        assert_eq!(bool_word("0"), Some("false"));
        assert_eq!(bool_word("maybe"), None);
    }
}
