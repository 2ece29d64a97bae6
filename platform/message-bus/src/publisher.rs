//! Publishing with broker confirms, pipelined.
//!
//! [`Publisher::send`] writes a message and returns a [`PendingConfirm`] at once, so a caller can
//! have thousands in flight and await them together. Each confirm channel has one tracking task
//! that resolves confirms in publish order; nothing holds a lock while a confirm is awaited.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::FutureExt;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{Channel, Confirmation, PublisherConfirm};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, instrument};

use crate::connection::{Bus, BusChannel};
use crate::error::PublishError;
use crate::message::{Encoded, OutgoingMessage};

/// How long [`Publisher::send`] waits for a connection before failing with
/// [`PublishError::ConnectionLost`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The broker took responsibility for a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confirmed {
    /// The message was `mandatory` and no queue was bound for it: the broker returned it (and
    /// still acked it, having nothing to store). Returns are matched to messages by message id,
    /// so messages in flight together should have distinct ids.
    pub returned: bool,
}

/// The broker's answer to one sent message, still to come. Await it (or call
/// [`PendingConfirm::wait`]); dropping it just discards the answer.
#[must_use = "a publish is only safe once its confirm has been awaited"]
pub struct PendingConfirm {
    outcome: oneshot::Receiver<Result<Confirmed, PublishError>>,
}

impl fmt::Debug for PendingConfirm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingConfirm").finish_non_exhaustive()
    }
}

impl PendingConfirm {
    pub async fn wait(self) -> Result<Confirmed, PublishError> {
        self.await
    }
}

impl Future for PendingConfirm {
    type Output = Result<Confirmed, PublishError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.outcome).poll(cx).map(|outcome| {
            outcome.unwrap_or_else(|_| {
                Err(PublishError::ConnectionLost(
                    "the channel's confirm tracking stopped".to_owned(),
                ))
            })
        })
    }
}

/// Publishes persistent messages with confirms over the bus's current connection, opening a new
/// confirm channel after a reconnect. Cheap to clone; clones share the channel.
#[derive(Clone)]
pub struct Publisher {
    bus: Bus,
    slot: Arc<ChannelSlot<ConfirmChannel>>,
    connect_timeout: Duration,
}

impl fmt::Debug for Publisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher")
            .field("connection_name", &self.bus.connection_name())
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    pub fn new(bus: Bus) -> Self {
        Self {
            bus,
            slot: Arc::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// How long a send waits for the bus to (re)connect before failing.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Writes the message without waiting for the broker. Messages sent from one task go out
    /// in the order they were sent.
    #[instrument(level = "debug", skip_all, fields(
        exchange = %message.exchange,
        routing_key = %message.routing_key,
        message_id = %message.message_id,
    ))]
    pub async fn send(&self, message: OutgoingMessage) -> Result<PendingConfirm, PublishError> {
        let encoded = message.encode(None)?;
        let channel = self
            .slot
            .get_or_open(&self.bus, self.connect_timeout, || {
                open_confirm_channel(&self.bus, self.connect_timeout, None)
            })
            .await?;
        channel.publish(encoded).await.inspect_err(|_| {
            // The connection may be gone: make sure the supervisor notices now.
            self.bus.report_broken();
        })
    }

    /// [`Publisher::send`] and wait for the confirm.
    pub async fn publish(&self, message: OutgoingMessage) -> Result<Confirmed, PublishError> {
        self.send(message).await?.await
    }
}

/// Opens a confirm channel on the bus, waiting at most `connect_timeout` for a connection.
pub(crate) async fn open_confirm_channel(
    bus: &Bus,
    connect_timeout: Duration,
    on_return: Option<ReturnHook>,
) -> Result<ConfirmChannel, PublishError> {
    let open = async {
        let bus_channel = bus.channel().await?;
        ConfirmChannel::open(bus, bus_channel, on_return)
            .await
            .map_err(|error| {
                bus.report_broken();
                PublishError::from_lapin(&error)
            })
    };
    tokio::time::timeout(connect_timeout, open)
        .await
        .map_err(|_| no_connection(connect_timeout))?
}

fn no_connection(connect_timeout: Duration) -> PublishError {
    PublishError::ConnectionLost(format!(
        "no connection to the broker within {connect_timeout:?}"
    ))
}

/// Something that can be cached until its channel dies.
pub(crate) trait Usable: Clone {
    fn is_usable(&self) -> bool;
}

/// The current channel of a publisher (or RPC client): read without waiting, replaced by one
/// opener at a time so a reconnect does not open a channel per concurrent sender.
pub(crate) struct ChannelSlot<T> {
    current: Mutex<Option<T>>,
    opening: tokio::sync::Mutex<()>,
}

impl<T> Default for ChannelSlot<T> {
    fn default() -> Self {
        Self {
            current: Mutex::new(None),
            opening: tokio::sync::Mutex::new(()),
        }
    }
}

impl<T: Usable> ChannelSlot<T> {
    /// The current value, or a new one from `open` once the bus is connected (waiting at most
    /// `connect_timeout` for that).
    pub(crate) async fn get_or_open<F, Fut>(
        &self,
        bus: &Bus,
        connect_timeout: Duration,
        open: F,
    ) -> Result<T, PublishError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, PublishError>>,
    {
        if let Some(current) = self.current() {
            return Ok(current);
        }
        // Waited for outside the lock, so concurrent callers share one wait instead of queueing
        // for a timeout each.
        tokio::time::timeout(connect_timeout, bus.wait_connected())
            .await
            .map_err(|_| no_connection(connect_timeout))??;
        let _opening = self.opening.lock().await;
        // Someone else may have opened it while we waited for the lock.
        if let Some(current) = self.current() {
            return Ok(current);
        }
        let opened = open().await?;
        *self.lock() = Some(opened.clone());
        Ok(opened)
    }

    fn current(&self) -> Option<T> {
        self.lock()
            .as_ref()
            .filter(|value| value.is_usable())
            .cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<T>> {
        self.current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Called with the message id of every message the broker returns on a channel.
pub(crate) type ReturnHook = Arc<dyn Fn(&str) + Send + Sync>;

/// A channel in confirm mode, the task that resolves its confirms, and a signal for its loss.
#[derive(Clone)]
pub(crate) struct ConfirmChannel {
    channel: Channel,
    generation: u64,
    tracked: mpsc::UnboundedSender<Tracked>,
    lost: CancellationToken,
}

impl Usable for ConfirmChannel {
    fn is_usable(&self) -> bool {
        self.channel.status().connected() && !self.lost.is_cancelled() && !self.tracked.is_closed()
    }
}

impl ConfirmChannel {
    pub(crate) async fn open(
        bus: &Bus,
        bus_channel: BusChannel,
        on_return: Option<ReturnHook>,
    ) -> Result<Self, lapin::Error> {
        let BusChannel {
            channel,
            generation,
        } = bus_channel;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let (tracked, incoming) = mpsc::unbounded_channel();
        let lost = CancellationToken::new();
        tokio::spawn(track_confirms(
            incoming,
            on_return,
            Loss {
                bus: bus.clone(),
                channel: channel.clone(),
                generation,
                lost: lost.clone(),
            },
        ));
        debug!(channel = channel.id(), generation, "confirm channel opened");
        Ok(Self {
            channel,
            generation,
            tracked,
            lost,
        })
    }

    pub(crate) fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Cancelled once the channel is unusable; waits on it race against this.
    pub(crate) fn lost(&self) -> &CancellationToken {
        &self.lost
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    pub(crate) async fn publish(&self, message: Encoded) -> Result<PendingConfirm, PublishError> {
        let Encoded {
            exchange,
            routing_key,
            mandatory,
            payload,
            properties,
            message_id,
        } = message;
        let channel = self.channel.clone();
        let mut write: Writing = Box::pin(async move {
            channel
                .basic_publish(
                    exchange,
                    routing_key,
                    BasicPublishOptions {
                        mandatory,
                        immediate: false,
                    },
                    &payload,
                    properties,
                )
                .await
        });
        // lapin numbers the message and queues its frames on the first poll, before it waits for
        // the socket write. Polling once here fixes the send order, and leaving the write to the
        // tracking task lets many writes overlap instead of costing a round trip to lapin's IO
        // thread each. (The in-order delivery test guards this behaviour across lapin upgrades.)
        let polled = (&mut write).now_or_never();
        let stage = match polled {
            None => Stage::Writing(write),
            Some(Ok(confirm)) => Stage::Confirming(confirm),
            Some(Err(error)) => return Err(PublishError::from_lapin(&error)),
        };
        let (reply, outcome) = oneshot::channel();
        self.tracked
            .send(Tracked {
                stage,
                message_id,
                reply,
            })
            .map_err(|_| {
                PublishError::ConnectionLost("the channel's confirm tracking stopped".to_owned())
            })?;
        Ok(PendingConfirm { outcome })
    }
}

type Writing = Pin<Box<dyn Future<Output = lapin::Result<PublisherConfirm>> + Send>>;

/// Where a sent message is on its way to a confirm.
enum Stage {
    /// Frames queued, socket write not finished.
    Writing(Writing),
    Confirming(PublisherConfirm),
    /// The broker answered (or the channel failed) while an earlier message was being resolved.
    Settled(Box<lapin::Result<Confirmation>>),
}

impl Stage {
    /// Waits for the outcome.
    async fn settle(self, returns: &mut Returns) -> lapin::Result<Confirmation> {
        let confirm = match self {
            Self::Settled(result) => return *result,
            Self::Confirming(confirm) => confirm,
            Self::Writing(write) => write.await?,
        };
        let result = confirm.await;
        returns.note(&result);
        result
    }

    /// Moves on as far as possible without waiting; true once settled.
    fn try_settle(&mut self, returns: &mut Returns) -> bool {
        if let Self::Writing(write) = self {
            let polled = write.as_mut().now_or_never();
            match polled {
                None => return false,
                Some(Ok(confirm)) => *self = Self::Confirming(confirm),
                Some(Err(error)) => *self = Self::Settled(Box::new(Err(error))),
            }
        }
        if let Self::Confirming(confirm) = self {
            let polled = confirm.now_or_never();
            match polled {
                None => return false,
                Some(result) => {
                    returns.note(&result);
                    *self = Self::Settled(Box::new(result));
                }
            }
        }
        true
    }
}

struct Tracked {
    stage: Stage,
    message_id: String,
    reply: oneshot::Sender<Result<Confirmed, PublishError>>,
}

/// Resolves confirms in publish order and works out which messages were returned.
///
/// The broker sends a basic.return before the ack of the same message, but when one ack covers
/// several messages (`multiple`) lapin hands the return to whichever of them it completes first.
/// So returns are matched by message id instead: before resolving a message, every confirm that
/// has already completed behind it is looked at and its return (if any) noted.
async fn track_confirms(
    mut incoming: mpsc::UnboundedReceiver<Tracked>,
    on_return: Option<ReturnHook>,
    loss: Loss,
) {
    // Watched here rather than in a task of its own so that it ends with the channel's last
    // handle. It never completes: it cancels `lost` and then only has to be polled.
    let lost = loss.lost.clone();
    let watch = loss.watch();
    tokio::pin!(watch);
    let mut waiting: VecDeque<Tracked> = VecDeque::new();
    // How many entries at the front of `waiting` have their result already.
    let mut completed_ahead = 0usize;
    let mut returns = Returns {
        counts: HashMap::new(),
        hook: on_return,
    };
    loop {
        let head = match waiting.pop_front() {
            Some(head) => {
                completed_ahead = completed_ahead.saturating_sub(1);
                head
            }
            None => {
                let next = tokio::select! {
                    next = incoming.recv() => next,
                    () = &mut watch => None,
                };
                match next {
                    Some(head) => head,
                    None => return,
                }
            }
        };
        let Tracked {
            stage,
            message_id,
            reply,
        } = head;
        // lapin fails outstanding confirms when a channel dies; `lost` covers the cases where
        // it does not get to, so no sender waits forever.
        let result = tokio::select! {
            biased;
            result = stage.settle(&mut returns) => Some(result),
            () = lost.cancelled() => None,
            () = &mut watch => None,
        };
        let Some(result) = result else {
            let _ = reply.send(Err(PublishError::ConnectionLost(
                "the channel was lost before the confirm".to_owned(),
            )));
            continue;
        };
        while let Ok(next) = incoming.try_recv() {
            waiting.push_back(next);
        }
        for later in waiting.iter_mut().skip(completed_ahead) {
            if !later.stage.try_settle(&mut returns) {
                break;
            }
            completed_ahead += 1;
        }
        let was_returned = returns.take(&message_id);
        let outcome = match result {
            Ok(Confirmation::Ack(_)) => Ok(Confirmed {
                returned: was_returned,
            }),
            Ok(Confirmation::Nack(_)) => Err(PublishError::Nacked),
            Ok(Confirmation::NotRequested) => Err(PublishError::ConnectionLost(
                "the channel is not in confirm mode".to_owned(),
            )),
            Err(error) => Err(PublishError::from_lapin(&error)),
        };
        // The sender may have stopped waiting; that is its choice.
        let _ = reply.send(outcome);
    }
}

/// What tells a confirm channel it is lost.
struct Loss {
    bus: Bus,
    channel: Channel,
    generation: u64,
    lost: CancellationToken,
}

impl Loss {
    async fn watch(self) {
        self.bus.channel_lost(&self.channel, self.generation).await;
        self.lost.cancel();
        std::future::pending::<()>().await;
    }
}

/// Returned messages seen on one channel and not yet matched to their confirm.
struct Returns {
    counts: HashMap<String, usize>,
    hook: Option<ReturnHook>,
}

impl Returns {
    fn note(&mut self, result: &lapin::Result<Confirmation>) {
        if let Ok(Confirmation::Ack(Some(message)) | Confirmation::Nack(Some(message))) = result
            && let Some(id) = message.properties.message_id()
        {
            *self.counts.entry(id.to_string()).or_default() += 1;
            if let Some(hook) = &self.hook {
                hook(id.as_str());
            }
        }
    }

    fn take(&mut self, message_id: &str) -> bool {
        let Some(count) = self.counts.get_mut(message_id) else {
            return false;
        };
        *count -= 1;
        if *count == 0 {
            self.counts.remove(message_id);
        }
        true
    }
}

impl Bus {
    /// A publisher on this bus (see [`Publisher`]).
    pub fn publisher(&self) -> Publisher {
        Publisher::new(self.clone())
    }
}
