//! An aggregate's state as the fold of its stream.

use event_store::{EventStore, RecordedEvent};
use events::{Checkpoint, Event};

use crate::HandlerError;

/// The state a service's `decide` reads. `evolve` only applies what happened; it never fails.
pub trait Aggregate: Default + Send + Sync + 'static {
    type Event: Event + Send + Sync + 'static;

    fn evolve(self, event: &Self::Event) -> Self;
}

/// A stream folded into its state, with the version the next append must expect.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<A> {
    pub state: A,
    /// 0 for a stream with no events.
    pub version: i64,
    /// Where the stream's last event sits in its store's commit order; a reply to a command
    /// that changed nothing hands it out as the consistency token.
    pub checkpoint: Checkpoint,
}

impl<A: Aggregate> Loaded<A> {
    pub async fn from_store(store: &EventStore, stream_id: &str) -> Result<Self, HandlerError> {
        let recorded = store.load(stream_id, 1).await?;
        recorded.iter().try_fold(
            Self {
                state: A::default(),
                version: 0,
                checkpoint: Checkpoint::ORIGIN,
            },
            |loaded, event| {
                let decoded = decode::<A::Event>(event)?;
                Ok(Self {
                    state: loaded.state.evolve(&decoded),
                    version: event.stream_version,
                    checkpoint: event.checkpoint,
                })
            },
        )
    }
}

fn decode<E: Event>(event: &RecordedEvent) -> Result<E, HandlerError> {
    let mut payload = serde_json::Deserializer::from_str(event.payload.get());
    E::decode(&event.event_type, event.schema_version, &mut payload).map_err(|error| {
        HandlerError::UnreadableEvent {
            stream_id: event.stream_id.clone(),
            event_type: event.event_type.clone(),
            schema_version: event.schema_version,
            reason: error.to_string(),
        }
    })
}
