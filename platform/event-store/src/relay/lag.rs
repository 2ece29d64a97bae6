//! How far the relay is behind its store, for `/metrics`:
//! `waypoint_relay_lag_events{service}`, the events committed but not yet confirmed by the
//! broker, and `waypoint_relay_lag_seconds{service}`, how long the next of them has waited
//! (0 when caught up).
//!
//! One query of two index lookups, at most once per [`MEASURE_EVERY`]: relaying pays nothing
//! per event. The event count is the store head's position minus the checkpoint's, which
//! counts positions a rolled-back append used up; it is 0 exactly when nothing waits.

use std::time::{Duration, Instant};

use events::Checkpoint;
use metrics::Gauge;
use sqlx::PgConnection;
use tracing::warn;

use crate::error::StoreError;

const LAG_EVENTS: &str = "waypoint_relay_lag_events";
const LAG_SECONDS: &str = "waypoint_relay_lag_seconds";

/// Scrapes come every few seconds; measuring more often than this would only cost queries.
const MEASURE_EVERY: Duration = Duration::from_secs(1);

/// What the relay has yet to publish.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Lag {
    pub events: u64,
    pub seconds: f64,
}

impl Lag {
    const CAUGHT_UP: Self = Self {
        events: 0,
        seconds: 0.0,
    };
}

/// One relay's lag gauges.
#[derive(Debug)]
pub(super) struct LagGauges {
    events: Gauge,
    seconds: Gauge,
    measured_at: Option<Instant>,
}

impl LagGauges {
    /// Registers the gauges at zero, so a fresh service and a standby relay expose them too.
    pub(super) fn register(service: &str) -> Self {
        let labels = [("service", service.to_owned())];
        let gauges = Self {
            events: metrics::gauge!(LAG_EVENTS, &labels),
            seconds: metrics::gauge!(LAG_SECONDS, &labels),
            measured_at: None,
        };
        gauges.show(Lag::CAUGHT_UP);
        gauges
    }

    /// Measures the lag behind `confirmed` unless the last measurement is recent. A failed
    /// measurement leaves the gauges as they were: metrics never stop the relay.
    pub(super) async fn update(&mut self, conn: &mut PgConnection, confirmed: Checkpoint) {
        if self
            .measured_at
            .is_some_and(|at| at.elapsed() < MEASURE_EVERY)
        {
            return;
        }
        self.measured_at = Some(Instant::now());
        match measure(conn, confirmed).await {
            Ok(lag) => self.show(lag),
            Err(error) => warn!(%error, "could not measure the relay's lag"),
        }
    }

    fn show(&self, lag: Lag) {
        // Lossless below 2^53 events, far beyond any backlog.
        self.events.set(lag.events as f64);
        self.seconds.set(lag.seconds);
    }
}

/// The lag of a relay whose broker has confirmed everything up to `confirmed`. Events held
/// back behind a transaction still running elsewhere count: they wait too.
pub(super) async fn measure(
    conn: &mut PgConnection,
    confirmed: Checkpoint,
) -> Result<Lag, StoreError> {
    // The database's own clock on both sides: `recorded_at` is its `clock_timestamp()`.
    let (head, waited): (Option<i64>, Option<f64>) = sqlx::query_as(
        "SELECT
           (SELECT position FROM events
             ORDER BY transaction_id DESC, position DESC LIMIT 1),
           (SELECT extract(epoch FROM clock_timestamp() - recorded_at)::float8 FROM events
             WHERE (transaction_id, position) > ($1::text::xid8, $2)
             ORDER BY transaction_id, position LIMIT 1)",
    )
    .bind(confirmed.transaction_id.to_string())
    .bind(confirmed.position)
    .fetch_one(conn)
    .await?;
    let (Some(head), Some(waited)) = (head, waited) else {
        return Ok(Lag::CAUGHT_UP);
    };
    // Positions are not in commit order, so the head's can lie below the checkpoint's; an
    // event is waiting all the same.
    let behind = u64::try_from(head.saturating_sub(confirmed.position)).unwrap_or(0);
    Ok(Lag {
        events: behind.max(1),
        seconds: waited.max(0.0),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::store::decode_checkpoint;
    use crate::{AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent};
    use testkit::database::TestDatabase;
    use uuid::Uuid;

    async fn empty_store() -> EventStore {
        let database = TestDatabase::create().await;
        let store = EventStore::new(database.pool(2).await, "testing");
        store.migrate().await.unwrap();
        store
    }

    /// A store holding one stream of `count` events, and their checkpoints in commit order.
    async fn store_with(count: usize) -> (EventStore, Vec<Checkpoint>) {
        let store = empty_store().await;
        let events = (0..count)
            .map(|n| NewEvent {
                event_id: Uuid::now_v7(),
                event_type: "testing.Happened".to_owned(),
                schema_version: 1,
                payload: serde_json::json!({ "n": n }),
            })
            .collect();
        store
            .append(&AppendRequest {
                stream_id: format!("thing-{}", Uuid::new_v4()),
                expected_version: ExpectedVersion(0),
                events,
                metadata: EventMetadata {
                    correlation_id: Uuid::now_v7(),
                    causation_id: None,
                    actor: None,
                    traceparent: None,
                },
                command_id: None,
            })
            .await
            .unwrap();
        let rows = sqlx::query(
            "SELECT transaction_id::text AS xid_text, position FROM events
             ORDER BY transaction_id, position",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        let checkpoints = rows.iter().map(|row| decode_checkpoint(row).unwrap());
        (store, checkpoints.collect())
    }

    #[tokio::test]
    async fn counts_what_waits_after_the_checkpoint_and_how_long_the_next_has_waited() {
        let (store, checkpoints) = store_with(3).await;
        let mut conn = store.pool().acquire().await.unwrap();

        let nothing_published = measure(&mut conn, Checkpoint::ORIGIN).await.unwrap();
        assert_eq!(nothing_published.events, 3);
        assert!(nothing_published.seconds > 0.0, "{nothing_published:?}");

        let one_published = measure(&mut conn, checkpoints[0]).await.unwrap();
        assert_eq!(one_published.events, 2);

        let all_published = measure(&mut conn, checkpoints[2]).await.unwrap();
        assert_eq!(all_published, Lag::CAUGHT_UP);
    }

    #[tokio::test]
    async fn an_empty_store_has_no_lag() {
        let store = empty_store().await;
        let mut conn = store.pool().acquire().await.unwrap();
        let lag = measure(&mut conn, Checkpoint::ORIGIN).await.unwrap();
        assert_eq!(lag, Lag::CAUGHT_UP);
    }
}
