//! The follower every instance runs: it reads the current version from Redis, then applies
//! each broadcast, and reports the version it runs through discovery.
//!
//! Its queue (`waypoint.config.<instance>`, exclusive to its connection) is declared and bound
//! before Redis is read, so a version published after the read arrives as a message; after a
//! reconnect the queue is new and Redis is read again. Every version is a whole document, so a
//! missed message costs nothing once a later one, or the next read of Redis, arrives.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use message_bus::lapin::options::BasicConsumeOptions;
use message_bus::lapin::types::{FieldTable, ShortString};
use message_bus::{Bus, BusConfig, BusNames, CancellationToken, Topology};
use redis::aio::ConnectionManager;
use service_kit::discovery::Registration;
use service_kit::settings::{RabbitMqSettings, RedisSettings};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::broadcast::{self, Announcement};
use crate::document::DynamicConfig;

/// Redis is read again this often, in case a broadcast was lost with a connection.
const RESYNC_INTERVAL: Duration = Duration::from_secs(30);
const MIN_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(10);
/// A session that lasted this long resets the retry delay.
const STABLE_SESSION: Duration = Duration::from_secs(10);

/// A part of an instance that takes its settings from the dynamic configuration.
pub trait Apply: Send + Sync + 'static {
    /// Puts `document` in force, or changes nothing and says why. The document has been
    /// validated; this is where a part's own rules refuse what it cannot run with.
    fn apply(&self, document: &DynamicConfig) -> Result<(), ApplyError>;
}

/// Why an instance did not apply a version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ApplyError(String);

impl ApplyError {
    pub fn new(reason: impl std::fmt::Display) -> Self {
        Self(reason.to_string())
    }
}

/// Where an instance says which version it runs.
pub trait ReportVersion: Sync {
    fn report(&self, version: i64);
}

impl ReportVersion for Registration {
    fn report(&self, version: i64) {
        self.set_config_version(version);
    }
}

impl<F: Fn(i64) + Sync> ReportVersion for F {
    fn report(&self, version: i64) {
        self(version);
    }
}

/// A version an instance runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub version: i64,
    pub document: DynamicConfig,
}

/// Follows the dynamic configuration for one instance. Every instance applies `log_filter`;
/// [`Follower::with`] adds the instance's own parts.
pub struct Follower {
    amqp_url: String,
    names: BusNames,
    redis: RedisSettings,
    instance_id: String,
    parts: Vec<Box<dyn Apply>>,
    applied: watch::Sender<Option<Arc<Applied>>>,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("names", &self.names)
            .field("redis", &self.redis)
            .field("instance_id", &self.instance_id)
            .field("parts", &self.parts.len())
            .finish_non_exhaustive()
    }
}

/// Why one consuming session ended.
enum Ended {
    Stopped,
    Lost(String),
}

impl Follower {
    pub fn new(rabbitmq: &RabbitMqSettings, redis: &RedisSettings, instance_id: &str) -> Self {
        Self {
            amqp_url: rabbitmq.url.clone(),
            names: BusNames::with_prefix(rabbitmq.prefix.clone()),
            redis: redis.clone(),
            instance_id: instance_id.to_owned(),
            parts: Vec::new(),
            applied: watch::Sender::new(None),
        }
    }

    /// Also applies each version to `part`, before the log filter.
    #[must_use]
    pub fn with(mut self, part: impl Apply) -> Self {
        self.parts.push(Box::new(part));
        self
    }

    /// The version applied last, for parts that read the configuration (feature flags) rather
    /// than being handed it.
    pub fn watch(&self) -> watch::Receiver<Option<Arc<Applied>>> {
        self.applied.subscribe()
    }

    /// Follows the configuration while `work` runs (the instance serving), and returns what
    /// `work` returned once the follower has disconnected.
    pub async fn run_while<F: Future>(self, report: &impl ReportVersion, work: F) -> F::Output {
        let stop = CancellationToken::new();
        let work = async {
            let output = work.await;
            stop.cancel();
            output
        };
        let ((), output) = tokio::join!(self.run(report, stop.clone()), work);
        output
    }

    /// Follows the configuration until `stop`.
    pub async fn run(self, report: &impl ReportVersion, stop: CancellationToken) {
        let Some(bus) = self.connect(&stop).await else {
            return;
        };
        let mut state = State {
            redis: None,
            seen: None,
        };
        let mut delay = MIN_RETRY;
        loop {
            let started = tokio::time::Instant::now();
            match self.session(&bus, &mut state, report, &stop).await {
                Ended::Stopped => break,
                Ended::Lost(reason) => {
                    if started.elapsed() >= STABLE_SESSION {
                        delay = MIN_RETRY;
                    }
                    warn!(%reason, ?delay, "following the configuration was interrupted; resuming");
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(MAX_RETRY);
                }
            }
        }
        bus.shutdown().await;
    }

    fn topology(&self) -> Topology {
        Topology::new(self.names.clone()).config_queue(&self.instance_id)
    }

    /// The follower's own connection: its queue lives exactly as long as it does.
    async fn connect(&self, stop: &CancellationToken) -> Option<Bus> {
        let mut delay = MIN_RETRY;
        loop {
            let config = BusConfig {
                url: self.amqp_url.clone(),
                connection_name: format!("{}-config", self.instance_id),
                names: self.names.clone(),
                topology: self.topology(),
            };
            tokio::select! {
                () = stop.cancelled() => return None,
                connected = Bus::connect(config) => match connected {
                    Ok(bus) => return Some(bus),
                    Err(error) => warn!(%error, ?delay, "cannot follow the configuration yet"),
                },
            }
            tokio::select! {
                () = stop.cancelled() => return None,
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(MAX_RETRY);
        }
    }

    async fn session(
        &self,
        bus: &Bus,
        state: &mut State,
        report: &impl ReportVersion,
        stop: &CancellationToken,
    ) -> Ended {
        let opened = tokio::select! {
            () = stop.cancelled() => return Ended::Stopped,
            opened = bus.channel() => opened,
        };
        let bus_channel = match opened {
            Ok(bus_channel) => bus_channel,
            Err(error) => return Ended::Lost(error.to_string()),
        };
        let channel = &bus_channel.channel;
        // The bus declared the queue with the connection; declaring again restores it if an
        // operator deleted it, and it must exist before Redis is read.
        if let Err(error) = self.topology().declare(channel).await {
            return Ended::Lost(error.to_string());
        }
        let queue = match ShortString::try_new(self.names.config_queue(&self.instance_id)) {
            Ok(queue) => queue,
            Err(error) => return Ended::Lost(format!("the queue name: {error}")),
        };
        let consumer = channel
            .basic_consume(
                queue,
                ShortString::default(),
                // Every message is a whole version, and Redis is read again after a
                // reconnect, so one lost in flight needs no redelivery.
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await;
        let mut consumer = match consumer {
            Ok(consumer) => consumer,
            Err(error) => return Ended::Lost(error.to_string()),
        };
        let mut resync = tokio::time::interval(RESYNC_INTERVAL);
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => {
                    let _ = channel.close(200, "shutdown".into()).await;
                    return Ended::Stopped;
                }
                () = bus.channel_lost(channel, bus_channel.generation) => {
                    return Ended::Lost("the connection is gone".to_owned());
                }
                // The first tick is immediate: the read that follows the declaration.
                _ = resync.tick() => self.resync(state, report).await,
                next = consumer.next() => match next {
                    Some(Ok(delivery)) => match serde_json::from_slice::<Announcement>(&delivery.data) {
                        Ok(announcement) => self.offer(announcement, state, report),
                        Err(error) => warn!(%error, "an unreadable configuration broadcast"),
                    },
                    Some(Err(error)) => return Ended::Lost(error.to_string()),
                    None => return Ended::Lost("the broker cancelled the consumer".to_owned()),
                },
            }
        }
    }

    /// Reads the current version from Redis and applies it if it is new here.
    async fn resync(&self, state: &mut State, report: &impl ReportVersion) {
        if state.redis.is_none() {
            match broadcast::redis_connection(&self.redis).await {
                Ok(connection) => state.redis = Some(connection),
                Err(error) => {
                    warn!(%error, "cannot read the current configuration from Redis");
                    return;
                }
            }
        }
        let Some(redis) = state.redis.as_mut() else {
            return;
        };
        match broadcast::read_current(redis, &self.redis.key_prefix).await {
            Ok(Some(announcement)) => self.offer(announcement, state, report),
            Ok(None) => debug!("no configuration has been published yet"),
            Err(error) => warn!(%error, "cannot read the current configuration from Redis"),
        }
    }

    /// Applies `announcement` unless this instance has already seen it or a newer one.
    fn offer(&self, announcement: Announcement, state: &mut State, report: &impl ReportVersion) {
        let version = announcement.version;
        if state.seen.is_some_and(|seen| version <= seen) {
            debug!(version, "configuration version already seen");
            return;
        }
        state.seen = Some(version);
        match self.apply(announcement.document) {
            Ok(document) => {
                report.report(version);
                self.applied
                    .send_replace(Some(Arc::new(Applied { version, document })));
                info!(version, "applied configuration version");
            }
            // Not reported: discovery keeps showing the version this instance still runs, so
            // the operator sees that it did not converge.
            Err(error) => warn!(
                version,
                %error,
                "cannot apply configuration version; still running the previous one"
            ),
        }
    }

    fn apply(&self, document: serde_json::Value) -> Result<DynamicConfig, ApplyError> {
        let document = DynamicConfig::from_value(document).map_err(ApplyError::new)?;
        for part in &self.parts {
            part.apply(&document)?;
        }
        service_kit::logging::set_filter(&document.log_filter).map_err(ApplyError::new)?;
        Ok(document)
    }
}

struct State {
    /// Connected on first use, so a Redis outage never keeps the broadcast from being followed.
    redis: Option<ConnectionManager>,
    /// The newest version received, applied or not.
    seen: Option<i64>,
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;

    /// Refuses any document with the feature `refuse` on, as a gateway part refuses limits it
    /// cannot run with.
    struct Picky;

    impl Apply for Picky {
        fn apply(&self, document: &DynamicConfig) -> Result<(), ApplyError> {
            if document.feature("refuse") {
                Err(ApplyError::new("not here"))
            } else {
                Ok(())
            }
        }
    }

    fn follower() -> Follower {
        let rabbitmq = RabbitMqSettings {
            url: "amqp://127.0.0.1:1".to_owned(),
            prefix: "t_unit".to_owned(),
        };
        let redis = RedisSettings {
            url: "redis://127.0.0.1:1".to_owned(),
            key_prefix: "t_unit:".to_owned(),
        };
        Follower::new(&rabbitmq, &redis, "unit-1").with(Picky)
    }

    fn announcement(version: i64, document: serde_json::Value) -> Announcement {
        Announcement { version, document }
    }

    #[test]
    fn applies_newer_versions_only_and_reports_what_it_applied() {
        let follower = follower();
        let applied = follower.watch();
        let reported = Mutex::new(Vec::new());
        let report = |version: i64| reported.lock().unwrap().push(version);
        let mut state = State {
            redis: None,
            seen: None,
        };
        let burst = |burst: u32| json!({"rate_limit": {"per_ip_burst": burst}});

        follower.offer(announcement(2, burst(5)), &mut state, &report);
        follower.offer(announcement(1, burst(6)), &mut state, &report);
        follower.offer(announcement(2, burst(7)), &mut state, &report);
        assert_eq!(*reported.lock().unwrap(), [2]);
        let current = applied.borrow().clone().unwrap();
        assert_eq!(
            (current.version, current.document.rate_limit.per_ip_burst),
            (2, 5)
        );

        // One its part refuses, and one that is not a valid document: neither is reported.
        follower.offer(
            announcement(3, json!({"features": {"refuse": true}})),
            &mut state,
            &report,
        );
        follower.offer(
            announcement(4, json!({"colour": "blue"})),
            &mut state,
            &report,
        );
        assert_eq!(*reported.lock().unwrap(), [2]);
        assert_eq!(
            applied.borrow().as_ref().map(|applied| applied.version),
            Some(2)
        );

        follower.offer(announcement(5, burst(9)), &mut state, &report);
        assert_eq!(*reported.lock().unwrap(), [2, 5]);
        assert_eq!(state.seen, Some(5));
    }
}
