//! Service discovery: instances announce themselves in Redis with heartbeats; entries expire.
//!
//! # Key layout
//!
//! Under the configured key prefix `P` (`RedisSettings::key_prefix`, e.g. `waypoint:`):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `P discovery:<service>:<instance_id>` | string, `PX` = `ttl_ms` | the instance's [`InstanceInfo`] as JSON |
//! | `P discovery:<service>` | set | instance ids of `<service>` (an index: may name expired entries) |
//! | `P discovery:services` | set | service names (an index: may name services with no live instance) |
//!
//! (Written without the space: `waypoint:discovery:reviews:reviews-3f2a9c1d`.)
//!
//! Every heartbeat writes the three in one `MULTI`: the entry with a fresh TTL, and both index
//! memberships. Only the entry expires; a reader treats an index member whose entry is gone as
//! dead and removes it from the index. A live instance whose index membership a reader removed
//! in a race puts it back with its next heartbeat. Service names and instance ids contain no `:`,
//! and no service is called `services`.
//!
//! `InstanceInfo` JSON: `{"service", "instance_id", "address": "http://host:port", "version",
//! "started_at": RFC 3339, "config_version": integer or null}`.

use crate::settings::{DiscoverySettings, RedisSettings};
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

/// Bounds every Redis call, so a heartbeat against an unreachable server ends and retries on
/// the next tick instead of hanging, and so a reader fails fast.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// One running instance of a service, as it announces itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceInfo {
    pub service: String,
    pub instance_id: String,
    /// Where its HTTP endpoints are: `http://host:port`.
    pub address: String,
    pub version: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// The hot-reloadable configuration version it runs, once it has applied one.
    pub config_version: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// The registry in Redis: announces instances and lists them. Cheap to clone (one shared,
/// self-reconnecting connection).
#[derive(Debug, Clone)]
pub struct Registry {
    connection: ConnectionManager,
    key_prefix: String,
}

impl Registry {
    /// Connects to Redis; the connection reconnects by itself after Redis restarts.
    pub async fn connect(settings: &RedisSettings) -> Result<Self, DiscoveryError> {
        let client = redis::Client::open(settings.url.as_str())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            // Few, quick retries: the heartbeat's next tick is the real retry.
            .set_number_of_retries(2);
        let connection = ConnectionManager::new_with_config(client, config).await?;
        Ok(Self {
            connection,
            key_prefix: settings.key_prefix.clone(),
        })
    }

    /// Announces `info` now and keeps it announced with a heartbeat every
    /// `heartbeat_interval_ms` until the returned [`Registration`] is deregistered or dropped.
    ///
    /// A failed write (Redis down) is logged and retried on the next heartbeat; it never
    /// stops the service, so this returns no error.
    pub async fn register(&self, info: InstanceInfo, settings: &DiscoverySettings) -> Registration {
        if settings.ttl_ms <= settings.heartbeat_interval_ms {
            // Each entry would expire before its refresh: the instance would flicker in and out.
            tracing::warn!(
                ?settings,
                "discovery TTL is not longer than the heartbeat interval"
            );
        }
        let keys = InstanceKeys::new(&self.key_prefix, &info);
        let ttl_ms = settings.ttl_ms.max(1);
        let interval = Duration::from_millis(settings.heartbeat_interval_ms.max(1));
        let (info_sender, info_receiver) = watch::channel(info);
        let mut heartbeat = Heartbeat {
            connection: self.connection.clone(),
            keys: keys.clone(),
            ttl_ms,
            info: info_receiver,
        };
        heartbeat.beat().await;
        let stop = CancellationToken::new();
        let task = tokio::spawn(heartbeat.run(interval, stop.clone()));
        Registration {
            connection: self.connection.clone(),
            keys,
            info: info_sender,
            task: Some(task),
            stop: Some(stop.drop_guard()),
        }
    }

    /// The live instances of `service`, ordered by instance id. Index entries whose instance
    /// expired are removed on the way.
    pub async fn instances(&self, service: &str) -> Result<Vec<InstanceInfo>, DiscoveryError> {
        let mut connection = self.connection.clone();
        let index = service_index_key(&self.key_prefix, service);
        let mut ids: Vec<String> = connection.smembers(&index).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        ids.sort_unstable();
        let keys: Vec<String> = ids
            .iter()
            .map(|id| instance_key(&self.key_prefix, service, id))
            .collect();
        let entries: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut connection)
            .await?;
        let mut live = Vec::with_capacity(ids.len());
        let mut expired = Vec::new();
        for (id, entry) in ids.into_iter().zip(entries) {
            match entry.map(|json| serde_json::from_str::<InstanceInfo>(&json)) {
                Some(Ok(info)) => live.push(info),
                Some(Err(error)) => {
                    // Left in place: it expires by itself, and a newer writer may understand it.
                    tracing::warn!(service, instance_id = id, %error, "unreadable discovery entry");
                }
                None => expired.push(id),
            }
        }
        if !expired.is_empty() {
            let _: () = connection.srem(&index, &expired).await?;
        }
        Ok(live)
    }

    /// The names of the services with at least one live instance, sorted. Names with none are
    /// removed from the index.
    pub async fn services(&self) -> Result<Vec<String>, DiscoveryError> {
        let mut connection = self.connection.clone();
        let index = services_key(&self.key_prefix);
        let mut names: Vec<String> = connection.smembers(&index).await?;
        names.sort_unstable();
        let mut live = Vec::with_capacity(names.len());
        for name in names {
            if self.instances(&name).await?.is_empty() {
                // A service registering right now adds itself back with its next heartbeat.
                let _: () = connection.srem(&index, &name).await?;
            } else {
                live.push(name);
            }
        }
        Ok(live)
    }
}

/// An announced instance. Dropping it stops the heartbeat (the entry then expires after its
/// TTL); [`Registration::deregister`] also removes the entry at once.
#[derive(Debug)]
pub struct Registration {
    connection: ConnectionManager,
    keys: InstanceKeys,
    info: watch::Sender<InstanceInfo>,
    task: Option<JoinHandle<()>>,
    stop: Option<DropGuard>,
}

impl Registration {
    /// Reports the configuration version this instance now runs, from the next heartbeat on.
    pub fn set_config_version(&self, version: i64) {
        self.info
            .send_modify(|info| info.config_version = Some(version));
    }

    /// What the next heartbeat writes.
    pub fn info(&self) -> InstanceInfo {
        self.info.borrow().clone()
    }

    /// Stops the heartbeat and removes this instance from the registry (graceful shutdown).
    pub async fn deregister(mut self) -> Result<(), DiscoveryError> {
        drop(self.stop.take());
        // Wait for a heartbeat in flight, or it could write the entry again after the delete.
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        let _: () = redis::pipe()
            .atomic()
            .del(&self.keys.instance)
            .ignore()
            .srem(&self.keys.service_index, &self.keys.instance_id)
            .ignore()
            .query_async(&mut self.connection)
            .await?;
        Ok(())
    }
}

struct Heartbeat {
    connection: ConnectionManager,
    keys: InstanceKeys,
    ttl_ms: u64,
    info: watch::Receiver<InstanceInfo>,
}

impl Heartbeat {
    async fn run(mut self, interval: Duration, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick completes at once; `register` has just written.
        ticks.tick().await;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticks.tick() => self.beat().await,
            }
        }
    }

    /// Writes the entry with a fresh TTL and both index memberships; logs a failure.
    async fn beat(&mut self) {
        let json = match serde_json::to_string(&*self.info.borrow()) {
            Ok(json) => json,
            Err(error) => {
                tracing::error!(%error, "could not serialize the discovery entry");
                return;
            }
        };
        let written: redis::RedisResult<()> = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(&self.keys.instance)
            .arg(json)
            .arg("PX")
            .arg(self.ttl_ms)
            .ignore()
            .sadd(&self.keys.service_index, &self.keys.instance_id)
            .ignore()
            .sadd(&self.keys.services, &self.keys.service)
            .ignore()
            .query_async(&mut self.connection)
            .await;
        if let Err(error) = written {
            tracing::warn!(
                instance = self.keys.instance,
                %error,
                "discovery heartbeat failed; retrying on the next one"
            );
        }
    }
}

#[derive(Debug, Clone)]
struct InstanceKeys {
    service: String,
    instance_id: String,
    instance: String,
    service_index: String,
    services: String,
}

impl InstanceKeys {
    fn new(prefix: &str, info: &InstanceInfo) -> Self {
        Self {
            service: info.service.clone(),
            instance_id: info.instance_id.clone(),
            instance: instance_key(prefix, &info.service, &info.instance_id),
            service_index: service_index_key(prefix, &info.service),
            services: services_key(prefix),
        }
    }
}

fn instance_key(prefix: &str, service: &str, instance_id: &str) -> String {
    format!("{prefix}discovery:{service}:{instance_id}")
}

fn service_index_key(prefix: &str, service: &str) -> String {
    format!("{prefix}discovery:{service}")
}

fn services_key(prefix: &str) -> String {
    format!("{prefix}discovery:services")
}
