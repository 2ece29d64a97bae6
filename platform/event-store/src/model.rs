//! What goes into the store and what comes out of it.

use events::{Actor, Checkpoint};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

/// An event about to be appended: its contract's wire name, schema version and JSON payload.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u16,
    pub payload: serde_json::Value,
}

impl NewEvent {
    /// Encodes a public event contract, giving it a fresh time-ordered id.
    pub fn from_contract<E: events::Event>(event: &E) -> Result<Self, serde_json::Error> {
        Ok(Self {
            event_id: Uuid::now_v7(),
            event_type: event.wire_name().to_owned(),
            schema_version: event.schema_version(),
            payload: serde_json::to_value(event)?,
        })
    }
}

/// Who and what caused a batch of events, stored with each of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventMetadata {
    pub correlation_id: Uuid,
    /// The command that produced the events.
    pub causation_id: Option<Uuid>,
    pub actor: Option<Actor>,
    /// W3C trace context of the appending span, so consumers continue the same trace.
    pub traceparent: Option<String>,
}

/// The part of [`EventMetadata`] kept in the `metadata` jsonb column; the ids have indexed
/// columns of their own.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct CreationContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

/// The stream version an append expects to find; `0` means the stream must not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExpectedVersion(pub i64);

impl ExpectedVersion {
    pub const NO_STREAM: Self = Self(0);
}

/// One append: events for a single stream, written atomically.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    pub stream_id: String,
    pub expected_version: ExpectedVersion,
    pub events: Vec<NewEvent>,
    pub metadata: EventMetadata,
    /// When set, the command id -> outcome record is written in the same transaction.
    pub command_id: Option<Uuid>,
}

/// What a successful append wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The stream's version after the append.
    pub version: i64,
    /// The commit-order position of the last appended event; a reader that has passed it has
    /// seen the whole append.
    pub checkpoint: Checkpoint,
}

/// An event as stored: the published envelope with its payload still raw JSON.
pub type RecordedEvent = events::RecordedEvent<Box<RawValue>>;
