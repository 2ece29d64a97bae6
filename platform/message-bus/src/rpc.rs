//! Commands as request/reply over RabbitMQ's direct reply-to.
//!
//! The client publishes a command persistent, confirmed and `mandatory` to the commands exchange
//! with `reply_to = amq.rabbitmq.reply-to` and waits for the reply up to a timeout. Once the
//! broker has confirmed the command it is durably queued and will run, so a timeout (or a lost
//! reply channel) is [`RpcOutcome::Accepted`], never an error. The server side is the consumer
//! runner with a handler that returns the reply.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use lapin::Consumer;
use lapin::options::BasicConsumeOptions;
use lapin::types::FieldTable;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, instrument};
use uuid::Uuid;

use crate::connection::Bus;
use crate::consumer::{ConsumerConfig, Handler, Runner};
use crate::error::{ConsumerError, HandlingError, PublishError, RpcError};
use crate::message::{IncomingMessage, OutgoingMessage};
use crate::publisher::{
    ChannelSlot, ConfirmChannel, DEFAULT_CONNECT_TIMEOUT, ReturnHook, Usable, open_confirm_channel,
};

/// RabbitMQ's pseudo-queue for direct replies: no reply queue to declare or clean up.
pub const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// What came of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcOutcome {
    /// The service handled it and replied with these bytes.
    Replied(Vec<u8>),
    /// The broker confirmed it but no reply came in time: it is durably queued and will run.
    Accepted,
}

/// Sends commands and waits for their replies. Cheap to clone; clones share one channel.
#[derive(Clone)]
pub struct CommandClient {
    bus: Bus,
    exchange: String,
    slot: Arc<ChannelSlot<ReplyLink>>,
    waiters: Arc<Waiters>,
    connect_timeout: Duration,
}

impl fmt::Debug for CommandClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandClient")
            .field("exchange", &self.exchange)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

/// The channel commands are published on and replies consumed from: direct reply-to requires
/// both to be the same channel.
#[derive(Clone)]
struct ReplyLink {
    channel: ConfirmChannel,
    id: u64,
}

impl Usable for ReplyLink {
    fn is_usable(&self) -> bool {
        self.channel.is_usable()
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl CommandClient {
    pub fn new(bus: Bus) -> Self {
        Self {
            exchange: bus.names().commands_exchange(),
            bus,
            slot: Arc::default(),
            waiters: Arc::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// How long a call waits for the bus to (re)connect before failing.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Publishes a command to `service` and waits up to `timeout` for its reply.
    ///
    /// `Err` means the command was not accepted (unroutable) or its fate is unknown (no confirm):
    /// the caller may retry with the same `command_id`, which services deduplicate by.
    #[instrument(skip(self, payload, traceparent, timeout), fields(command_id = %command_id))]
    pub async fn call(
        &self,
        service: &str,
        command_id: Uuid,
        payload: Vec<u8>,
        traceparent: Option<&str>,
        timeout: Duration,
    ) -> Result<RpcOutcome, RpcError> {
        let deadline = Instant::now() + timeout;
        let key = command_id.to_string();
        let encoded = OutgoingMessage::new(&self.exchange, service, payload)
            .with_message_id(command_id)
            .with_correlation_id(&key)
            .with_traceparent(traceparent.map(str::to_owned))
            .mandatory(true)
            .encode(Some(DIRECT_REPLY_TO))?;
        let link = self.link().await?;

        // Registered before publishing: the reply can beat the confirm.
        let (registration, reply) = self.waiters.register(&key, link.id);
        let confirmed = match link.channel.publish(encoded).await {
            Ok(pending) => pending.await,
            Err(error) => Err(error),
        };
        let confirmed = confirmed.inspect_err(|_| self.bus.report_broken())?;
        if confirmed.returned {
            return Err(RpcError::Unroutable(service.to_owned()));
        }
        let outcome = match tokio::time::timeout_at(deadline, reply).await {
            Ok(Ok(Signal::Reply(bytes))) => RpcOutcome::Replied(bytes),
            Ok(Ok(Signal::Unroutable)) => return Err(RpcError::Unroutable(service.to_owned())),
            // The reply channel died, another call took over the id, or time ran out: all after
            // the confirm, so the command is queued and will run.
            Ok(Ok(Signal::LinkLost) | Err(_)) | Err(_) => RpcOutcome::Accepted,
        };
        drop(registration);
        debug!(
            replied = matches!(outcome, RpcOutcome::Replied(_)),
            "command call finished"
        );
        Ok(outcome)
    }

    async fn link(&self) -> Result<ReplyLink, PublishError> {
        self.slot
            .get_or_open(&self.bus, self.connect_timeout, || async {
                let waiters = self.waiters.clone();
                // Returns are matched to calls by command id, wherever lapin attached them.
                let on_return: ReturnHook =
                    Arc::new(move |message_id| waiters.signal(message_id, Signal::Unroutable));
                let channel =
                    open_confirm_channel(&self.bus, self.connect_timeout, Some(on_return)).await?;
                let consumer = channel
                    .channel()
                    .basic_consume(
                        DIRECT_REPLY_TO.into(),
                        "".into(),
                        BasicConsumeOptions {
                            // Direct reply-to only works without acks.
                            no_ack: true,
                            ..BasicConsumeOptions::default()
                        },
                        FieldTable::default(),
                    )
                    .await
                    .map_err(|error| {
                        self.bus.report_broken();
                        PublishError::from_lapin(&error)
                    })?;
                let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(read_replies(
                    consumer,
                    self.waiters.clone(),
                    id,
                    channel.lost().clone(),
                ));
                debug!(
                    link = id,
                    generation = channel.generation(),
                    "reply channel opened"
                );
                Ok(ReplyLink { channel, id })
            })
            .await
    }
}

/// Hands each reply to its waiting call; when the channel dies, releases the calls waiting on it.
async fn read_replies(
    mut consumer: Consumer,
    waiters: Arc<Waiters>,
    link: u64,
    lost: CancellationToken,
) {
    loop {
        let next = tokio::select! {
            biased;
            next = consumer.next() => next,
            () = lost.cancelled() => None,
        };
        let Some(Ok(delivery)) = next else {
            break;
        };
        match delivery.properties.correlation_id() {
            Some(id) => waiters.signal(id.as_str(), Signal::Reply(delivery.data)),
            None => debug!("reply without a correlation id ignored"),
        }
    }
    debug!(link, "reply channel closed");
    waiters.release_link(link);
}

enum Signal {
    Reply(Vec<u8>),
    Unroutable,
    LinkLost,
}

struct Waiter {
    token: u64,
    link: u64,
    tx: oneshot::Sender<Signal>,
}

/// Calls waiting for a reply, by command id.
#[derive(Default)]
struct Waiters(Mutex<HashMap<String, Waiter>>);

impl Waiters {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiter>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn register(
        self: &Arc<Self>,
        key: &str,
        link: u64,
    ) -> (Registration, oneshot::Receiver<Signal>) {
        let (tx, rx) = oneshot::channel();
        let token = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        self.lock()
            .insert(key.to_owned(), Waiter { token, link, tx });
        let registration = Registration {
            waiters: self.clone(),
            key: key.to_owned(),
            token,
        };
        (registration, rx)
    }

    fn signal(&self, key: &str, signal: Signal) {
        if let Some(waiter) = self.lock().remove(key) {
            // The call may have given up already.
            let _ = waiter.tx.send(signal);
        }
    }

    fn release_link(&self, link: u64) {
        let released: Vec<Waiter> = {
            let mut waiters = self.lock();
            let keys: Vec<String> = waiters
                .iter()
                .filter(|(_, waiter)| waiter.link == link)
                .map(|(key, _)| key.clone())
                .collect();
            keys.iter().filter_map(|key| waiters.remove(key)).collect()
        };
        for waiter in released {
            let _ = waiter.tx.send(Signal::LinkLost);
        }
    }
}

/// Removes a call's waiter however the call ends (including when its future is dropped).
struct Registration {
    waiters: Arc<Waiters>,
    key: String,
    token: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut waiters = self.waiters.lock();
        // A concurrent call with the same command id may have replaced ours: leave it alone.
        if waiters
            .get(&self.key)
            .is_some_and(|waiter| waiter.token == self.token)
        {
            waiters.remove(&self.key);
        }
    }
}

/// Serves commands from `config.queue`: the handler's bytes are published to the command's
/// `reply_to` (with its correlation id) and only then is the command acked. A handler error
/// takes the runner's retry and dead-letter path; business rejections are replies, not errors.
pub async fn serve_commands<H, Fut>(
    bus: Bus,
    config: ConsumerConfig,
    handler: H,
    shutdown: CancellationToken,
) -> Result<(), ConsumerError>
where
    H: Fn(IncomingMessage) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<u8>, HandlingError>> + Send + 'static,
{
    let handler: Handler = Arc::new(move |message| {
        let handled = handler(message);
        Box::pin(async move { handled.await.map(Some) })
    });
    Runner::new(bus, config, handler, shutdown).run().await
}

impl Bus {
    /// A command client on this bus (see [`CommandClient`]).
    pub fn command_client(&self) -> CommandClient {
        CommandClient::new(self.clone())
    }
}
