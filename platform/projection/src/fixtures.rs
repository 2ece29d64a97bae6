//! Events as a source store would record them, for tests and benchmarks that feed a model
//! without running the source service.

use events::{Checkpoint, Event};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::IncomingEvent;

/// `event` recorded by its service at `checkpoint`, as it arrives from the bus or a store.
pub fn recorded<E: Event>(event: &E, checkpoint: Checkpoint) -> IncomingEvent {
    IncomingEvent {
        source: E::SERVICE.to_owned(),
        event_id: Uuid::now_v7(),
        event_type: event.wire_name().to_owned(),
        schema_version: event.schema_version(),
        stream_id: event.stream_id(),
        stream_version: 1,
        checkpoint,
        recorded_at: OffsetDateTime::now_utc(),
        correlation_id: Uuid::now_v7(),
        causation_id: None,
        actor: None,
        traceparent: None,
        // A contract event always serialises: it is plain data.
        payload: serde_json::value::to_raw_value(event)
            .unwrap_or_else(|_| serde_json::value::RawValue::NULL.to_owned()),
    }
}
