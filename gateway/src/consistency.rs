//! Read-your-writes for clients that ignore `X-Consistency-Token`: the gateway remembers each
//! session's latest token per source service (`P session-tokens:<session id>`, a hash), and
//! the query proxy presents them for the client.

use std::time::Duration;

use axum::http::HeaderName;
use events::ConsistencyToken;
use redis::aio::ConnectionManager;
use uuid::Uuid;

/// Carries a command's token in its answer, and a client's tokens in its queries.
pub const CONSISTENCY_HEADER: HeaderName = HeaderName::from_static("x-consistency-token");

/// Long past the time any projection takes to catch up: after it, waiting would not help.
const REMEMBERED_FOR: Duration = Duration::from_secs(600);

/// The tokens of each session's latest writes, in Redis.
#[derive(Debug, Clone)]
pub struct SessionTokens {
    redis: ConnectionManager,
    key_prefix: String,
}

impl SessionTokens {
    pub fn new(redis: ConnectionManager, key_prefix: &str) -> Self {
        Self {
            redis,
            key_prefix: key_prefix.to_owned(),
        }
    }

    fn key(&self, session_id: Uuid) -> String {
        format!("{}session-tokens:{session_id}", self.key_prefix)
    }

    /// Keeps `token` as the session's latest write to its source. Best effort: a Redis failure
    /// costs only the automatic wait, and the client still has the header.
    pub async fn remember(&self, session_id: Uuid, token: &ConsistencyToken) {
        let mut redis = self.redis.clone();
        let key = self.key(session_id);
        let stored: Result<(), _> = redis::pipe()
            .atomic()
            .hset(&key, &token.source, token.to_string())
            .ignore()
            .expire(&key, REMEMBERED_FOR.as_secs() as i64)
            .ignore()
            .query_async(&mut redis)
            .await;
        if let Err(error) = stored {
            tracing::warn!(%error, "a session's consistency token could not be remembered");
        }
    }

    /// The session's latest token per source; none when Redis cannot say.
    pub async fn recall(&self, session_id: Uuid) -> Vec<ConsistencyToken> {
        let mut redis = self.redis.clone();
        let values: Result<Vec<String>, _> = redis::cmd("HVALS")
            .arg(self.key(session_id))
            .query_async(&mut redis)
            .await;
        match values {
            Ok(values) => values
                .iter()
                .filter_map(|value| value.parse().ok())
                .collect(),
            Err(error) => {
                tracing::warn!(%error, "a session's consistency tokens could not be read");
                Vec::new()
            }
        }
    }
}
