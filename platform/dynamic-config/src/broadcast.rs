//! How a stored version reaches the instances: written to Redis as the current one (so an
//! instance that starts later reads it), then published on the `waypoint.config` fanout
//! exchange (so running instances apply it at once).

use std::time::Duration;

use message_bus::{OutgoingMessage, Publisher};
use redis::Script;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};
use service_kit::settings::RedisSettings;

use crate::ConfigError;
use crate::store::StoredVersion;

/// Bounds every Redis call, so an unreachable server fails fast instead of hanging.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// Writes the announcement unless Redis already holds a newer version, so of two operators
/// publishing at once the older version never wins.
const WRITE_IF_NEWER: &str = r"
local current = redis.call('GET', KEYS[1])
if current then
  local ok, decoded = pcall(cjson.decode, current)
  if ok and type(decoded) == 'table' and tonumber(decoded['version'])
     and tonumber(decoded['version']) > tonumber(ARGV[1]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
";

/// A version and its document, as Redis holds it and the broadcast carries it. The document
/// stays raw JSON here, so an instance that cannot read it still knows which version it missed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Announcement {
    pub version: i64,
    pub document: serde_json::Value,
}

impl From<&StoredVersion> for Announcement {
    fn from(stored: &StoredVersion) -> Self {
        Self {
            version: stored.version,
            document: stored.document.to_value(),
        }
    }
}

/// `<key prefix>config:current`: the current version, under the prefix every instance has.
pub fn current_key(key_prefix: &str) -> String {
    format!("{key_prefix}config:current")
}

/// A Redis connection that reconnects by itself, with short timeouts.
pub async fn redis_connection(settings: &RedisSettings) -> Result<ConnectionManager, ConfigError> {
    let client = redis::Client::open(settings.url.as_str())?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(REDIS_TIMEOUT))
        .set_response_timeout(Some(REDIS_TIMEOUT))
        .set_number_of_retries(1);
    Ok(ConnectionManager::new_with_config(client, config).await?)
}

/// Makes `announcement` the current version in Redis, unless a newer one is there already.
/// Returns whether it was written.
pub async fn write_current(
    redis: &mut (impl ConnectionLike + Send),
    key_prefix: &str,
    announcement: &Announcement,
) -> Result<bool, ConfigError> {
    let json = serde_json::to_string(announcement)
        .map_err(|error| ConfigError::Encoding(error.to_string()))?;
    let written: i64 = Script::new(WRITE_IF_NEWER)
        .key(current_key(key_prefix))
        .arg(announcement.version)
        .arg(json)
        .invoke_async(redis)
        .await?;
    Ok(written == 1)
}

/// The current version as Redis holds it; `None` before any was published.
pub async fn read_current(
    redis: &mut (impl ConnectionLike + Send),
    key_prefix: &str,
) -> Result<Option<Announcement>, ConfigError> {
    let json: Option<String> = redis::cmd("GET")
        .arg(current_key(key_prefix))
        .query_async(redis)
        .await?;
    json.map(|json| {
        serde_json::from_str(&json).map_err(|error| ConfigError::Encoding(error.to_string()))
    })
    .transpose()
}

/// Publishes `announcement` on the config exchange, persistent, and waits for the broker's
/// confirm.
pub async fn publish(
    publisher: &Publisher,
    exchange: &str,
    announcement: &Announcement,
) -> Result<(), ConfigError> {
    let payload = serde_json::to_vec(announcement)
        .map_err(|error| ConfigError::Encoding(error.to_string()))?;
    publisher
        .publish(OutgoingMessage::new(exchange, "", payload))
        .await?;
    Ok(())
}

/// Redis first, then the broadcast: an instance starting in between reads the new version
/// from Redis, and one already running gets the message.
pub async fn announce(
    redis: &mut (impl ConnectionLike + Send),
    key_prefix: &str,
    publisher: &Publisher,
    exchange: &str,
    stored: &StoredVersion,
) -> Result<(), ConfigError> {
    let announcement = Announcement::from(stored);
    write_current(redis, key_prefix, &announcement).await?;
    publish(publisher, exchange, &announcement).await
}
