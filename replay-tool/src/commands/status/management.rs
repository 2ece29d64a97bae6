//! The RabbitMQ management HTTP API: queue depths, consumers and rates, and a queue's bindings,
//! which AMQP cannot tell. Shared by `status`, `dlq` and `replay`.

use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde::Deserialize;

use crate::CliError;
use crate::settings::BrokerSettings;

/// Every call is bounded: an unreachable broker shows up as such instead of hanging `status`.
const TIMEOUT: Duration = Duration::from_secs(3);

/// The columns `status` needs of every queue; the management API resolves dotted paths.
const QUEUE_COLUMNS: &str = "name,type,messages,messages_ready,messages_unacknowledged,consumers,\
     message_stats.publish_details.rate,message_stats.deliver_get_details.rate";

/// A client of the management API of the configured broker, for the AMQP URL's virtual host.
#[derive(Debug, Clone)]
pub(crate) struct Management {
    client: reqwest::Client,
    /// Without credentials, so that no error message ever shows them.
    base: Url,
    user: String,
    password: String,
    vhost: String,
}

/// A queue as the management API lists it. Counts lag by the broker's statistics interval
/// (5 s by default).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct QueueInfo {
    pub name: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub messages: u64,
    #[serde(default)]
    pub consumers: u64,
    #[serde(default)]
    pub message_stats: Option<MessageStats>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct MessageStats {
    #[serde(default)]
    pub publish_details: Option<Rate>,
    #[serde(default)]
    pub deliver_get_details: Option<Rate>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub(crate) struct Rate {
    #[serde(default)]
    pub rate: f64,
}

impl QueueInfo {
    /// Messages published to the queue per second, as last sampled.
    pub fn publish_rate(&self) -> f64 {
        self.message_stats
            .as_ref()
            .and_then(|stats| stats.publish_details)
            .map_or(0.0, |rate| rate.rate)
    }

    /// Messages delivered (or fetched) per second, as last sampled.
    pub fn deliver_rate(&self) -> f64 {
        self.message_stats
            .as_ref()
            .and_then(|stats| stats.deliver_get_details)
            .map_or(0.0, |rate| rate.rate)
    }
}

/// One binding of a queue.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Binding {
    /// The exchange; empty for the default exchange's implicit binding.
    pub source: String,
    pub routing_key: String,
}

impl Management {
    pub fn new(settings: &BrokerSettings) -> Result<Self, CliError> {
        let invalid = |what: &str| {
            CliError::new(format!("the RabbitMQ {what} URL is not valid"))
                .with_hint("set WAYPOINT__RABBITMQ__URL and WAYPOINT__RABBITMQ__MANAGEMENT_URL")
        };
        let mut base = Url::parse(&settings.management_url).map_err(|_| invalid("management"))?;
        let user = percent_decode(base.username());
        let password = base.password().map(percent_decode).unwrap_or_default();
        // Both can only fail for URLs that cannot carry credentials at all (`mailto:`).
        base.set_username("").map_err(|()| invalid("management"))?;
        base.set_password(None)
            .map_err(|()| invalid("management"))?;
        let amqp = Url::parse(&settings.url).map_err(|_| invalid("AMQP"))?;
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|error| CliError::new(format!("HTTP client: {error}")))?;
        Ok(Self {
            client,
            base,
            user: if user.is_empty() {
                "guest".into()
            } else {
                user
            },
            password,
            vhost: vhost_of(&amqp),
        })
    }

    /// Every queue of the virtual host whose name starts with `prefix`, sorted by name.
    pub async fn queues(&self, prefix: &str) -> Result<Vec<QueueInfo>, CliError> {
        let mut url = self.url(&["api", "queues", &self.vhost]);
        url.query_pairs_mut().append_pair("columns", QUEUE_COLUMNS);
        let mut queues: Vec<QueueInfo> = self.get(url).await?.unwrap_or_default();
        queues.retain(|queue| queue.name.starts_with(prefix));
        queues.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(queues)
    }

    /// One queue, or `None` if it does not exist.
    pub async fn queue(&self, name: &str) -> Result<Option<QueueInfo>, CliError> {
        let mut url = self.url(&["api", "queues", &self.vhost, name]);
        url.query_pairs_mut().append_pair("columns", QUEUE_COLUMNS);
        self.get(url).await
    }

    /// The bindings of a queue (empty when it does not exist).
    pub async fn bindings(&self, queue: &str) -> Result<Vec<Binding>, CliError> {
        let url = self.url(&["api", "queues", &self.vhost, queue, "bindings"]);
        Ok(self.get(url).await?.unwrap_or_default())
    }

    /// `base/segment/...` with each segment percent-encoded (`/` is a vhost name).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// A JSON answer; `None` for 404.
    async fn get<T: for<'de> Deserialize<'de>>(&self, url: Url) -> Result<Option<T>, CliError> {
        let response = self
            .client
            .get(url)
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .await
            .map_err(|error| unreachable(&error.without_url()))?;
        match response.status() {
            StatusCode::NOT_FOUND => return Ok(None),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(CliError::new(format!(
                    "the RabbitMQ management API refused the credentials ({})",
                    response.status()
                ))
                .with_hint(
                    "put a management user in WAYPOINT__RABBITMQ__MANAGEMENT_URL \
                     (http://user:password@host:15672)",
                ));
            }
            status if !status.is_success() => {
                return Err(unreachable(&format!("answered {status}")));
            }
            _ => {}
        }
        response
            .json()
            .await
            .map(Some)
            .map_err(|error| unreachable(&error.without_url()))
    }
}

/// Whether a topic exchange routes `routing_key` through a binding with `pattern`: words are
/// separated by `.`, `*` is exactly one word and `#` zero or more.
pub(crate) fn topic_matches(pattern: &str, routing_key: &str) -> bool {
    fn matches(pattern: &[&str], key: &[&str]) -> bool {
        match (pattern.split_first(), key.split_first()) {
            (None, None) => true,
            (Some((&"#", rest)), _) => {
                matches(rest, key)
                    || key
                        .split_first()
                        .is_some_and(|(_, tail)| matches(pattern, tail))
            }
            (Some((word, rest)), Some((first, tail))) => {
                (*word == "*" || word == first) && matches(rest, tail)
            }
            _ => false,
        }
    }
    let pattern: Vec<&str> = pattern.split('.').collect();
    let key: Vec<&str> = routing_key.split('.').collect();
    matches(&pattern, &key)
}

fn unreachable(error: &dyn std::fmt::Display) -> CliError {
    CliError::new(format!("RabbitMQ management API: {error}")).with_hint(
        "check that the rabbitmq_management plugin is enabled and that \
         WAYPOINT__RABBITMQ__MANAGEMENT_URL points at it",
    )
}

/// The virtual host of an AMQP URL: its path without the leading `/`, percent-decoded; the
/// default `/` when there is none.
fn vhost_of(amqp: &Url) -> String {
    let path = amqp.path().trim_start_matches('/');
    if path.is_empty() {
        "/".to_owned()
    } else {
        percent_decode(path)
    }
}

/// Decodes `%XX` escapes; anything malformed is kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| text.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str, management_url: &str) -> BrokerSettings {
        BrokerSettings {
            url: url.to_owned(),
            prefix: String::new(),
            management_url: management_url.to_owned(),
        }
    }

    #[test]
    fn the_vhost_comes_from_the_amqp_url() {
        let management = |url| {
            Management::new(&settings(url, "http://guest:guest@127.0.0.1:15672"))
                .unwrap()
                .vhost
        };
        assert_eq!(management("amqp://guest:guest@127.0.0.1:5672/%2f"), "/");
        assert_eq!(management("amqp://127.0.0.1:5672"), "/");
        assert_eq!(management("amqp://127.0.0.1:5672/waypoint"), "waypoint");
    }

    #[test]
    fn credentials_leave_the_url_and_segments_are_encoded() {
        let management = Management::new(&settings(
            "amqp://127.0.0.1/%2f",
            "http://ops:s%40cret@broker:15672",
        ))
        .unwrap();
        assert_eq!(management.user, "ops");
        assert_eq!(management.password, "s@cret");
        let url = management.url(&["api", "queues", "/", "a b"]);
        assert_eq!(url.as_str(), "http://broker:15672/api/queues/%2F/a%20b");
    }

    #[test]
    fn topic_patterns_match_like_the_broker() {
        assert!(topic_matches("places.PlaceAdded", "places.PlaceAdded"));
        assert!(!topic_matches("places.PlaceAdded", "places.PlaceClosed"));
        assert!(topic_matches("places.*", "places.PlaceClosed"));
        assert!(!topic_matches("places.*", "places"));
        assert!(!topic_matches("*", "places.PlaceAdded"));
        assert!(topic_matches("#", "places.PlaceAdded"));
        assert!(topic_matches("places.#", "places"));
        assert!(topic_matches("#.PlaceAdded", "places.PlaceAdded"));
        assert!(topic_matches("a.#.d", "a.b.c.d"));
        assert!(!topic_matches("a.#.d", "a.b.c"));
    }

    #[test]
    fn malformed_escapes_are_kept() {
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }
}
