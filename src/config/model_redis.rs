//! The Redis parts of the typed model: a `redis` connection and the `with` of a `redis.write` output.

use crate::expr::Expression;

/// The connection a `redis.write` output uses when it names none.
pub const REDIS_DEFAULT_CONNECTION: &str = "target";

/// A target Redis server.
#[derive(Clone, PartialEq)]
pub struct RedisConnection {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// ACL user name (`AUTH user password`); `None` means the default user.
    pub user: Option<String>,
    /// Password (resolved); never printed.
    pub password: Option<String>,
    /// Client private key (PEM file path); goes with `cert`.
    pub key: Option<String>,
    /// Passphrase of an encrypted `key` (resolved); never printed.
    pub key_password: Option<String>,
    /// Client certificate (PEM file path); goes with `key`.
    pub cert: Option<String>,
    /// CA certificate(s) (PEM file path) that the server's certificate must chain to.
    pub cacert: Option<String>,
}

impl RedisConnection {
    /// Whether the connection uses TLS (any of `cacert`, `cert`, `key` is set).
    pub fn tls(&self) -> bool {
        self.cacert.is_some() || self.cert.is_some() || self.key.is_some()
    }
}

impl std::fmt::Debug for RedisConnection {
    // Written by hand so that a password can never reach a log through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConnection")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("key", &self.key)
            .field("key_password", &self.key_password.as_ref().map(|_| "***"))
            .field("cert", &self.cert)
            .field("cacert", &self.cacert)
            .finish()
    }
}

/// `data_type` of a `redis.write` output: the kind of Redis object each record becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RedisDataType {
    /// A hash of the mapped fields (the default).
    #[default]
    Hash,
    /// A RedisJSON document (`JSON.SET key $ doc`).
    Json,
    /// A member of a set (`args.member`).
    Set,
    /// A member of a sorted set with a score (`args.member`, `args.score`).
    SortedSet,
    /// A message appended to a stream for every change, with `op_code`.
    Stream,
    /// A string value (`args.value`).
    String,
}

impl RedisDataType {
    /// Every name accepted for `data_type`.
    pub const NAMES: &'static [&'static str] =
        &["hash", "json", "set", "sorted_set", "stream", "string"];

    /// Parses a `data_type` name.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "hash" => RedisDataType::Hash,
            "json" => RedisDataType::Json,
            "set" => RedisDataType::Set,
            "sorted_set" => RedisDataType::SortedSet,
            "stream" => RedisDataType::Stream,
            "string" => RedisDataType::String,
            _ => return None,
        })
    }

    /// The name as written in job files.
    pub fn as_str(self) -> &'static str {
        match self {
            RedisDataType::Hash => "hash",
            RedisDataType::Json => "json",
            RedisDataType::Set => "set",
            RedisDataType::SortedSet => "sorted_set",
            RedisDataType::Stream => "stream",
            RedisDataType::String => "string",
        }
    }
}

/// `on_update` of a `redis.write` output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OnUpdate {
    /// The object becomes exactly the mapped fields (the default).
    #[default]
    Replace,
    /// The mapped fields are written over what the object holds; others stay.
    Merge,
}

/// One written field of a `redis.write` mapping: where the value comes from and its name in Redis.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisField {
    /// The field (or, for JSON, dotted path) written in the target object.
    pub alias: String,
    /// The record field it is read from.
    pub expression: Expression,
}

/// The `with` of a `redis.write` output.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisOutput {
    /// Name of a `redis` connection in `config.yaml` (`target` when not given).
    pub connection: String,
    /// The kind of object written.
    pub data_type: RedisDataType,
    /// The expression giving each record's Redis key.
    pub key: Expression,
    /// `args.member` (set, sorted_set): the field holding the member.
    pub member: Option<String>,
    /// `args.score` (sorted_set): the field holding the score.
    pub score: Option<String>,
    /// `args.value` (string): the field holding the value.
    pub value: Option<String>,
    /// Fields to write (hash, json, stream); empty means every field of the record.
    pub mapping: Vec<RedisField>,
    /// `on_update`.
    pub on_update: OnUpdate,
    /// Seconds to live after each write; 0 means none.
    pub expire: u64,
}
