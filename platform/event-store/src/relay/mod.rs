//! The outbox relay: publishes committed events to `waypoint.events`, in commit order.
//!
//! # Layout
//! - [`leadership`]: one active relay per store; the others wait as standbys.
//! - [`checkpoint`]: how far the relay has published, stored beside the events.
//! - [`wakeup`]: LISTEN/NOTIFY with polling as the fallback.
//! - [`lag`]: how far it is behind, as gauges.
//!
//! The loop reads a batch in commit order (see [`EventStore::read_all`]), publishes every
//! event with `mandatory`, waits for all publisher confirms, and only then advances the
//! checkpoint. The next batch is read and sent while the previous one's confirms arrive, so
//! the database and the broker work at the same time; checkpoints still advance in order. A crash anywhere in between republishes the batch: delivery is at-least-once
//! and consumers deduplicate by message id (= event id).

mod checkpoint;
mod lag;
mod leadership;
mod wakeup;

use crate::error::StoreError;
use crate::model::RecordedEvent;
use crate::store::{EventStore, held_back, read_all_on};
use backon::{BackoffBuilder, ExponentialBuilder};
use events::Checkpoint;
use message_bus::{OutgoingMessage, PendingConfirm, PublishError, Publisher};
use service_kit::telemetry;
use sqlx::PgConnection;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, instrument, warn};

/// How soon the relay looks again when events exist past the commit horizon.
const HELD_BACK_RECHECK: Duration = Duration::from_millis(10);

/// How a relay runs.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Names the relay's checkpoint and its leadership lock; one per store.
    pub name: String,
    /// The exchange events go to (`waypoint.events`, or a test's prefixed copy).
    pub exchange: String,
    /// Events read and published per round; their confirms are awaited together.
    pub batch_size: i64,
    /// The fallback when no notification arrives: a lost NOTIFY, or a transaction elsewhere
    /// holding back the commit horizon.
    pub poll_interval: Duration,
}

impl RelayConfig {
    pub fn new(name: impl Into<String>, exchange: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            exchange: exchange.into(),
            batch_size: 1_000,
            poll_interval: Duration::from_millis(100),
        }
    }
}

/// Where a relay is: what the broker has confirmed, how far it has read, and the batch
/// whose confirms are still outstanding.
#[derive(Debug)]
struct Progress {
    confirmed: Checkpoint,
    read_from: Checkpoint,
    in_flight: Option<Sent>,
}

impl Progress {
    /// Forgets everything unconfirmed: the next read starts after the last confirmed event.
    fn rewind(&mut self) {
        self.in_flight = None;
        self.read_from = self.confirmed;
    }
}

/// A batch written to the broker, with its confirms to come.
#[derive(Debug)]
struct Sent {
    last: Checkpoint,
    confirms: Vec<PendingConfirm>,
}

enum Step {
    Published,
    Idle,
}

/// Why a round of relaying stopped.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("publishing failed: {0}")]
    Publish(#[from] PublishError),
    #[error("could not encode event {event_id}: {source}")]
    Encode {
        event_id: uuid::Uuid,
        source: serde_json::Error,
    },
}

impl From<sqlx::Error> for RelayError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(error.into())
    }
}

/// Publishes one store's events to the bus.
#[derive(Debug, Clone)]
pub struct Relay {
    store: EventStore,
    publisher: Publisher,
    config: RelayConfig,
}

impl Relay {
    pub fn new(store: EventStore, publisher: Publisher, config: RelayConfig) -> Self {
        Self {
            store,
            publisher,
            config,
        }
    }

    /// Runs until `shutdown`: waits as a standby while another relay is active, relays while
    /// it holds leadership, and starts over after any database failure. A batch in flight is
    /// finished before it stops.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = backoff();
        let mut lag = lag::LagGauges::register(self.store.source());
        loop {
            match self.lead(&shutdown, &mut lag).await {
                Ok(()) => return,
                Err(error) => {
                    let delay = backoff.next().unwrap_or(Duration::from_secs(5));
                    warn!(relay = %self.config.name, %error, ?delay, "relay lost its footing; restarting");
                    if sleep_or_shutdown(delay, &shutdown).await {
                        return;
                    }
                }
            }
        }
    }

    /// One term of leadership: from acquiring the lock until an error or shutdown.
    async fn lead(
        &self,
        shutdown: &CancellationToken,
        lag: &mut lag::LagGauges,
    ) -> Result<(), RelayError> {
        let Some(mut lease) =
            leadership::acquire(self.store.pool(), &self.config.name, shutdown).await?
        else {
            return Ok(());
        };
        info!(relay = %self.config.name, "relay is active");
        let mut wakeup = wakeup::Wakeup::listen(self.store.pool(), self.config.poll_interval).await;
        let confirmed = checkpoint::load(lease.connection(), &self.config.name).await?;
        let mut progress = Progress {
            confirmed,
            read_from: confirmed,
            in_flight: None,
        };
        let mut publish_backoff = backoff();
        loop {
            if shutdown.is_cancelled() {
                // Finish the batch in flight, so a restart republishes as little as possible.
                if let Some(sent) = progress.in_flight.take() {
                    self.settle(lease.connection(), &mut progress, sent).await?;
                }
                return Ok(());
            }
            lag.update(lease.connection(), progress.confirmed).await;
            match self.step(lease.connection(), &mut progress).await {
                Ok(Step::Published) => publish_backoff = backoff(),
                Ok(Step::Idle) => {
                    // Committed events held back by a transaction still running elsewhere
                    // come without a further notification once it ends: look again soon.
                    let held_back = held_back(lease.connection(), progress.read_from).await?;
                    let limit = if held_back {
                        HELD_BACK_RECHECK
                    } else {
                        self.config.poll_interval
                    };
                    if wakeup.wait_at_most(limit, shutdown).await {
                        return Ok(());
                    }
                }
                Err(RelayError::Publish(error)) => {
                    // The broker is away: keep leadership and, once it is back, publish again
                    // from the last confirmed checkpoint.
                    progress.rewind();
                    let delay = publish_backoff.next().unwrap_or(Duration::from_secs(5));
                    warn!(relay = %self.config.name, %error, ?delay, "publish failed; retrying");
                    if sleep_or_shutdown(delay, shutdown).await {
                        return Ok(());
                    }
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Reads and sends the next batch while the previous one's confirms are still coming, then
    /// settles the previous one: reading and publishing overlap, checkpoints stay in order.
    async fn step(
        &self,
        conn: &mut PgConnection,
        progress: &mut Progress,
    ) -> Result<Step, RelayError> {
        let batch = read_all_on(
            conn,
            self.store.source(),
            progress.read_from,
            self.config.batch_size,
        )
        .await?;
        let Some(last) = batch.last().map(|event| event.checkpoint) else {
            return match progress.in_flight.take() {
                Some(sent) => {
                    self.settle(conn, progress, sent).await?;
                    Ok(Step::Published)
                }
                None => Ok(Step::Idle),
            };
        };
        let sent = self.send(&batch, last).await?;
        progress.read_from = last;
        if let Some(previous) = progress.in_flight.replace(sent) {
            self.settle(conn, progress, previous).await?;
        }
        Ok(Step::Published)
    }

    /// Sends a batch without waiting for the broker.
    #[instrument(skip_all, fields(relay = %self.config.name, events = batch.len()))]
    async fn send(&self, batch: &[RecordedEvent], last: Checkpoint) -> Result<Sent, RelayError> {
        let mut confirms = Vec::with_capacity(batch.len());
        for event in batch {
            let span = info_span!(
                "relay.publish",
                otel.kind = "producer",
                messaging.system = "rabbitmq",
                messaging.destination.name = %event.event_type,
                event_id = %event.event_id,
            );
            // A child of the append that recorded the event; consumers continue from here.
            telemetry::set_parent(&span, event.traceparent.as_deref());
            let traceparent = telemetry::traceparent(&span).or_else(|| event.traceparent.clone());
            let message = self.message(event)?.with_traceparent(traceparent);
            confirms.push(self.publisher.send(message).instrument(span).await?);
        }
        Ok(Sent { last, confirms })
    }

    /// Waits for every confirm of a sent batch, then (and only then) stores its checkpoint.
    async fn settle(
        &self,
        conn: &mut PgConnection,
        progress: &mut Progress,
        sent: Sent,
    ) -> Result<(), RelayError> {
        let mut unroutable = 0_usize;
        for confirm in sent.confirms {
            if confirm.wait().await?.returned {
                unroutable += 1;
            }
        }
        if unroutable > 0 {
            // No queue is bound for these types yet. Consumers that start later catch up
            // from the store itself, so this is worth a warning, not a stall.
            warn!(relay = %self.config.name, unroutable, "events had no bound queue");
        }
        checkpoint::save(conn, &self.config.name, sent.last).await?;
        progress.confirmed = sent.last;
        Ok(())
    }

    fn message(&self, event: &RecordedEvent) -> Result<OutgoingMessage, RelayError> {
        event_message(event, &self.config.exchange)
    }
}

/// The message the relay publishes for `event` on `exchange`: the event as JSON, routed by its
/// type, with its event id as message id (what consumers deduplicate by), its correlation id
/// and trace context, and `mandatory`. Anything that republishes events (a targeted replay)
/// builds them here, so consumers cannot tell a replayed event from a relayed one.
pub fn event_message(event: &RecordedEvent, exchange: &str) -> Result<OutgoingMessage, RelayError> {
    let body = serde_json::to_vec(event).map_err(|source| RelayError::Encode {
        event_id: event.event_id,
        source,
    })?;
    Ok(
        OutgoingMessage::new(exchange, event.event_type.clone(), body)
            .with_message_id(event.event_id)
            .with_correlation_id(event.correlation_id.to_string())
            .with_traceparent(event.traceparent.clone())
            .mandatory(true),
    )
}

fn backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
        .build()
}

/// Sleeps for `delay`; true if shutdown came first.
async fn sleep_or_shutdown(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => true,
        () = tokio::time::sleep(delay) => false,
    }
}
