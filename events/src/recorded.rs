use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Actor, Checkpoint};

/// An event as an event store recorded it: what the relay publishes (the message body on
/// `waypoint.events`) and what a catch-up reader gets from the store directly, so consumers
/// handle both the same way.
///
/// `P` is the payload: raw JSON while in transit, decoded with [`crate::Event::decode`] using
/// `event_type` and `schema_version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedEvent<P> {
    /// The service whose store recorded it.
    pub source: String,
    /// Unique per event; also the AMQP message id, which consumers deduplicate by.
    pub event_id: Uuid,
    /// The wire name, `<service>.<EventType>`.
    pub event_type: String,
    pub schema_version: u16,
    pub stream_id: String,
    pub stream_version: i64,
    /// Its place in the source store's commit order.
    pub checkpoint: Checkpoint,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    pub correlation_id: Uuid,
    /// The command that produced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// W3C trace context of the span that appended it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    pub payload: P,
}
