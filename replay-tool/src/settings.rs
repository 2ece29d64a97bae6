//! Where the system is: the embedded `config/default.toml`, then files, then `WAYPOINT__*`
//! variables, as for every service.

use std::collections::BTreeMap;

use serde::Deserialize;
use service_kit::settings::{PostgresSettings, RedisSettings};

pub const DEFAULT_SETTINGS: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct CliSettings {
    pub postgres: PostgresSettings,
    pub rabbitmq: BrokerSettings,
    pub redis: RedisSettings,
    /// Each command service's database, by service name.
    pub stores: BTreeMap<String, String>,
    /// Each projection's database, by projection name.
    pub projections: BTreeMap<String, String>,
    /// The dynamic configuration's versions, and who is changing them.
    pub config: ConfigSettings,
}

/// `[config]`: where `waypoint config` keeps the versions.
#[derive(Debug, Clone, Deserialize)]
pub struct ConfigSettings {
    /// The database of the versions, created on first use.
    pub database: String,
    /// Recorded as the author of each change; `$USER` when not set.
    #[serde(default = "author_from_environment")]
    pub author: String,
}

/// The login name, as the shell has it.
fn author_from_environment() -> String {
    ["USER", "USERNAME"]
        .into_iter()
        .find_map(|name| std::env::var(name).ok().filter(|user| !user.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The broker and its management API.
#[derive(Clone, Deserialize)]
pub struct BrokerSettings {
    pub url: String,
    /// Put in front of every exchange and queue name (`t_<id>` in tests).
    #[serde(default)]
    pub prefix: String,
    /// `http://user:password@host:15672`.
    pub management_url: String,
}

impl std::fmt::Debug for BrokerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerSettings")
            .field("url", &"[redacted]")
            .field("prefix", &self.prefix)
            .field("management_url", &"[redacted]")
            .finish()
    }
}
