//! The self-recovering connection.
//!
//! lapin does not reconnect by itself (its experimental auto-recovery is not used: it cannot
//! re-declare our topology or tell the publisher which confirms were lost). A supervisor task owns
//! the connection instead: it connects with exponential backoff, declares the [`Topology`], and
//! publishes every healthy connection as a new *generation* on a `watch` channel. When the
//! connection fails it marks the bus down and starts over. Users never hold the connection; they
//! take channels from the current generation and come back for a new one after a failure.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures::StreamExt;
use lapin::uri::AMQPUri;
use lapin::{Channel, Connection, ConnectionProperties, Event};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, instrument, warn};

use crate::error::BusError;
use crate::topology::{BusNames, Topology};

/// How often [`Bus::channel_lost`] looks at a channel's own state.
const CHANNEL_CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// The largest AMQP frame asked for, unless the URL says otherwise: bodies above it travel in
/// several frames.
const FRAME_MAX: u32 = 16 * 1024;

/// What [`Bus::connect`] needs.
#[derive(Clone)]
pub struct BusConfig {
    /// `amqp://user:password@host:5672/%2f`. Never logged.
    pub url: String,
    /// Shown in the management UI and used by operators (and tests) to find this connection.
    pub connection_name: String,
    pub names: BusNames,
    /// Declared on every (re)connection.
    pub topology: Topology,
}

impl fmt::Debug for BusConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusConfig")
            .field("url", &redact(&self.url))
            .field("connection_name", &self.connection_name)
            .field("names", &self.names)
            .field("topology", &self.topology)
            .finish()
    }
}

/// Hides the password of an AMQP URL.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Timing of connecting and reconnecting.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// [`Bus::connect`] fails if the first connection is not up by then.
    pub first_connect_timeout: Duration,
    /// One TCP + AMQP handshake may take this long before it counts as failed.
    pub attempt_timeout: Duration,
    /// Backoff between failed attempts, doubling (with jitter) up to the maximum.
    pub reconnect_min_delay: Duration,
    pub reconnect_max_delay: Duration,
    /// How often the supervisor double-checks the connection state, in case lapin closed it
    /// without emitting an error event (a clean close by the broker does that).
    pub health_check_interval: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            first_connect_timeout: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(10),
            reconnect_min_delay: Duration::from_millis(100),
            reconnect_max_delay: Duration::from_secs(10),
            health_check_interval: Duration::from_millis(250),
        }
    }
}

/// The state the supervisor publishes.
#[derive(Clone)]
enum Link {
    /// Not connected; `last_error` says why.
    Down {
        last_error: Option<String>,
    },
    Up {
        generation: u64,
        connection: Arc<Connection>,
    },
    Closed,
}

/// A channel and the connection generation it belongs to.
#[derive(Debug, Clone)]
pub struct BusChannel {
    pub channel: Channel,
    pub generation: u64,
}

/// A handle on the recovering connection. Cheap to clone; every clone shares one connection.
///
/// Dropping the last handle stops the supervisor; [`Bus::shutdown`] does it and waits for the
/// connection to close.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

struct Inner {
    names: BusNames,
    connection_name: String,
    link: watch::Receiver<Link>,
    /// Users poke the supervisor when they see a failure, so it does not wait for its next check.
    check_now: Arc<Notify>,
    shutdown: CancellationToken,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bus")
            .field("connection_name", &self.inner.connection_name)
            .field("names", &self.inner.names)
            .field("generation", &self.generation())
            .finish()
    }
}

impl Bus {
    /// Connects with [`ConnectOptions::default`].
    pub async fn connect(config: BusConfig) -> Result<Self, BusError> {
        Self::connect_with(config, ConnectOptions::default()).await
    }

    /// Starts the supervisor and returns once the first connection is up and the topology is
    /// declared, or fails after `options.first_connect_timeout`.
    #[instrument(skip_all, fields(connection_name = %config.connection_name))]
    pub async fn connect_with(
        config: BusConfig,
        options: ConnectOptions,
    ) -> Result<Self, BusError> {
        let (link_tx, link_rx) = watch::channel(Link::Down { last_error: None });
        let check_now = Arc::new(Notify::new());
        let shutdown = CancellationToken::new();
        let first_connect_timeout = options.first_connect_timeout;
        let supervisor = Supervisor {
            config: config.clone(),
            options,
            link: link_tx,
            check_now: check_now.clone(),
            shutdown: shutdown.clone(),
        };
        let handle = tokio::spawn(supervisor.run());
        let bus = Self {
            inner: Arc::new(Inner {
                names: config.names,
                connection_name: config.connection_name,
                link: link_rx,
                check_now,
                shutdown,
                supervisor: Mutex::new(Some(handle)),
            }),
        };
        match tokio::time::timeout(first_connect_timeout, bus.wait_connected()).await {
            Ok(Ok(_)) => Ok(bus),
            Ok(Err(error)) => Err(error),
            Err(_) => {
                let last_error = match &*bus.inner.link.borrow() {
                    Link::Down {
                        last_error: Some(error),
                    } => error.clone(),
                    _ => "no attempt finished".to_owned(),
                };
                bus.shutdown().await;
                Err(BusError::FirstConnectTimeout {
                    timeout: first_connect_timeout,
                    last_error,
                })
            }
        }
    }

    pub fn names(&self) -> &BusNames {
        &self.inner.names
    }

    pub fn connection_name(&self) -> &str {
        &self.inner.connection_name
    }

    /// Readiness: a connection is up right now.
    pub fn is_connected(&self) -> bool {
        self.generation().is_some()
    }

    /// The generation of the healthy connection, if there is one.
    pub fn generation(&self) -> Option<u64> {
        match &*self.inner.link.borrow() {
            Link::Up {
                generation,
                connection,
            } if connection.status().connected() => Some(*generation),
            _ => None,
        }
    }

    /// Waits for a healthy connection and returns its generation.
    pub async fn wait_connected(&self) -> Result<u64, BusError> {
        self.connection_after(0)
            .await
            .map(|(generation, _)| generation)
    }

    /// Waits for a healthy connection newer than generation `after` (the one that just failed).
    pub async fn wait_for_generation(&self, after: u64) -> Result<u64, BusError> {
        self.connection_after(after)
            .await
            .map(|(generation, _)| generation)
    }

    /// Resolves once `channel`, opened on connection `generation`, can no longer be used: the
    /// supervisor saw that connection fail, or the channel itself closed.
    ///
    /// lapin reports most failures through the operation in progress, but not all of them (an
    /// idle consumer can miss a forced close), so anything that waits long on a channel races
    /// against this.
    pub async fn channel_lost(&self, channel: &Channel, generation: u64) {
        let mut link = self.inner.link.clone();
        let mut health = tokio::time::interval(CHANNEL_CHECK_INTERVAL);
        loop {
            let current = matches!(
                &*link.borrow_and_update(),
                Link::Up { generation: up, .. } if *up == generation
            );
            if !current || !channel.status().connected() {
                return;
            }
            tokio::select! {
                changed = link.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = health.tick() => {}
            }
        }
    }

    /// A fresh channel on the current healthy connection, waiting for one if the bus is down.
    pub async fn channel(&self) -> Result<BusChannel, BusError> {
        let mut after = 0;
        loop {
            let (generation, connection) = self.connection_after(after).await?;
            match connection.create_channel().await {
                Ok(channel) => {
                    return Ok(BusChannel {
                        channel,
                        generation,
                    });
                }
                Err(error) if connection.status().connected() => {
                    return Err(BusError::Broker(error.to_string()));
                }
                Err(error) => {
                    debug!(%error, generation, "connection died while opening a channel");
                    self.report_broken();
                    after = generation;
                }
            }
        }
    }

    /// Tells the supervisor that an operation failed in a way that may mean the connection is
    /// gone, so it checks now rather than at its next health check.
    pub fn report_broken(&self) {
        self.inner.check_now.notify_one();
    }

    /// Stops reconnecting, closes the connection and waits for the supervisor to finish.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        let handle = self
            .inner
            .supervisor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(handle) = handle
            && let Err(error) = handle.await
        {
            warn!(%error, "bus supervisor ended abnormally");
        }
    }

    async fn connection_after(&self, after: u64) -> Result<(u64, Arc<Connection>), BusError> {
        let mut link = self.inner.link.clone();
        loop {
            let seen_dead = {
                let current = link.borrow_and_update();
                match &*current {
                    Link::Closed => return Err(BusError::Shutdown),
                    Link::Up {
                        generation,
                        connection,
                    } if *generation > after => {
                        if connection.status().connected() {
                            return Ok((*generation, connection.clone()));
                        }
                        true
                    }
                    _ => false,
                }
            };
            if seen_dead {
                self.report_broken();
            }
            if link.changed().await.is_err() {
                return Err(BusError::Shutdown);
            }
        }
    }
}

struct Supervisor {
    config: BusConfig,
    options: ConnectOptions,
    link: watch::Sender<Link>,
    check_now: Arc<Notify>,
    shutdown: CancellationToken,
}

impl Supervisor {
    #[instrument(name = "bus_supervisor", skip_all, fields(connection_name = %self.config.connection_name))]
    async fn run(self) {
        let mut generation = 0;
        let mut backoff = self.backoff();
        loop {
            let attempt = tokio::select! {
                () = self.shutdown.cancelled() => break,
                attempt = self.establish() => attempt,
            };
            match attempt {
                Ok(connection) => {
                    backoff = self.backoff();
                    generation += 1;
                    let connection = Arc::new(connection);
                    self.link.send_replace(Link::Up {
                        generation,
                        connection: connection.clone(),
                    });
                    info!(generation, "connected to the broker, topology declared");
                    let reason = self.watch(&connection).await;
                    if self.shutdown.is_cancelled() {
                        if connection.status().connected()
                            && let Err(error) = connection.close(200, "shutdown".into()).await
                        {
                            debug!(%error, "closing the connection on shutdown failed");
                        }
                        break;
                    }
                    warn!(generation, %reason, "connection to the broker lost, reconnecting");
                    self.link.send_replace(Link::Down {
                        last_error: Some(reason),
                    });
                }
                Err(error) => {
                    let delay = backoff.next().unwrap_or(self.options.reconnect_max_delay);
                    warn!(%error, ?delay, "connecting to the broker failed");
                    self.link.send_replace(Link::Down {
                        last_error: Some(error),
                    });
                    tokio::select! {
                        () = self.shutdown.cancelled() => break,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        self.link.send_replace(Link::Closed);
        info!("bus shut down");
    }

    fn backoff(&self) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.options.reconnect_min_delay)
            .with_max_delay(self.options.reconnect_max_delay)
            .without_max_times()
            .build()
    }

    async fn establish(&self) -> Result<Connection, String> {
        let properties = ConnectionProperties::default()
            .with_connection_name(self.config.connection_name.clone().into());
        let mut uri: AMQPUri = self.config.url.parse()?;
        // lapin keeps a send and a receive buffer of 32 frames each per connection, zeroed up
        // front: at RabbitMQ's default frame size (128 KiB) that is 8 MiB for every
        // connection. Waypoint's messages are a few KiB, so smaller frames cost nothing. A URL
        // that names `frame_max` keeps it.
        uri.query.frame_max.get_or_insert(FRAME_MAX);
        let connection = tokio::time::timeout(
            self.options.attempt_timeout,
            Connection::connect_uri(uri, properties),
        )
        .await
        .map_err(|_| format!("no handshake within {:?}", self.options.attempt_timeout))?
        .map_err(|error| error.to_string())?;
        let declared =
            tokio::time::timeout(self.options.attempt_timeout, self.declare(&connection))
                .await
                .unwrap_or_else(|_| {
                    Err(lapin::Error::from(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the broker did not answer the declarations in time",
                    )))
                });
        if let Err(error) = declared {
            // A half-set-up connection must not linger: the next attempt starts clean.
            let _ = connection
                .close(200, "topology declaration failed".into())
                .await;
            return Err(format!("declaring the topology failed: {error}"));
        }
        Ok(connection)
    }

    async fn declare(&self, connection: &Connection) -> Result<(), lapin::Error> {
        let channel = connection.create_channel().await?;
        self.config.topology.declare(&channel).await?;
        channel.close(200, "topology declared".into()).await
    }

    /// Returns when the connection is no longer usable (or on shutdown), with the reason.
    async fn watch(&self, connection: &Connection) -> String {
        let mut events = connection.events_listener();
        let mut health = tokio::time::interval(self.options.health_check_interval);
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => return "shutdown".to_owned(),
                event = events.next() => match event {
                    // Channel errors (a passive declare of a missing queue, say) arrive here too;
                    // only the connection's own state decides whether it is lost.
                    Some(Event::Error(error)) if !connection.status().connected() => {
                        return error.to_string();
                    }
                    Some(_) => {}
                    None => return "connection event stream ended".to_owned(),
                },
                () = self.check_now.notified() => {}
                _ = health.tick() => {}
            }
            if !connection.status().connected() {
                return format!("connection state is {:?}", connection.status());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact("amqp://guest:secret@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(redact("amqp://127.0.0.1"), "amqp://127.0.0.1");
    }
}
