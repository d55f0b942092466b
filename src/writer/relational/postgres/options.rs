//! The driver configuration of a `postgresql` connection: address, credentials, timeouts that bound
//! how long a vanished server can hold a writer, and the `connect_args`/`query_args` it understands.

use std::time::Duration;

use ::tokio_postgres::config::SslMode;
use ::tokio_postgres::Config;

use crate::config::SqlServerConnection;
use crate::writer::WriteError;

/// `application_name` unless the connection sets one.
pub const APPLICATION_NAME_DEFAULT: &str = "rdi-write-behind";
/// Seconds to wait for a connection unless `connect_timeout` says otherwise.
pub const CONNECT_TIMEOUT_S_DEFAULT: u64 = 10;
/// Idle seconds before TCP keepalives probe the server, so that a vanished server is noticed.
pub const KEEPALIVES_IDLE_S_DEFAULT: u64 = 30;
/// Seconds between keepalive probes, and probes unanswered before the connection is dropped.
pub const KEEPALIVES_INTERVAL_S_DEFAULT: u64 = 10;
/// See [`KEEPALIVES_INTERVAL_S_DEFAULT`].
pub const KEEPALIVES_COUNT_DEFAULT: u32 = 3;
/// Milliseconds sent data may stay unacknowledged before the connection is dropped (`TCP_USER_TIMEOUT`):
/// a server that vanished mid-statement (a network black hole) is noticed then, not after the kernel's
/// ~15 minutes of retransmissions, and the writer retries instead of hanging.
pub const TCP_USER_TIMEOUT_MS_DEFAULT: u64 = 30_000;
/// How long each call may wait for the server (see [`super::super::read_timeout`]).
pub fn read_timeout(settings: &SqlServerConnection) -> Result<Duration, WriteError> {
    super::super::read_timeout("postgresql", settings)
}

/// How long a whole connection attempt (TCP, TLS and login) may take: the driver's `connect_timeout`
/// bounds only the TCP part.
pub fn connect_limit(config: &Config) -> Duration {
    config
        .get_connect_timeout()
        .copied()
        .unwrap_or(Duration::from_secs(CONNECT_TIMEOUT_S_DEFAULT))
}
/// Builds the driver's configuration from a connection of `config.yaml`.
pub fn client_config(settings: &SqlServerConnection) -> Result<Config, WriteError> {
    let mut config = Config::new();
    config
        .host(&settings.host)
        .port(settings.port)
        .dbname(&settings.database)
        .user(&settings.user)
        .application_name(APPLICATION_NAME_DEFAULT)
        .connect_timeout(Duration::from_secs(CONNECT_TIMEOUT_S_DEFAULT))
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(KEEPALIVES_IDLE_S_DEFAULT))
        .keepalives_interval(Duration::from_secs(KEEPALIVES_INTERVAL_S_DEFAULT))
        .keepalives_retries(KEEPALIVES_COUNT_DEFAULT)
        .tcp_user_timeout(Duration::from_millis(TCP_USER_TIMEOUT_MS_DEFAULT))
        .ssl_mode(SslMode::Prefer);
    if let Some(password) = &settings.password {
        config.password(password);
    }
    let seconds = |key: &str, value: &str| crate::writer::seconds_arg("postgresql", key, value);
    let count = |key: &str, value: &str| {
        value
            .trim()
            .parse::<u32>()
            .map_err(|_| WriteError::Schema(format!("postgresql `{key}` must be a whole number")))
    };
    for (key, value) in settings.connect_args.iter().chain(&settings.query_args) {
        match key.as_str() {
            "sslmode" => match value.as_str() {
                "disable" => config.ssl_mode(SslMode::Disable),
                "prefer" | "allow" => config.ssl_mode(SslMode::Prefer),
                "require" | "verify-ca" | "verify-full" => config.ssl_mode(SslMode::Require),
                _ => {
                    return Err(WriteError::Schema(format!(
                        "unknown postgresql sslmode `{value}`"
                    )))
                }
            },
            // Read by `tls::tls`, and by `read_timeout`.
            "sslrootcert" | "sslcert" | "sslkey" | "read_timeout" => &mut config,
            // libpq treats 0 as "wait forever"; keep a bound instead.
            "connect_timeout" => match seconds(key, value)? {
                d if d.is_zero() => &mut config,
                d => config.connect_timeout(d),
            },
            "application_name" => config.application_name(value),
            "options" => config.options(value),
            "keepalives_idle" => config.keepalives_idle(seconds(key, value)?),
            // libpq: 1 (the default) or 0; the config check allows nothing else.
            "keepalives" => config.keepalives(value.trim() != "0"),
            "keepalives_interval" => config.keepalives_interval(seconds(key, value)?),
            "keepalives_count" => config.keepalives_retries(count(key, value)?),
            // libpq's unit: milliseconds; 0 leaves the kernel's default.
            "tcp_user_timeout" => {
                config.tcp_user_timeout(Duration::from_millis(count(key, value)?.into()))
            }
            _ => {
                return Err(WriteError::Schema(format!(
                    "unknown postgresql connection argument `{key}`"
                )))
            }
        };
    }
    Ok(config)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::super::test_server::settings;
    use super::*;

    #[test]
    fn connection_arguments_are_checked() {
        let mut s = settings("h", 5432, "u", "d", Some("pw".into()));
        s.query_args.insert("sslmode".into(), "verify-full".into());
        assert_eq!(client_config(&s).unwrap().get_ssl_mode(), SslMode::Require);
        s.query_args.insert("sslmode".into(), "disable".into());
        s.connect_args.insert("connect_timeout".into(), "3".into());
        let config = client_config(&s).unwrap();
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(3)));
        assert_eq!(
            config.get_application_name(),
            Some(APPLICATION_NAME_DEFAULT)
        );
        assert_eq!(config.get_ssl_mode(), SslMode::Disable);
        s.connect_args
            .insert("connect_timeout".into(), "soon".into());
        assert!(matches!(client_config(&s), Err(WriteError::Schema(_))));
        s.connect_args.clear();
        s.connect_args.insert("bogus".into(), "1".into());
        assert_eq!(
            client_config(&s).err(),
            Some(WriteError::Schema(
                "unknown postgresql connection argument `bogus`".into()
            ))
        );
    }

    #[test]
    fn every_argument_the_config_accepts_is_understood() {
        // The deploy's check accepts these; a writer that refused one would fail every deploy using it.
        let accepted = crate::config::accepted_args("postgresql");
        assert!(accepted.iter().any(|(k, _)| *k == "keepalives"));
        for (key, value) in accepted {
            let mut s = settings("h", 5432, "u", "d", None);
            s.connect_args.insert(key.to_string(), value.to_string());
            if let Err(e) = client_config(&s) {
                panic!("`{key}: {value}` is accepted by the config but not by the writer: {e:?}");
            }
        }
        let mut s = settings("h", 5432, "u", "d", None);
        s.connect_args.insert("keepalives".into(), "0".into());
        assert!(!client_config(&s).unwrap().get_keepalives());
    }

    #[test]
    fn a_vanished_server_is_noticed_within_bounded_time_by_default() {
        let mut s = settings("h", 5432, "u", "d", None);
        let config = client_config(&s).unwrap();
        assert_eq!(
            config.get_tcp_user_timeout(),
            Some(&Duration::from_millis(TCP_USER_TIMEOUT_MS_DEFAULT))
        );
        assert_eq!(
            config.get_keepalives_interval(),
            Some(Duration::from_secs(KEEPALIVES_INTERVAL_S_DEFAULT))
        );
        assert_eq!(
            config.get_keepalives_retries(),
            Some(KEEPALIVES_COUNT_DEFAULT)
        );
        s.connect_args
            .insert("tcp_user_timeout".into(), "2500".into());
        s.connect_args.insert("keepalives_count".into(), "5".into());
        let config = client_config(&s).unwrap();
        assert_eq!(
            config.get_tcp_user_timeout(),
            Some(&Duration::from_millis(2500))
        );
        assert_eq!(config.get_keepalives_retries(), Some(5));
    }
}
