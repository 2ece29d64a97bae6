//! The consumer runner: at-least-once handling with retries at the tail of the queue and a
//! dead-letter queue, surviving reconnects.
//!
//! A message is acked only after its handler returned `Ok` (the handler commits its own work
//! first). A failed message is republished to the tail of its queue with an attempt counter, and
//! only once that copy is confirmed is the original acked, so one bad message never blocks the
//! queue and never disappears. After `max_attempts` failures the copy goes to the dead-letter
//! exchange instead. If a republish cannot be confirmed the original is requeued.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    ExchangeDeclareOptions, QueueBindOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Consumer, ExchangeKind};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, warn};
use uuid::Uuid;

use crate::connection::Bus;
use crate::error::{BusError, ConsumerError, HandlingError, PublishError};
use crate::message::{
    Encoded, IncomingMessage, OutgoingMessage, headers, long, short, unix_millis,
};
use crate::publisher::ConfirmChannel;
use crate::topology::{QueueDecl, QueueKind, declare_queue};

/// Opening a consuming session is a handful of round trips; if they hang, start over.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// A session that lasted this long resets the reconnect backoff.
const STABLE_SESSION: Duration = Duration::from_secs(10);
/// The longest failure reason kept in a header; headers share one frame with the properties.
const MAX_REASON_BYTES: usize = 2048;
/// Pause before requeueing a message whose retry copy could not be published, so a broker that
/// refuses everything does not turn the runner into a hot loop.
const REQUEUE_PAUSE: Duration = Duration::from_secs(1);
/// Messages this runner dead-lettered, by the queue they failed in.
const DEAD_LETTERS: &str = "waypoint_dead_letters_total";

/// What to consume and how persistent to be about failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    pub queue: String,
    /// Empty: the broker picks one.
    pub consumer_tag: String,
    /// How many unacked messages the broker may push ahead of the handler.
    pub prefetch: u16,
    /// Failures after which a message is dead-lettered (at least 1).
    pub max_attempts: u32,
    /// Routing key on the dead-letters exchange, and the name of the dead-letter queue
    /// (`waypoint.dead-letters.<source>`), which the runner declares itself.
    pub dead_letter_source: String,
}

impl ConsumerConfig {
    /// Prefetch 32, 5 attempts, broker-chosen tag.
    pub fn new(queue: impl Into<String>, dead_letter_source: impl Into<String>) -> Self {
        Self {
            queue: queue.into(),
            consumer_tag: String::new(),
            prefetch: 32,
            max_attempts: 5,
            dead_letter_source: dead_letter_source.into(),
        }
    }

    #[must_use]
    pub fn with_prefetch(mut self, prefetch: u16) -> Self {
        self.prefetch = prefetch;
        self
    }

    #[must_use]
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    #[must_use]
    pub fn with_consumer_tag(mut self, consumer_tag: impl Into<String>) -> Self {
        self.consumer_tag = consumer_tag.into();
        self
    }

    fn validate(&self) -> Result<(), ConsumerError> {
        if self.max_attempts == 0 {
            return Err(ConsumerError::InvalidConfig(
                "max_attempts must be at least 1".to_owned(),
            ));
        }
        if self.prefetch == 0 {
            // 0 means "unlimited" to the broker, which defeats back-pressure.
            return Err(ConsumerError::InvalidConfig(
                "prefetch must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }
}

/// Consumes `config.queue` until `shutdown` is cancelled, handling one message at a time in
/// delivery order (run several runners for parallelism).
///
/// A panic in the handler is caught and counts as a failure. On shutdown the
/// message being handled is finished and acked first. Returns `Err` only for an invalid config or
/// when the bus itself is shut down.
pub async fn run_consumer<H, Fut>(
    bus: Bus,
    config: ConsumerConfig,
    handler: H,
    shutdown: CancellationToken,
) -> Result<(), ConsumerError>
where
    H: Fn(IncomingMessage) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlingError>> + Send + 'static,
{
    let handler: Handler = Arc::new(move |message| {
        let handled = handler(message);
        Box::pin(async move { handled.await.map(|()| None) })
    });
    Runner::new(bus, config, handler, shutdown).run().await
}

/// Consumes `config.queue` in batches of up to `max_batch` messages, for handlers that commit
/// many messages in one transaction (read models).
///
/// The handler gets the messages in queue order. `Ok(dead)` acks the whole batch after
/// dead-lettering the messages at the indices in `dead` (with their reasons): the handler
/// could not use them, has recorded that, and must not see them again. `Err` keeps the batch
/// unacked and hands the same batch to the handler again after a backoff, so order is kept
/// (nothing goes to the tail of the queue). A batch is whatever the broker has already pushed
/// when the first message arrives: nothing waits for a batch to fill.
pub async fn run_batch_consumer<H, Fut>(
    bus: Bus,
    config: ConsumerConfig,
    max_batch: usize,
    handler: H,
    shutdown: CancellationToken,
) -> Result<(), ConsumerError>
where
    H: Fn(Vec<IncomingMessage>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = BatchHandled> + Send + 'static,
{
    let handler: BatchHandler = Arc::new(move |messages| Box::pin(handler(messages)));
    let mode = Mode::Batch {
        handler,
        max: max_batch.max(1),
    };
    Runner::with_mode(bus, config, mode, shutdown).run().await
}

/// A batch handler's result: the indices of messages to dead-letter, with why.
pub type BatchHandled = Result<Vec<(usize, String)>, HandlingError>;
type BatchHandler = Arc<
    dyn Fn(Vec<IncomingMessage>) -> Pin<Box<dyn Future<Output = BatchHandled> + Send>>
        + Send
        + Sync,
>;

/// One message at a time, or batches.
enum Mode {
    Single(Handler),
    Batch { handler: BatchHandler, max: usize },
}

/// A handler's result: `Some(reply)` is published to the message's `reply_to` before the ack.
pub(crate) type Handled = Result<Option<Vec<u8>>, HandlingError>;
pub(crate) type Handler =
    Arc<dyn Fn(IncomingMessage) -> Pin<Box<dyn Future<Output = Handled> + Send>> + Send + Sync>;

pub(crate) struct Runner {
    bus: Bus,
    config: ConsumerConfig,
    mode: Mode,
    shutdown: CancellationToken,
    dead_letters: metrics::Counter,
}

/// Why one consuming session ended.
enum SessionEnd {
    Shutdown,
    Lost(String),
}

impl Runner {
    pub(crate) fn new(
        bus: Bus,
        config: ConsumerConfig,
        handler: Handler,
        shutdown: CancellationToken,
    ) -> Self {
        Self::with_mode(bus, config, Mode::Single(handler), shutdown)
    }

    fn with_mode(
        bus: Bus,
        config: ConsumerConfig,
        mode: Mode,
        shutdown: CancellationToken,
    ) -> Self {
        let dead_letters = metrics::counter!(DEAD_LETTERS, "queue" => config.queue.clone());
        // Shown at 0 from the start: a rate over a series that appears at 1 misses that 1.
        dead_letters.increment(0);
        Self {
            bus,
            config,
            mode,
            shutdown,
            dead_letters,
        }
    }

    pub(crate) async fn run(self) -> Result<(), ConsumerError> {
        self.config.validate()?;
        let span = info_span!("consumer", queue = %self.config.queue);
        async move {
            let new_backoff = || {
                ExponentialBuilder::default()
                    .with_jitter()
                    .with_min_delay(Duration::from_millis(100))
                    .with_max_delay(Duration::from_secs(10))
                    .without_max_times()
                    .build()
            };
            let mut backoff = new_backoff();
            loop {
                let session = tokio::select! {
                    () = self.shutdown.cancelled() => return Ok(()),
                    session = tokio::time::timeout(OPEN_TIMEOUT, self.open()) => {
                        session.unwrap_or_else(|_| {
                            Err(BusError::Broker("opening the consumer channel timed out".to_owned()))
                        })
                    }
                };
                let (channel, consumer) = match session {
                    Ok(session) => session,
                    Err(BusError::Shutdown) => return Err(BusError::Shutdown.into()),
                    Err(error) => {
                        let delay = backoff.next().unwrap_or(Duration::from_secs(10));
                        warn!(%error, ?delay, "could not start consuming");
                        tokio::select! {
                            () = self.shutdown.cancelled() => return Ok(()),
                            () = tokio::time::sleep(delay) => continue,
                        }
                    }
                };
                info!(generation = channel.generation(), "consuming");
                let started = tokio::time::Instant::now();
                match self.consume(&channel, consumer).await {
                    SessionEnd::Shutdown => {
                        // Closing the channel hands prefetched, unhandled messages back at once.
                        if let Err(error) = channel.channel().close(200, "shutdown".into()).await {
                            debug!(%error, "closing the consumer channel failed");
                        }
                        info!("consumer stopped");
                        return Ok(());
                    }
                    SessionEnd::Lost(reason) => {
                        // A session that keeps ending right after it started (a queue deleted
                        // under us, say) must not become a hot loop.
                        if started.elapsed() >= STABLE_SESSION {
                            backoff = new_backoff();
                        }
                        let delay = backoff.next().unwrap_or(Duration::from_secs(10));
                        warn!(%reason, ?delay, "consuming interrupted, resuming on a new channel");
                        self.bus.report_broken();
                        tokio::select! {
                            () = self.shutdown.cancelled() => return Ok(()),
                            () = tokio::time::sleep(delay) => {}
                        }
                    }
                }
            }
        }
        .instrument(span)
        .await
    }

    /// A confirm channel with QoS, the dead-letter route declared, and a consumer on it.
    async fn open(&self) -> Result<(ConfirmChannel, Consumer), BusError> {
        let bus_channel = self.bus.channel().await?;
        let broker = |error: lapin::Error| BusError::Broker(error.to_string());
        let channel = ConfirmChannel::open(&self.bus, bus_channel, None)
            .await
            .map_err(broker)?;
        let lapin_channel = channel.channel();
        lapin_channel
            .basic_qos(self.config.prefetch, BasicQosOptions::default())
            .await
            .map_err(broker)?;
        self.declare_dead_letter_route(lapin_channel)
            .await
            .map_err(broker)?;
        let consumer = lapin_channel
            .basic_consume(
                crate::topology::short(&self.config.queue).map_err(broker)?,
                crate::topology::short(&self.config.consumer_tag).map_err(broker)?,
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(broker)?;
        Ok((channel, consumer))
    }

    /// Dead-lettering must never depend on some other process having declared the route.
    async fn declare_dead_letter_route(&self, channel: &lapin::Channel) -> lapin::Result<()> {
        let names = self.bus.names();
        let exchange = names.dead_letters_exchange();
        let queue = QueueDecl {
            name: names.dead_letter_queue(&self.config.dead_letter_source),
            kind: QueueKind::DeadLetter,
        };
        channel
            .exchange_declare(
                crate::topology::short(&exchange)?,
                ExchangeKind::Direct,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        declare_queue(channel, &queue).await?;
        channel
            .queue_bind(
                crate::topology::short(&queue.name)?,
                crate::topology::short(&exchange)?,
                crate::topology::short(&self.config.dead_letter_source)?,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
    }

    async fn consume(&self, channel: &ConfirmChannel, consumer: Consumer) -> SessionEnd {
        match &self.mode {
            Mode::Single(_) => self.consume_one_by_one(channel, consumer).await,
            Mode::Batch { handler, max } => {
                self.consume_batches(channel, consumer, handler, *max).await
            }
        }
    }

    async fn consume_one_by_one(
        &self,
        channel: &ConfirmChannel,
        mut consumer: Consumer,
    ) -> SessionEnd {
        loop {
            let next = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return SessionEnd::Shutdown,
                () = channel.lost().cancelled() => {
                    return SessionEnd::Lost("the channel's connection is gone".to_owned());
                }
                next = consumer.next() => next,
            };
            let delivery = match next {
                Some(Ok(delivery)) => delivery,
                Some(Err(error)) => return SessionEnd::Lost(error.to_string()),
                None => return SessionEnd::Lost("the broker cancelled the consumer".to_owned()),
            };
            if let Err(reason) = self.process(channel, delivery).await {
                return SessionEnd::Lost(reason);
            }
        }
    }

    /// Handles one delivery to the end: ack, retry or dead-letter. `Err` means the channel is
    /// unusable; the broker redelivers whatever was not acked.
    async fn process(&self, channel: &ConfirmChannel, delivery: Delivery) -> Result<(), String> {
        let message = IncomingMessage::from_delivery(&delivery, &self.config.queue);
        let span = info_span!(
            "handle_message",
            queue = %self.config.queue,
            routing_key = %message.routing_key,
            message_id = message.message_id.as_deref().unwrap_or_default(),
            correlation_id = message.correlation_id.as_deref().unwrap_or_default(),
            traceparent = message.traceparent.as_deref().unwrap_or_default(),
            attempt = message.attempt,
            redelivered = message.redelivered,
        );
        async move {
            let reply_to = message.reply_to.clone();
            let correlation_id = message.correlation_id.clone();
            let traceparent = message.traceparent.clone();
            let attempt = message.attempt;
            match self.handle(message).await {
                Ok(reply) => {
                    if let (Some(reply), Some(reply_to)) = (reply, reply_to) {
                        self.reply(channel, &reply_to, reply, correlation_id, traceparent)
                            .await;
                    }
                    unless_lost(channel, ack(&delivery)).await
                }
                Err(failure) => self.fail(channel, &delivery, attempt, failure).await,
            }
        }
        .instrument(span)
        .await
    }

    async fn handle(&self, message: IncomingMessage) -> Handled {
        let Mode::Single(handler) = &self.mode else {
            return Err(HandlingError::new("a batch runner handles batches"));
        };
        caught(handler(message)).await
    }

    /// Takes the first message and whatever else the broker already pushed, hands them to the
    /// handler until it succeeds, dead-letters what it gave up on, then acks them all.
    async fn consume_batches(
        &self,
        channel: &ConfirmChannel,
        mut consumer: Consumer,
        handler: &BatchHandler,
        max: usize,
    ) -> SessionEnd {
        loop {
            let first = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return SessionEnd::Shutdown,
                () = channel.lost().cancelled() => {
                    return SessionEnd::Lost("the channel's connection is gone".to_owned());
                }
                next = consumer.next() => next,
            };
            let mut deliveries = vec![match first {
                Some(Ok(delivery)) => delivery,
                Some(Err(error)) => return SessionEnd::Lost(error.to_string()),
                None => return SessionEnd::Lost("the broker cancelled the consumer".to_owned()),
            }];
            while deliveries.len() < max {
                match consumer.next().now_or_never() {
                    Some(Some(Ok(delivery))) => deliveries.push(delivery),
                    Some(Some(Err(error))) => return SessionEnd::Lost(error.to_string()),
                    Some(None) => {
                        return SessionEnd::Lost("the broker cancelled the consumer".to_owned());
                    }
                    None => break,
                }
            }
            let messages: Vec<IncomingMessage> = deliveries
                .iter()
                .map(|delivery| IncomingMessage::from_delivery(delivery, &self.config.queue))
                .collect();
            let dead = match self.handle_batch(channel, handler, messages).await {
                Ok(dead) => dead,
                Err(end) => return end,
            };
            for (index, reason) in dead {
                let Some(delivery) = deliveries.get(index) else {
                    continue;
                };
                let copy = self.failed_copy(delivery, 1, &reason, true);
                match confirmed(channel, copy).await {
                    Ok(_) => {
                        self.dead_letters.increment(1);
                        error!(%reason, "message dead-lettered");
                    }
                    Err(error) => {
                        return SessionEnd::Lost(format!("dead-lettering a message: {error}"));
                    }
                }
            }
            let Some(last) = deliveries.last() else {
                continue;
            };
            let acked = last.ack(BasicAckOptions { multiple: true });
            match unless_lost(channel, async {
                match acked.await {
                    Ok(true) => Ok(()),
                    Ok(false) => Err("the channel closed before the ack".to_owned()),
                    Err(error) => Err(format!("ack failed: {error}")),
                }
            })
            .await
            {
                Ok(()) => {}
                Err(reason) => return SessionEnd::Lost(reason),
            }
        }
    }

    /// The handler's verdict on a batch, retried with a backoff until it gives one; the
    /// session ends instead when shutting down or when the channel is lost (the broker then
    /// redelivers the batch).
    async fn handle_batch(
        &self,
        channel: &ConfirmChannel,
        handler: &BatchHandler,
        messages: Vec<IncomingMessage>,
    ) -> Result<Vec<(usize, String)>, SessionEnd> {
        let mut backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(Duration::from_millis(50))
            .with_max_delay(Duration::from_secs(5))
            .without_max_times()
            .build();
        loop {
            let handled = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return Err(SessionEnd::Shutdown),
                handled = caught(handler(messages.clone())) => handled,
            };
            let failure = match handled {
                Ok(dead) => return Ok(dead),
                Err(failure) => failure,
            };
            let delay = backoff.next().unwrap_or(Duration::from_secs(5));
            warn!(reason = %failure, ?delay, batch = messages.len(), "handling a batch failed; retrying it");
            tokio::select! {
                () = self.shutdown.cancelled() => return Err(SessionEnd::Shutdown),
                () = channel.lost().cancelled() => {
                    return Err(SessionEnd::Lost("the channel's connection is gone".to_owned()));
                }
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Publishes a command's reply. A requester that is gone is not an error: the reply is
    /// published without `mandatory` and the command is acked either way, since its work is done.
    async fn reply(
        &self,
        channel: &ConfirmChannel,
        reply_to: &str,
        reply: Vec<u8>,
        correlation_id: Option<String>,
        traceparent: Option<String>,
    ) {
        let mut message = OutgoingMessage::new("", reply_to, reply).with_traceparent(traceparent);
        message.correlation_id = correlation_id;
        let published = match message.encode(None) {
            Ok(encoded) => confirmed(channel, encoded).await.map(|_| ()),
            Err(error) => Err(error),
        };
        if let Err(error) = published {
            warn!(%error, "publishing the reply failed; the requester will time out");
        }
    }

    async fn fail(
        &self,
        channel: &ConfirmChannel,
        delivery: &Delivery,
        attempt: u32,
        failure: HandlingError,
    ) -> Result<(), String> {
        let dead = attempt >= self.config.max_attempts;
        let copy = self.failed_copy(delivery, attempt, failure.reason(), dead);
        let outcome = confirmed(channel, copy).await;
        match outcome {
            Ok(confirmed) if !confirmed.returned => {
                if dead {
                    self.dead_letters.increment(1);
                    error!(reason = %failure, attempt, "message dead-lettered");
                } else {
                    warn!(reason = %failure, attempt, "handling failed, message requeued at the tail");
                }
                unless_lost(channel, ack(delivery)).await
            }
            Ok(_) => requeue(delivery, "the failed message's copy was unroutable").await,
            Err(
                error @ (PublishError::ConnectionLost(_)
                | PublishError::ChannelClosed(_)
                | PublishError::Shutdown),
            ) => {
                // Not acked: the broker hands the original to the next consumer.
                Err(format!("republishing a failed message: {error}"))
            }
            Err(error) => requeue(delivery, &error.to_string()).await,
        }
    }

    /// The copy of a failed message: to the tail of its queue, or to the dead letters.
    fn failed_copy(&self, delivery: &Delivery, failures: u32, reason: &str, dead: bool) -> Encoded {
        let properties = &delivery.properties;
        let mut table = properties.headers().clone().unwrap_or_default();
        let has = |table: &FieldTable, name: &str| table.contains_key(name);
        if !has(&table, headers::ORIGINAL_ROUTING_KEY) {
            table.insert(
                headers::ORIGINAL_ROUTING_KEY.into(),
                long(delivery.routing_key.as_str()),
            );
        }
        if !has(&table, headers::ORIGINAL_EXCHANGE) {
            table.insert(
                headers::ORIGINAL_EXCHANGE.into(),
                long(delivery.exchange.as_str()),
            );
        }
        table.insert(
            headers::ATTEMPTS.into(),
            AMQPValue::LongLongInt(i64::from(failures)),
        );
        table.insert(
            headers::ERROR.into(),
            long(truncate(reason, MAX_REASON_BYTES)),
        );
        let names = self.bus.names();
        let (exchange, routing_key) = if dead {
            table.insert(headers::ORIGINAL_QUEUE.into(), long(&self.config.queue));
            table.insert(
                headers::DEAD_LETTERED_AT.into(),
                AMQPValue::LongLongInt(unix_millis()),
            );
            (
                names.dead_letters_exchange(),
                self.config.dead_letter_source.clone(),
            )
        } else {
            // The default exchange routes by queue name: straight to the tail of our queue.
            (String::new(), self.config.queue.clone())
        };
        let message_id = properties
            .message_id()
            .as_ref()
            .map(|id| id.to_string())
            .unwrap_or_else(|| Uuid::new_v4().to_string());
        let properties: BasicProperties = properties
            .clone()
            .with_delivery_mode(2)
            .with_message_id(message_id.as_str().into())
            .with_headers(table);
        Encoded {
            // Names were validated when the runner started consuming.
            exchange: short(&exchange).unwrap_or_default(),
            routing_key: short(&routing_key).unwrap_or_default(),
            mandatory: true,
            payload: delivery.data.clone(),
            properties,
            message_id,
        }
    }
}

/// A panicking handler becomes a failure instead of killing the runner. (Unwind safety: the
/// handler's state is its own; a panic leaves nothing of ours half-updated.)
async fn caught<T>(
    handled: impl Future<Output = Result<T, HandlingError>>,
) -> Result<T, HandlingError> {
    match AssertUnwindSafe(handled).catch_unwind().await {
        Ok(handled) => handled,
        Err(panic) => {
            let text = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-text panic payload".to_owned());
            Err(HandlingError::new(format!("handler panicked: {text}")))
        }
    }
}

/// Publishes on the consumer's own channel and waits for the confirm.
async fn confirmed(
    channel: &ConfirmChannel,
    message: Encoded,
) -> Result<crate::publisher::Confirmed, PublishError> {
    channel.publish(message).await?.await
}

/// `operation`, unless the channel dies first (then the broker requeues what was not acked).
async fn unless_lost(
    channel: &ConfirmChannel,
    operation: impl Future<Output = Result<(), String>>,
) -> Result<(), String> {
    tokio::select! {
        biased;
        outcome = operation => outcome,
        () = channel.lost().cancelled() => Err("the channel's connection is gone".to_owned()),
    }
}

async fn ack(delivery: &Delivery) -> Result<(), String> {
    match delivery.ack(BasicAckOptions::default()).await {
        Ok(true) => Ok(()),
        Ok(false) => Err("the channel closed before the ack".to_owned()),
        Err(error) => Err(format!("ack failed: {error}")),
    }
}

async fn requeue(delivery: &Delivery, reason: &str) -> Result<(), String> {
    warn!(%reason, "could not republish a failed message; requeueing it");
    tokio::time::sleep(REQUEUE_PAUSE).await;
    match delivery
        .nack(BasicNackOptions {
            multiple: false,
            requeue: true,
        })
        .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err("the channel closed before the requeue".to_owned()),
        Err(error) => Err(format!("requeue failed: {error}")),
    }
}

fn truncate(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("short", 100), "short");
    }

    #[test]
    fn config_must_allow_at_least_one_attempt() {
        let config = ConsumerConfig::new("q", "src").with_max_attempts(0);
        assert!(config.validate().is_err());
        assert!(ConsumerConfig::new("q", "src").validate().is_ok());
    }
}
