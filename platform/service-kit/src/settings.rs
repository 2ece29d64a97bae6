//! Typed, layered configuration.
//!
//! Layers, later wins:
//! 1. the embedded default TOML (the repository's `config/default.toml`, compiled in, so a binary
//!    starts with no files beside it);
//! 2. `<config_dir>/default.toml`, then `<config_dir>/<environment>.toml` (each optional);
//! 3. environment variables `WAYPOINT__SECTION__KEY` (`__` separates levels; names are
//!    lowercased, so `WAYPOINT__POSTGRES__MAX_CONNECTIONS` sets `postgres.max_connections`);
//! 4. explicit overrides ([`ConfigSources::with_override`]), which tests use instead of touching
//!    the process environment.
//!
//! [`ConfigSources::from_env`] is the only place that reads the process environment: [`load`]
//! sees only what a [`ConfigSources`] holds, so tests running in parallel cannot disturb each
//! other through environment variables.

use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// The prefix of the environment variables that configure a service.
pub const ENV_PREFIX: &str = "WAYPOINT";
/// Separates the prefix, sections and keys of a configuring environment variable.
pub const ENV_SEPARATOR: &str = "__";
/// Names the environment (`local`, `test`, `production`, ...) whose file is layered on top.
pub const ENVIRONMENT_VARIABLE: &str = "WAYPOINT_ENV";
/// Names the folder holding `default.toml` and `<environment>.toml`.
pub const CONFIG_DIR_VARIABLE: &str = "WAYPOINT_CONFIG_DIR";

/// Everything [`load`] layers, gathered up front.
#[derive(Clone)]
pub struct ConfigSources {
    /// The lowest layer: the repository's `config/default.toml`, passed as `include_str!`.
    pub embedded_default: &'static str,
    /// Where `default.toml` and `<environment>.toml` are looked for; missing files are fine.
    pub config_dir: PathBuf,
    /// Picks `<environment>.toml`.
    pub environment: String,
    /// `WAYPOINT__*` variables, as captured by [`ConfigSources::from_env`] or given by a test.
    env_vars: config::Map<String, String>,
    /// `(dotted.key, value)` pairs applied last, in order.
    overrides: Vec<(String, String)>,
}

impl ConfigSources {
    /// Only the embedded default, environment `local`, folder `config`: no process environment.
    pub fn new(embedded_default: &'static str) -> Self {
        Self {
            embedded_default,
            config_dir: PathBuf::from("config"),
            environment: "local".to_owned(),
            env_vars: config::Map::new(),
            overrides: Vec::new(),
        }
    }

    /// What a service's `main` uses: `WAYPOINT_ENV` (default `local`), `WAYPOINT_CONFIG_DIR`
    /// (default `config`) and every `WAYPOINT__*` variable.
    pub fn from_env(embedded_default: &'static str) -> Self {
        let mut sources = Self::new(embedded_default);
        let variable_prefix = format!("{ENV_PREFIX}{ENV_SEPARATOR}");
        // vars_os: std::env::vars panics on a variable that is not UTF-8, even one we don't want.
        for (name, value) in std::env::vars_os() {
            let (Some(name), Some(value)) = (name.to_str(), value.to_str()) else {
                continue;
            };
            if name == ENVIRONMENT_VARIABLE {
                sources.environment = value.to_owned();
            } else if name == CONFIG_DIR_VARIABLE {
                sources.config_dir = PathBuf::from(value);
            } else if name.starts_with(&variable_prefix) {
                sources.env_vars.insert(name.to_owned(), value.to_owned());
            }
        }
        sources
    }

    /// Looks for the optional files in `dir`.
    pub fn with_config_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config_dir = dir.into();
        self
    }

    /// Layers `<environment>.toml`.
    pub fn with_environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = environment.into();
        self
    }

    /// Adds an environment variable as if the process had it (`WAYPOINT__SECTION__KEY`).
    pub fn with_env_var(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env_vars.insert(name.into(), value.into());
        self
    }

    /// Sets one dotted key (`postgres.url`) above every other layer.
    pub fn with_override(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.overrides.push((key.into(), value.into()));
        self
    }

    fn file(dir: &Path, name: &str) -> File<config::FileSourceFile, FileFormat> {
        File::from(dir.join(name))
            .format(FileFormat::Toml)
            .required(false)
    }
}

impl fmt::Debug for ConfigSources {
    // Values are left out: variables and overrides are where passwords come in.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut env_vars: Vec<&str> = self.env_vars.keys().map(String::as_str).collect();
        env_vars.sort_unstable();
        let overrides: Vec<&str> = self.overrides.iter().map(|(key, _)| key.as_str()).collect();
        f.debug_struct("ConfigSources")
            .field("config_dir", &self.config_dir)
            .field("environment", &self.environment)
            .field("env_vars", &env_vars)
            .field("overrides", &overrides)
            .finish_non_exhaustive()
    }
}

/// Configuration that could not be read or does not fit the requested type.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("the configuration could not be read: {0}")]
    Read(#[source] config::ConfigError),
    #[error("the configuration is invalid: {0}")]
    Invalid(#[source] config::ConfigError),
}

/// Layers `sources` (see the module docs) and deserializes the result into `T`.
pub fn load<T: serde::de::DeserializeOwned>(sources: &ConfigSources) -> Result<T, SettingsError> {
    let environment_file = format!("{}.toml", sources.environment);
    let mut builder = Config::builder()
        .add_source(File::from_str(sources.embedded_default, FileFormat::Toml))
        .add_source(ConfigSources::file(&sources.config_dir, "default.toml"))
        .add_source(ConfigSources::file(&sources.config_dir, &environment_file))
        .add_source(
            Environment::with_prefix(ENV_PREFIX)
                .separator(ENV_SEPARATOR)
                .source(Some(sources.env_vars.clone())),
        );
    for (key, value) in &sources.overrides {
        builder = builder
            .set_override(key.as_str(), value.as_str())
            .map_err(SettingsError::Read)?;
    }
    builder
        .build()
        .map_err(SettingsError::Read)?
        .try_deserialize()
        .map_err(SettingsError::Invalid)
}

/// A PostgreSQL server; each service names its own database on it.
#[derive(Clone, Deserialize)]
pub struct PostgresSettings {
    /// The server's URL without a database name, e.g. `postgres://waypoint:secret@db:5432`.
    pub url: String,
    pub max_connections: u32,
}

impl PostgresSettings {
    /// The URL of `database` on this server (a database already in `url` is replaced).
    pub fn database_url(&self, database: &str) -> String {
        let (base, query) = match self.url.split_once('?') {
            Some((base, query)) => (base, Some(query)),
            None => (self.url.as_str(), None),
        };
        let authority_starts = base.find("://").map_or(0, |scheme_ends| scheme_ends + 3);
        let server = match base[authority_starts..].find('/') {
            Some(path_starts) => &base[..authority_starts + path_starts],
            None => base,
        };
        match query {
            Some(query) => format!("{server}/{database}?{query}"),
            None => format!("{server}/{database}"),
        }
    }
}

impl fmt::Debug for PostgresSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_with_url(f, "PostgresSettings", &self.url)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// A RabbitMQ broker.
#[derive(Clone, Deserialize)]
pub struct RabbitMqSettings {
    pub url: String,
    /// Put in front of every exchange and queue name: empty in production, `t_<id>` in tests.
    #[serde(default)]
    pub prefix: String,
}

impl fmt::Debug for RabbitMqSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_with_url(f, "RabbitMqSettings", &self.url)
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// A Redis server.
#[derive(Clone, Deserialize)]
pub struct RedisSettings {
    pub url: String,
    /// Put in front of every key, e.g. `waypoint:`; tests use `t_<id>:`.
    pub key_prefix: String,
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_with_url(f, "RedisSettings", &self.url)
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

/// Where a service listens for HTTP.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    pub host: String,
    /// 0 asks the system for any free port (tests, several instances on one machine).
    pub port: u16,
}

/// How an instance announces itself in the discovery registry.
#[derive(Debug, Clone, Deserialize)]
pub struct DiscoverySettings {
    pub heartbeat_interval_ms: u64,
    /// How long an entry outlives its last heartbeat; a few intervals, so one late beat is fine.
    pub ttl_ms: u64,
    /// The host others reach this instance at (its listening host is often `0.0.0.0`).
    pub advertise_host: String,
}

impl DiscoverySettings {
    /// The address to advertise for an instance listening on `port`: `http://host:port`.
    pub fn advertise_address(&self, port: u16) -> String {
        if self.advertise_host.contains(':') && !self.advertise_host.starts_with('[') {
            format!("http://[{}]:{port}", self.advertise_host)
        } else {
            format!("http://{}:{port}", self.advertise_host)
        }
    }
}

/// Starts the `Debug` of a settings section with its `url`, password hidden.
fn debug_with_url<'a, 'b>(
    f: &'a mut fmt::Formatter<'b>,
    name: &str,
    url: &str,
) -> fmt::DebugStruct<'a, 'b> {
    let mut debug = f.debug_struct(name);
    debug.field("url", &redact_url(url));
    debug
}

/// `url` with its password, if any, replaced by `***` — in the user info and in a `password`
/// query parameter (libpq accepts both).
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut redacted = match base.find("://") {
        Some(scheme_ends) => {
            let authority_starts = scheme_ends + 3;
            let authority_ends = base[authority_starts..]
                .find('/')
                .map_or(base.len(), |end| authority_starts + end);
            let authority = &base[authority_starts..authority_ends];
            // rfind: '@' may appear unescaped in a password; the last one ends the user info.
            match authority.rfind('@') {
                Some(at) => {
                    let user_info = &authority[..at];
                    let user = user_info
                        .split_once(':')
                        .map_or(user_info, |(user, _)| user);
                    let password = if user_info.contains(':') { ":***" } else { "" };
                    format!(
                        "{}{user}{password}{}",
                        &base[..authority_starts],
                        &base[authority_starts + at..]
                    )
                }
                None => base.to_owned(),
            }
        }
        None => base.to_owned(),
    };
    if let Some(query) = query {
        let parameters: Vec<String> = query
            .split('&')
            .map(|parameter| match parameter.split_once('=') {
                Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=***"),
                _ => parameter.to_owned(),
            })
            .collect();
        redacted.push('?');
        redacted.push_str(&parameters.join("&"));
    }
    redacted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        let cases = [
            (
                "postgres://waypoint:s3cr@t@db:5432/members?sslmode=disable",
                "postgres://waypoint:***@db:5432/members?sslmode=disable",
            ),
            (
                "redis://:hunter2@127.0.0.1:6379/0",
                "redis://:***@127.0.0.1:6379/0",
            ),
            (
                "amqp://guest@rabbit:5672/%2f",
                "amqp://guest@rabbit:5672/%2f",
            ),
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            (
                "postgres://db/x?user=a&password=b",
                "postgres://db/x?user=a&password=***",
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(redact_url(url), expected);
        }
    }

    #[test]
    fn database_url_replaces_the_path_and_keeps_the_query() {
        let settings = |url: &str| PostgresSettings {
            url: url.to_owned(),
            max_connections: 1,
        };
        assert_eq!(
            settings("postgres://u:p@db:5432").database_url("members"),
            "postgres://u:p@db:5432/members"
        );
        assert_eq!(
            settings("postgres://db:5432/postgres?sslmode=disable").database_url("members"),
            "postgres://db:5432/members?sslmode=disable"
        );
        assert_eq!(
            settings("postgres://db/").database_url("x"),
            "postgres://db/x"
        );
    }

    #[test]
    fn advertises_ipv6_hosts_in_brackets() {
        let settings = |host: &str| DiscoverySettings {
            heartbeat_interval_ms: 1,
            ttl_ms: 1,
            advertise_host: host.to_owned(),
        };
        assert_eq!(
            settings("10.0.0.7").advertise_address(80),
            "http://10.0.0.7:80"
        );
        assert_eq!(settings("::1").advertise_address(80), "http://[::1]:80");
    }
}
