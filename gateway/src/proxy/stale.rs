//! The last good response of each public upstream path, for when the upstream cannot answer.
//!
//! `P stale:<upstream>:<path and query>` is a hash (`body`, `content_type`, `etag`) that
//! expires after `stale.ttl_s`. Responses are handed to one writer task through a bounded
//! queue, so a request never waits for Redis to store its answer; when the queue is full the
//! answer is not stored (the next one will be). The writer skips an answer whose ETag it
//! stored recently for the same key, so steady traffic on unchanged data costs Redis nothing.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderValue;
use redis::aio::ConnectionManager;
use tokio::sync::mpsc;

/// Answers waiting to be stored; more are dropped.
const QUEUE: usize = 1024;
/// Keys the writer remembers having stored; it forgets them all past this, which only costs
/// a few redundant writes.
const REMEMBERED_KEYS: usize = 10_000;

/// A stored answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StaleEntry {
    pub content_type: Option<HeaderValue>,
    pub etag: Option<HeaderValue>,
    pub body: Bytes,
}

#[derive(Debug)]
struct Write {
    key: String,
    entry: StaleEntry,
}

#[derive(Debug)]
pub(crate) struct StaleStore {
    redis: ConnectionManager,
    key_prefix: String,
    writes: mpsc::Sender<Write>,
}

impl StaleStore {
    /// Starts the writer; it ends when the store is dropped.
    pub fn new(redis: ConnectionManager, key_prefix: &str, ttl: Duration) -> Self {
        let (writes, queue) = mpsc::channel(QUEUE);
        tokio::spawn(write_all(redis.clone(), ttl, queue));
        Self {
            redis,
            key_prefix: key_prefix.to_owned(),
            writes,
        }
    }

    pub fn key(&self, upstream: &str, path_and_query: &str) -> String {
        format!("{}stale:{upstream}:{path_and_query}", self.key_prefix)
    }

    /// Queues `entry` to be stored under `key`, without waiting.
    pub fn remember(&self, key: String, entry: StaleEntry) {
        if self.writes.try_send(Write { key, entry }).is_err() {
            tracing::debug!("the stale store's queue is full; an answer is not kept");
        }
    }

    /// The last good answer under `key`; none when there is none or Redis cannot say.
    pub async fn recall(&self, key: &str) -> Option<StaleEntry> {
        let mut redis = self.redis.clone();
        let fields: HashMap<String, Vec<u8>> =
            match redis::cmd("HGETALL").arg(key).query_async(&mut redis).await {
                Ok(fields) => fields,
                Err(error) => {
                    tracing::warn!(%error, "the stale store could not be read");
                    return None;
                }
            };
        let header = |name: &str| {
            fields
                .get(name)
                .and_then(|value| HeaderValue::from_bytes(value).ok())
        };
        Some(StaleEntry {
            content_type: header("content_type"),
            etag: header("etag"),
            body: Bytes::from(fields.get("body")?.clone()),
        })
    }
}

async fn write_all(redis: ConnectionManager, ttl: Duration, mut queue: mpsc::Receiver<Write>) {
    // The ETag last stored under each key, and when: rewritten after half the TTL so an
    // unchanged answer does not expire while it is still being served.
    let mut stored: HashMap<String, (Option<HeaderValue>, Instant)> = HashMap::new();
    while let Some(Write { key, entry }) = queue.recv().await {
        let now = Instant::now();
        let unchanged = stored.get(&key).is_some_and(|(etag, at)| {
            entry.etag.is_some() && *etag == entry.etag && now.duration_since(*at) < ttl / 2
        });
        if unchanged {
            continue;
        }
        match store(&redis, &key, &entry, ttl).await {
            Ok(()) => {
                if stored.len() >= REMEMBERED_KEYS {
                    stored.clear();
                }
                stored.insert(key, (entry.etag, now));
            }
            Err(error) => tracing::warn!(%error, "the stale store could not be written"),
        }
    }
}

async fn store(
    redis: &ConnectionManager,
    key: &str,
    entry: &StaleEntry,
    ttl: Duration,
) -> redis::RedisResult<()> {
    let mut redis = redis.clone();
    let mut fields: Vec<(&str, &[u8])> = vec![("body", &entry.body)];
    if let Some(content_type) = &entry.content_type {
        fields.push(("content_type", content_type.as_bytes()));
    }
    if let Some(etag) = &entry.etag {
        fields.push(("etag", etag.as_bytes()));
    }
    // Replaced whole: a field the new answer lacks must not survive from the old one.
    redis::pipe()
        .atomic()
        .del(key)
        .ignore()
        .hset_multiple(key, &fields)
        .ignore()
        .expire(key, i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX))
        .ignore()
        .query_async(&mut redis)
        .await
}
