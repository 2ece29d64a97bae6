//! The service's own queue of place and member events.

use events::RecordedEvent;
use message_bus::{
    Bus, CancellationToken, ConsumerConfig, ConsumerError, HandlingError, IncomingMessage,
    Topology, run_consumer,
};
use serde_json::value::RawValue;
use sqlx::PgPool;
use tracing::debug;

use crate::{Applied, apply};

/// The routing keys the copy needs; everything else stays off the queue.
pub const SUBSCRIBED_EVENTS: [&str; 4] = [
    "places.PlaceAdded",
    "places.PlaceClosed",
    "members.MemberRegistered",
    "members.MemberDeactivated",
];

/// The services that keep local copies, each on its queue `waypoint.events.<service>`.
pub const SERVICES_WITH_COPIES: [&str; 3] = ["places", "reviews", "ratings"];

/// Declares the local-copy queues of every service that keeps copies, not only the caller's:
/// a queue receives only what is published after it exists, so whichever command service
/// starts first makes sure no place or member event is published before the queues that
/// need it.
pub fn topology(topology: Topology) -> Topology {
    SERVICES_WITH_COPIES
        .iter()
        .fold(topology, |topology, service| {
            topology.events_queue(service, SUBSCRIBED_EVENTS)
        })
}

/// Feeds the copy from `service`'s events queue until `shutdown`. The queue has a single
/// active consumer, so other instances of the service wait as standbys.
pub async fn run(
    bus: Bus,
    pool: PgPool,
    service: &str,
    shutdown: CancellationToken,
) -> Result<(), ConsumerError> {
    let queue = bus.names().events_queue(service);
    let config = ConsumerConfig::new(queue, format!("local-copies.{service}"));
    run_consumer(
        bus,
        config,
        move |message| {
            let pool = pool.clone();
            async move { handle(&pool, &message).await }
        },
        shutdown,
    )
    .await
}

async fn handle(pool: &PgPool, message: &IncomingMessage) -> Result<(), HandlingError> {
    let event: RecordedEvent<Box<RawValue>> = serde_json::from_slice(&message.payload)
        .map_err(|error| HandlingError::from_error(&error))?;
    let applied = apply(pool, &event)
        .await
        .map_err(|error| HandlingError::from_error(&error))?;
    let outcome = match applied {
        Applied::Changed => "changed",
        Applied::AlreadyNewer => "already_newer",
        Applied::Ignored => "ignored",
    };
    metrics::counter!("waypoint_local_copy_events_total", "source" => event.source.clone(), "outcome" => outcome)
        .increment(1);
    debug!(event_type = %event.event_type, event_id = %event.event_id, outcome, "local copy");
    Ok(())
}
