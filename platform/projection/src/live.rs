//! The live edge: the model's own queue on `waypoint.events`, applied in batches.

use std::sync::Arc;

use message_bus::{
    BatchHandled, Bus, CancellationToken, ConsumerConfig, ConsumerError, HandlingError,
    IncomingMessage, Topology, run_batch_consumer,
};
use sqlx::PgPool;
use tokio::sync::OwnedMutexGuard;
use tracing::error;

use crate::apply::{apply_delivered, record_unreadable};
use crate::query::AppliedSignal;
use crate::serving::Serving;
use crate::{IncomingEvent, ReadModel};

/// Declares the model's queue, bound to exactly the event types it applies. Declared before
/// catching up, so nothing committed from then on can miss it.
pub fn topology<M: ReadModel>(topology: Topology) -> Topology {
    topology.events_queue(M::NAME, M::EVENT_TYPES.iter().copied())
}

/// Applies the model's queue to `pool` until `shutdown`. The queue has a single active
/// consumer, so a second replica waits as a hot standby and takes over when this one's
/// connection ends.
pub async fn run<M: ReadModel>(
    bus: Bus,
    pool: PgPool,
    model: Arc<M>,
    signal: AppliedSignal,
    batch: u16,
    shutdown: CancellationToken,
) -> Result<(), ConsumerError> {
    consume(bus, Target::Fixed(pool), model, signal, batch, shutdown).await
}

/// [`run`] on whichever generation the host serves: each batch is applied to the generation
/// serving when it starts, and a switch waits for the batch in hand.
pub(crate) async fn run_serving<M: ReadModel>(
    bus: Bus,
    serving: Serving,
    model: Arc<M>,
    signal: AppliedSignal,
    batch: u16,
    shutdown: CancellationToken,
) -> Result<(), ConsumerError> {
    consume(
        bus,
        Target::Serving(serving),
        model,
        signal,
        batch,
        shutdown,
    )
    .await
}

/// Where batches go.
#[derive(Debug, Clone)]
enum Target {
    Fixed(PgPool),
    Serving(Serving),
}

impl Target {
    /// The pool to apply the next batch to, and, when generations can switch, the gate that
    /// keeps a switch waiting until the batch is done.
    async fn hold(&self) -> (PgPool, Option<OwnedMutexGuard<()>>) {
        match self {
            Self::Fixed(pool) => (pool.clone(), None),
            Self::Serving(serving) => {
                let gate = serving.pause().await;
                // Read after the gate: a switch that just finished has swapped already.
                (serving.current().pool.clone(), Some(gate))
            }
        }
    }
}

async fn consume<M: ReadModel>(
    bus: Bus,
    target: Target,
    model: Arc<M>,
    signal: AppliedSignal,
    batch: u16,
    shutdown: CancellationToken,
) -> Result<(), ConsumerError> {
    let queue = bus.names().events_queue(M::NAME);
    // Twice the batch in flight, so the next batch is already here when one commits.
    let config = ConsumerConfig::new(queue, format!("projection.{}", M::NAME))
        .with_prefetch(batch.saturating_mul(2));
    run_batch_consumer(
        bus,
        config,
        usize::from(batch),
        move |messages| {
            let (target, model, signal) = (target.clone(), Arc::clone(&model), signal.clone());
            async move {
                let (pool, _gate) = target.hold().await;
                handle(&pool, model.as_ref(), &signal, &messages).await
            }
        },
        shutdown,
    )
    .await
}

async fn handle<M: ReadModel>(
    pool: &PgPool,
    model: &M,
    signal: &AppliedSignal,
    messages: &[IncomingMessage],
) -> BatchHandled {
    let mut dead = Vec::new();
    let mut events = Vec::with_capacity(messages.len());
    let mut index_of = Vec::with_capacity(messages.len());
    let mut traceparents = Vec::with_capacity(messages.len());
    for (index, message) in messages.iter().enumerate() {
        match serde_json::from_slice::<IncomingEvent>(&message.payload) {
            Ok(event) => {
                events.push(event);
                index_of.push(index);
                traceparents.push(message.traceparent.as_deref());
            }
            Err(error) => {
                metrics::counter!("waypoint_projection_unreadable_messages_total", "projection" => M::NAME)
                    .increment(1);
                error!(model = M::NAME, %error, "a message on the events queue is not an event");
                let reason = format!("not a recorded event: {error}");
                record_unreadable(
                    pool,
                    message.message_id.as_deref(),
                    &message.routing_key,
                    &reason,
                )
                .await
                .map_err(|error| HandlingError::from_error(&error))?;
                dead.push((index, reason));
            }
        }
    }
    let outcome = apply_delivered(pool, model, &events, &traceparents)
        .await
        .map_err(|error| HandlingError::from_error(&error))?;
    metrics::counter!("waypoint_projection_applied_events_total", "projection" => M::NAME)
        .increment(outcome.applied as u64);
    metrics::counter!("waypoint_projection_skipped_events_total", "projection" => M::NAME)
        .increment(outcome.skipped as u64);
    for (event_id, reason) in outcome.poisoned {
        if let Some(position) = events.iter().position(|event| event.event_id == event_id) {
            dead.push((index_of[position], reason));
        }
    }
    signal.notify();
    Ok(dead)
}
