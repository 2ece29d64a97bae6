//! The broker side of the dead-letter commands: fetching without acking, republishing with a
//! confirm, acking, and handing back what was only looked at.
//!
//! Messages are fetched with `basic.get` and held unacked; whatever is not acked goes back to
//! the queue, in its place, when the channel closes. Nothing is rejected: looking at a dead
//! letter must not count as a failed delivery of it.

use message_bus::lapin::message::Delivery;
use message_bus::lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use message_bus::lapin::types::{FieldTable, ShortString};
use message_bus::lapin::{self, BasicProperties, Channel, Confirmation, ErrorKind};
use message_bus::{Bus, IncomingMessage, Topology, headers};

use crate::{CliError, Context};

/// The headers a dead letter carries about its failures. A requeued message starts afresh:
/// it gets the runner's full number of attempts again.
const FAILURE_HEADERS: [&str; 4] = [
    headers::ATTEMPTS,
    headers::ERROR,
    headers::ORIGINAL_QUEUE,
    headers::DEAD_LETTERED_AT,
];

/// AMQP's "not found" reply code.
const NOT_FOUND: u16 = 404;

pub(super) struct Session {
    bus: Bus,
    channel: Channel,
}

/// A fetched message, not yet acked.
pub(super) struct Fetched {
    pub delivery: Delivery,
    pub message: IncomingMessage,
}

impl Session {
    pub async fn open(context: &Context) -> Result<Self, CliError> {
        let bus = context.bus(Topology::new(context.names())).await?;
        let channel = bus.channel().await.map_err(CliError::broker)?.channel;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(CliError::broker)?;
        Ok(Self { bus, channel })
    }

    /// The messages ready in `queue`, or `None` if there is no such queue.
    pub async fn depth(&self, queue: &str) -> Result<Option<u32>, CliError> {
        queue_depth(&self.bus, queue).await
    }

    /// The next message of `queue`, held until it is acked or the session ends.
    pub async fn fetch(&self, queue: &str) -> Result<Option<Fetched>, CliError> {
        let got = self
            .channel
            .basic_get(short(queue)?, BasicGetOptions { no_ack: false })
            .await
            .map_err(CliError::broker)?;
        Ok(got.map(|got| {
            let message = IncomingMessage::from_delivery(&got.delivery, queue);
            Fetched {
                delivery: got.delivery,
                message,
            }
        }))
    }

    /// Removes a fetched message from its queue.
    pub async fn ack(&self, fetched: &Fetched) -> Result<(), CliError> {
        self.channel
            .basic_ack(fetched.delivery.delivery_tag, BasicAckOptions::default())
            .await
            .map_err(CliError::broker)
    }

    /// Publishes a copy of a fetched message straight to `queue` (through the default
    /// exchange), with its id, body and properties, minus its failure headers, and waits for
    /// the broker's confirm. The routing key it was first published with stays in the headers,
    /// so its consumer sees it as before.
    pub async fn republish(&self, fetched: &Fetched, queue: &str) -> Result<(), CliError> {
        let delivery = &fetched.delivery;
        let mut table = delivery.properties.headers().clone().unwrap_or_default();
        if !table.contains_key(headers::ORIGINAL_ROUTING_KEY) {
            table.insert(
                headers::ORIGINAL_ROUTING_KEY.into(),
                lapin::types::AMQPValue::LongString(fetched.message.routing_key.clone().into()),
            );
        }
        let mut entries = table.inner().clone();
        for name in FAILURE_HEADERS {
            entries.remove(name);
        }
        let properties: BasicProperties = delivery
            .properties
            .clone()
            .with_headers(FieldTable::from(entries));
        let confirm = self
            .channel
            .basic_publish(
                ShortString::default(),
                short(queue)?,
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &delivery.data,
                properties,
            )
            .await
            .map_err(CliError::broker)?
            .await
            .map_err(CliError::broker)?;
        match confirm {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(_)) => Err(CliError::new(format!(
                "there is no queue {queue} to requeue to"
            ))
            .with_hint("start its consumer once so it declares the queue, then requeue again")),
            Confirmation::Nack(_) => Err(CliError::new(format!(
                "the broker refused the copy for {queue}"
            ))
            .with_hint("look at the broker's logs (disk or memory alarm?) and try again")),
            Confirmation::NotRequested => Err(CliError::new(
                "the broker did not confirm the copy (publisher confirms are off)",
            )),
        }
    }

    /// Hands every fetched, unacked message back to its queue and disconnects.
    pub async fn close(self) {
        let _ = self.channel.close(200, "done".into()).await;
        self.bus.shutdown().await;
    }
}

/// The messages ready in `queue` now (the management API's counts lag by its statistics
/// interval), or `None` if there is no such queue.
pub(crate) async fn queue_depth(bus: &Bus, queue: &str) -> Result<Option<u32>, CliError> {
    // A passive declare of a missing queue closes its channel: ask on one of its own.
    let channel = bus.channel().await.map_err(CliError::broker)?.channel;
    let declared = channel
        .queue_declare(
            short(queue)?,
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await;
    match declared {
        Ok(declared) => {
            let _ = channel.close(200, "done".into()).await;
            Ok(Some(declared.message_count()))
        }
        Err(error) if reply_code(&error) == Some(NOT_FOUND) => Ok(None),
        Err(error) => Err(CliError::broker(error)),
    }
}

fn reply_code(error: &lapin::Error) -> Option<u16> {
    match error.kind() {
        ErrorKind::ProtocolError(error) => Some(error.get_id()),
        _ => None,
    }
}

fn short(name: &str) -> Result<ShortString, CliError> {
    ShortString::try_new(name)
        .map_err(|_| CliError::new(format!("`{name}` is too long for a queue name")))
}
