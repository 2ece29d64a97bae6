//! A running relay with a consumer on the other side of the broker, for relay tests.

use event_store::{EventStore, Relay, RelayConfig};
use message_bus::{Bus, BusConfig, BusNames, ConsumerConfig, Topology, run_consumer};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use testkit::rabbitmq;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub type Received = events::RecordedEvent<Value>;

/// Everything a relay test needs: the store, a bus for relays, and a sink queue bound to every
/// event, consumed into `received` in delivery order.
pub struct Relaying {
    pub store: EventStore,
    pub names: BusNames,
    pub relay_connection: String,
    relay_bus: Bus,
    sink_bus: Bus,
    received: Arc<Mutex<Vec<Received>>>,
    shutdown: CancellationToken,
}

pub const RELAY: &str = "testing";

impl Relaying {
    pub async fn start(store: EventStore) -> Self {
        let names = BusNames::with_prefix(rabbitmq::unique_prefix());
        let topology = Topology::new(names.clone()).events_queue("sink", ["#"]);
        let relay_connection = format!("{}-relay", names.prefix().unwrap_or_default());
        let relay_bus = connect(&relay_connection, &names, topology.clone()).await;
        let sink_bus = connect(&format!("{relay_connection}-sink"), &names, topology).await;
        let received = Arc::new(Mutex::new(Vec::new()));
        let shutdown = CancellationToken::new();
        let sink = received.clone();
        tokio::spawn(run_consumer(
            sink_bus.clone(),
            ConsumerConfig::new(names.events_queue("sink"), "sink").with_prefetch(500),
            move |message| {
                let sink = sink.clone();
                async move {
                    let event: Received = serde_json::from_slice(&message.payload)
                        .map_err(message_bus::HandlingError::new)?;
                    // The relay must carry the ids and the trace context stored with the event;
                    // a message without them is refused and never reaches the sink, which
                    // fails the test that waits for it.
                    if message.message_id != Some(event.event_id.to_string())
                        || message.traceparent.is_none()
                        || message.traceparent != event.traceparent
                    {
                        return Err(message_bus::HandlingError::new("ids or trace context lost"));
                    }
                    sink.lock().unwrap().push(event);
                    Ok(())
                }
            },
            shutdown.clone(),
        ));
        Self {
            store,
            names,
            relay_connection,
            relay_bus,
            sink_bus,
            received,
            shutdown,
        }
    }

    /// Starts a relay; abort the handle to crash it.
    pub fn spawn_relay(&self) -> JoinHandle<()> {
        self.spawn_relay_polling_every(Duration::from_millis(50))
    }

    pub fn spawn_relay_polling_every(&self, poll_interval: Duration) -> JoinHandle<()> {
        let config = RelayConfig {
            poll_interval,
            ..RelayConfig::new(RELAY, self.names.events_exchange())
        };
        let relay = Relay::new(self.store.clone(), self.relay_bus.publisher(), config);
        tokio::spawn(relay.run(self.shutdown.child_token()))
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until every id in `expected` has arrived at the sink.
    pub async fn wait_for(&self, expected: &HashSet<Uuid>) -> Vec<Received> {
        testkit::poll::until(
            &format!("{} events at the sink", expected.len()),
            Duration::from_secs(30),
            || async {
                let received = self.received();
                let ids: HashSet<Uuid> = received.iter().map(|e| e.event_id).collect();
                expected.is_subset(&ids).then_some(received)
            },
        )
        .await
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        rabbitmq::delete_prefixed(self.names.prefix().unwrap_or_default()).await;
        self.relay_bus.shutdown().await;
        self.sink_bus.shutdown().await;
    }
}

async fn connect(connection_name: &str, names: &BusNames, topology: Topology) -> Bus {
    Bus::connect(BusConfig {
        url: rabbitmq::amqp_url(),
        connection_name: connection_name.to_owned(),
        names: names.clone(),
        topology,
    })
    .await
    .expect("connect to RabbitMQ")
}

/// The relay's stored checkpoint, if it has written one.
pub async fn stored_checkpoint(store: &EventStore) -> Option<events::Checkpoint> {
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT transaction_id::text, position FROM relay_checkpoints WHERE relay = $1",
    )
    .bind(RELAY)
    .fetch_optional(store.pool())
    .await
    .unwrap();
    row.map(|(xid, position)| events::Checkpoint::new(xid.parse().unwrap(), position))
}

/// Terminates the server sessions of relays on this store's database, as a crash of the relay
/// process or of PostgreSQL would end them.
pub async fn terminate_relay_sessions(store: &EventStore) -> u64 {
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND application_name LIKE 'waypoint-relay%'",
    )
    .execute(store.pool())
    .await
    .unwrap()
    .rows_affected()
}
