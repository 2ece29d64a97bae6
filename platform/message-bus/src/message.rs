//! The messages that go out and come in, and the headers every Waypoint message carries.

use std::collections::BTreeMap;

use lapin::BasicProperties;
use lapin::message::Delivery;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use uuid::Uuid;

use crate::error::PublishError;

/// Header names. The three tracing headers duplicate AMQP properties where those exist, because
/// not every tool (or the management UI's "get messages") shows properties consistently.
pub mod headers {
    pub const MESSAGE_ID: &str = "message-id";
    pub const CORRELATION_ID: &str = "correlation-id";
    pub const TRACEPARENT: &str = "traceparent";
    /// How many times handling this message has failed so far.
    pub const ATTEMPTS: &str = "x-waypoint-attempts";
    /// The reason of the last failure.
    pub const ERROR: &str = "x-waypoint-error";
    /// The routing key and exchange the message was first published with; kept because a retry
    /// is republished through the default exchange, which replaces both.
    pub const ORIGINAL_ROUTING_KEY: &str = "x-waypoint-routing-key";
    pub const ORIGINAL_EXCHANGE: &str = "x-waypoint-exchange";
    /// The queue a dead letter was consumed from.
    pub const ORIGINAL_QUEUE: &str = "x-waypoint-original-queue";
    /// When a message was dead-lettered, in milliseconds since the Unix epoch.
    pub const DEAD_LETTERED_AT: &str = "x-waypoint-dead-lettered-at";
}

/// Every Waypoint message is JSON.
pub const CONTENT_TYPE: &str = "application/json";
const PERSISTENT: u8 = 2;

/// A message to publish: always persistent, always JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub exchange: String,
    pub routing_key: String,
    pub payload: Vec<u8>,
    /// Consumers deduplicate by it, so a republished message must keep its id.
    pub message_id: Uuid,
    /// Defaults to the message id when absent, so every message carries one.
    pub correlation_id: Option<String>,
    /// W3C trace context of the span that produced the message.
    pub traceparent: Option<String>,
    /// Extra headers.
    pub headers: BTreeMap<String, String>,
    /// Ask the broker to return the message if no queue is bound for it.
    pub mandatory: bool,
}

impl OutgoingMessage {
    /// A message with a fresh (time-ordered) id and no extras.
    pub fn new(
        exchange: impl Into<String>,
        routing_key: impl Into<String>,
        payload: impl Into<Vec<u8>>,
    ) -> Self {
        Self {
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            payload: payload.into(),
            message_id: Uuid::now_v7(),
            correlation_id: None,
            traceparent: None,
            headers: BTreeMap::new(),
            mandatory: false,
        }
    }

    #[must_use]
    pub fn with_message_id(mut self, message_id: Uuid) -> Self {
        self.message_id = message_id;
        self
    }

    #[must_use]
    pub fn with_correlation_id(mut self, correlation_id: impl Into<String>) -> Self {
        self.correlation_id = Some(correlation_id.into());
        self
    }

    #[must_use]
    pub fn with_traceparent(mut self, traceparent: Option<String>) -> Self {
        self.traceparent = traceparent;
        self
    }

    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    #[must_use]
    pub fn mandatory(mut self, mandatory: bool) -> Self {
        self.mandatory = mandatory;
        self
    }

    /// The AMQP form: checked names and the full property set.
    pub(crate) fn encode(&self, reply_to: Option<&str>) -> Result<Encoded, PublishError> {
        let message_id = self.message_id.to_string();
        let correlation_id = self
            .correlation_id
            .clone()
            .unwrap_or_else(|| message_id.clone());

        let mut table = FieldTable::default();
        for (name, value) in &self.headers {
            table.insert(short(name)?, long(value));
        }
        table.insert(headers::MESSAGE_ID.into(), long(&message_id));
        table.insert(headers::CORRELATION_ID.into(), long(&correlation_id));
        if let Some(traceparent) = &self.traceparent {
            table.insert(headers::TRACEPARENT.into(), long(traceparent));
        }

        let mut properties = BasicProperties::default()
            .with_content_type(CONTENT_TYPE.into())
            .with_delivery_mode(PERSISTENT)
            .with_message_id(short(&message_id)?)
            .with_correlation_id(short(&correlation_id)?)
            .with_timestamp(unix_seconds())
            .with_headers(table);
        if let Some(reply_to) = reply_to {
            properties = properties.with_reply_to(short(reply_to)?);
        }
        Ok(Encoded {
            exchange: short(&self.exchange)?,
            routing_key: short(&self.routing_key)?,
            mandatory: self.mandatory,
            payload: self.payload.clone(),
            properties,
            message_id,
        })
    }
}

/// A message ready for `basic_publish`.
#[derive(Debug, Clone)]
pub(crate) struct Encoded {
    pub exchange: ShortString,
    pub routing_key: ShortString,
    pub mandatory: bool,
    pub payload: Vec<u8>,
    pub properties: BasicProperties,
    /// What the broker's basic.return will carry, to match returns to messages.
    pub message_id: String,
}

/// A delivered message, as a handler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingMessage {
    pub payload: Vec<u8>,
    /// The exchange and routing key the message was first published with (also after retries).
    pub exchange: String,
    pub routing_key: String,
    /// The queue it was consumed from.
    pub queue: String,
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    pub traceparent: Option<String>,
    /// All headers, including the ones above.
    pub headers: FieldTable,
    /// 1 on the first try, 2 after one failure, and so on.
    pub attempt: u32,
    pub reply_to: Option<String>,
    /// The broker delivered it before (to a consumer that died without acking): the handler
    /// may have done its work already, so it must be idempotent.
    pub redelivered: bool,
}

impl IncomingMessage {
    /// A delivery from `queue` as a handler sees it (also what tools that fetch messages
    /// themselves, such as the dead-letter commands, read them as).
    pub fn from_delivery(delivery: &Delivery, queue: &str) -> Self {
        let properties = &delivery.properties;
        let headers = properties.headers().clone().unwrap_or_default();
        let header = |name: &str| header_string(&headers, name);
        let property = |value: &Option<ShortString>| value.as_ref().map(|v| v.to_string());
        let failures = header_u32(&headers, headers::ATTEMPTS).unwrap_or(0);
        Self {
            exchange: header(headers::ORIGINAL_EXCHANGE)
                .unwrap_or_else(|| delivery.exchange.to_string()),
            routing_key: header(headers::ORIGINAL_ROUTING_KEY)
                .unwrap_or_else(|| delivery.routing_key.to_string()),
            queue: queue.to_owned(),
            message_id: property(properties.message_id()).or_else(|| header(headers::MESSAGE_ID)),
            correlation_id: property(properties.correlation_id())
                .or_else(|| header(headers::CORRELATION_ID)),
            traceparent: header(headers::TRACEPARENT),
            attempt: failures.saturating_add(1),
            reply_to: property(properties.reply_to()),
            redelivered: delivery.redelivered,
            payload: delivery.data.clone(),
            headers,
        }
    }

    /// A header as text, whatever string or integer type it was sent as.
    pub fn header(&self, name: &str) -> Option<String> {
        header_string(&self.headers, name)
    }
}

pub(crate) fn header_string(table: &FieldTable, name: &str) -> Option<String> {
    match table.inner().get(name)? {
        AMQPValue::LongString(value) => {
            Some(String::from_utf8_lossy(value.as_bytes()).into_owned())
        }
        AMQPValue::ShortString(value) => Some(value.to_string()),
        AMQPValue::LongLongInt(value) => Some(value.to_string()),
        AMQPValue::LongInt(value) => Some(value.to_string()),
        AMQPValue::LongUInt(value) => Some(value.to_string()),
        AMQPValue::ShortInt(value) => Some(value.to_string()),
        AMQPValue::ShortUInt(value) => Some(value.to_string()),
        AMQPValue::Boolean(value) => Some(value.to_string()),
        _ => None,
    }
}

pub(crate) fn header_u32(table: &FieldTable, name: &str) -> Option<u32> {
    header_string(table, name)?.parse().ok()
}

pub(crate) fn short(value: &str) -> Result<ShortString, PublishError> {
    ShortString::try_new(value).map_err(|error| {
        PublishError::InvalidMessage(format!("`{value}` is too long for AMQP: {error}"))
    })
}

pub(crate) fn long(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

pub(crate) fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

pub(crate) fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_puts_tracing_ids_in_properties_and_headers() {
        let id = Uuid::new_v4();
        let encoded = OutgoingMessage::new("x", "k", b"{}".to_vec())
            .with_message_id(id)
            .with_traceparent(Some("00-abc-def-01".into()))
            .with_header("event-type", "PlaceAdded")
            .encode(None)
            .unwrap();
        let props = &encoded.properties;
        assert_eq!(props.delivery_mode(), &Some(2));
        assert_eq!(props.content_type(), &Some(CONTENT_TYPE.into()));
        assert_eq!(props.message_id(), &Some(id.to_string().into()));
        // No correlation id given: the message starts its own correlation.
        assert_eq!(props.correlation_id(), &Some(id.to_string().into()));
        let table = props.headers().clone().unwrap();
        assert_eq!(
            header_string(&table, headers::TRACEPARENT).as_deref(),
            Some("00-abc-def-01")
        );
        assert_eq!(
            header_string(&table, headers::CORRELATION_ID),
            Some(id.to_string())
        );
        assert_eq!(
            header_string(&table, "event-type").as_deref(),
            Some("PlaceAdded")
        );
    }

    #[test]
    fn overlong_names_are_an_error_not_a_panic() {
        let error = OutgoingMessage::new("x", "k".repeat(300), Vec::new())
            .encode(None)
            .unwrap_err();
        assert!(matches!(error, PublishError::InvalidMessage(_)));
    }
}
