//! The key property of a read model: built live through the broker, with deliveries
//! duplicated and sources interleaved however the relays happen to publish them, it equals its
//! rebuild from the source stores, one source after another.

use std::collections::BTreeMap;
use std::time::Duration;

use event_store::{AppendRequest, EventMetadata, EventStore, ExpectedVersion, Relay, RelayConfig};
use events::{Checkpoint, ConsistencyToken};
use message_bus::{
    Bus, BusConfig, BusNames, CancellationToken, OutgoingMessage, Publisher, Topology,
};
use projection::host::{Host, ModelSettings, ProjectionSettings};
use projection::{ReadModel, catchup, checkpoints};
use service_kit::settings::{
    DiscoverySettings, HttpSettings, PostgresSettings, RabbitMqSettings, RedisSettings,
};
use service_kit::telemetry::TelemetrySettings;
use testkit::database::TestDatabase;

use crate::model::checksum;
use crate::{AnyEvent, Workload};

const SOURCES: [&str; 4] = ["members", "places", "reviews", "ratings"];
const DEADLINE: Duration = Duration::from_secs(120);

/// Both builds' checksums, and that of the empty model, so a test can tell that the workload
/// changed something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converged {
    pub live: String,
    pub rebuilt: String,
    pub empty: String,
}

/// Appends `workload` to four real stores while `live` consumes them through the broker (every
/// fifth event is delivered twice), then rebuilds `rebuilt` from the stores, and returns both
/// checksums.
pub async fn converge<M: ReadModel>(live: M, rebuilt: M, workload: &Workload) -> Converged {
    let prefix = testkit::rabbitmq::unique_prefix();
    let names = BusNames::with_prefix(prefix.clone());
    let mut databases = BTreeMap::new();
    let mut stores = BTreeMap::new();
    for source in SOURCES {
        let database = TestDatabase::create().await;
        let store = EventStore::new(database.pool(4).await, source);
        store.migrate().await.unwrap();
        databases.insert(source.to_owned(), database.name.clone());
        stores.insert(source, store);
    }
    let bus = Bus::connect(BusConfig {
        url: testkit::rabbitmq::amqp_url(),
        connection_name: format!("{prefix}-convergence"),
        names: names.clone(),
        topology: Topology::new(names.clone()),
    })
    .await
    .unwrap();

    let live_db = TestDatabase::create().await;
    let host = Host::start(settings(&prefix, &live_db, databases), live, "test")
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let serving = {
        let stop = stop.clone();
        tokio::spawn(async move { host.serve(|_| axum::Router::new(), stop).await.unwrap() })
    };
    let relays: Vec<_> = stores
        .values()
        .map(|store| {
            let relay = Relay::new(
                store.clone(),
                Publisher::new(bus.clone()),
                RelayConfig::new(store.source(), names.events_exchange()),
            );
            tokio::spawn(relay.run(stop.clone()))
        })
        .collect();

    append_concurrently(&stores, workload).await;
    redeliver_some(&stores, &bus, &names).await;

    let live_pool = live_db.pool(2).await;
    for store in stores.values() {
        wait_until_readable(store).await;
        if let Some(last) = last_wanted::<M>(store).await {
            let token = ConsistencyToken::new(store.source(), last);
            testkit::poll::until(
                &format!("the live model to apply {}'s events", store.source()),
                DEADLINE,
                || async {
                    checkpoints::covers(&live_pool, &token)
                        .await
                        .unwrap()
                        .then_some(())
                },
            )
            .await;
        }
    }
    stop.cancel();
    serving.await.unwrap();
    for relay in relays {
        relay.await.unwrap();
    }

    let rebuilt_pool = crate::model::fresh(&rebuilt).await;
    let empty = checksum(&rebuilt, &rebuilt_pool).await;
    let sources: Vec<EventStore> = stores.into_values().collect();
    catchup::catch_up(&rebuilt_pool, &rebuilt, &sources)
        .await
        .unwrap();

    let converged = Converged {
        live: checksum(&rebuilt, &live_pool).await,
        rebuilt: checksum(&rebuilt, &rebuilt_pool).await,
        empty,
    };
    bus.shutdown().await;
    testkit::rabbitmq::delete_prefixed(&prefix).await;
    converged
}

/// One task per source, so the relays publish the sources interleaved as they come.
async fn append_concurrently(stores: &BTreeMap<&str, EventStore>, workload: &Workload) {
    let mut by_source: BTreeMap<&str, Vec<AnyEvent>> = BTreeMap::new();
    for event in &workload.events {
        by_source
            .entry(event.source())
            .or_default()
            .push(event.clone());
    }
    let appends = by_source.into_iter().map(|(source, events)| {
        let store = stores[source].clone();
        tokio::spawn(async move {
            let mut versions: BTreeMap<String, i64> = BTreeMap::new();
            for event in events {
                let stream_id = event.stream_id();
                let version = versions.entry(stream_id.clone()).or_default();
                let request = AppendRequest {
                    stream_id,
                    expected_version: ExpectedVersion(*version),
                    events: vec![event.to_new_event()],
                    metadata: EventMetadata::default(),
                    command_id: None,
                };
                store.append(&request).await.unwrap();
                *version += 1;
            }
        })
    });
    for append in appends {
        append.await.unwrap();
    }
}

/// Publishes every fifth stored event again, as a relay that crashed before its checkpoint
/// would.
async fn redeliver_some(stores: &BTreeMap<&str, EventStore>, bus: &Bus, names: &BusNames) {
    let publisher = Publisher::new(bus.clone());
    for store in stores.values() {
        let recorded = store.read_all(Checkpoint::ORIGIN, i64::MAX).await.unwrap();
        for event in recorded.iter().step_by(5) {
            let message = OutgoingMessage::new(
                names.events_exchange(),
                event.event_type.clone(),
                serde_json::to_vec(event).unwrap(),
            )
            .with_message_id(event.event_id);
            publisher.publish(message).await.unwrap();
        }
    }
}

/// The checkpoint of the last event in `store` that the model consumes.
/// Waits until every event in `store` can be read. Readers stop at the server-wide commit
/// horizon, so a transaction open anywhere on the server (another test's) holds back events
/// committed after it began; without this wait a test would take a partial history for the
/// whole one.
pub async fn wait_until_readable(store: &EventStore) {
    let newest: Option<(String, i64)> = sqlx::query_as(
        "SELECT transaction_id::text, position FROM events
          ORDER BY transaction_id DESC, position DESC LIMIT 1",
    )
    .fetch_optional(store.pool())
    .await
    .unwrap();
    let Some((transaction_id, position)) = newest else {
        return;
    };
    let newest = Checkpoint::new(transaction_id.parse().unwrap(), position);
    testkit::poll::until(
        &format!("every event of {} to be readable", store.source()),
        DEADLINE,
        || async { (store.head().await.unwrap() == newest).then_some(()) },
    )
    .await;
}

async fn last_wanted<M: ReadModel>(store: &EventStore) -> Option<Checkpoint> {
    store
        .read_all(Checkpoint::ORIGIN, i64::MAX)
        .await
        .unwrap()
        .iter()
        .rev()
        .find(|event| M::EVENT_TYPES.contains(&event.event_type.as_str()))
        .map(|event| event.checkpoint)
}

/// Settings for a projection under test: port 0, the test's broker and Redis prefix, its own
/// database, and the source databases by service.
pub fn settings(
    prefix: &str,
    model_db: &TestDatabase,
    sources: BTreeMap<String, String>,
) -> ProjectionSettings {
    ProjectionSettings {
        postgres: PostgresSettings {
            url: testkit::database::admin_url(),
            max_connections: 5,
        },
        rabbitmq: RabbitMqSettings {
            url: testkit::rabbitmq::amqp_url(),
            prefix: prefix.to_owned(),
        },
        redis: RedisSettings {
            url: testkit::redis_url(),
            key_prefix: format!("{prefix}:"),
        },
        http: HttpSettings {
            host: "127.0.0.1".to_owned(),
            port: 0,
        },
        discovery: DiscoverySettings {
            heartbeat_interval_ms: 200,
            ttl_ms: 1_000,
            advertise_host: "127.0.0.1".to_owned(),
        },
        projection: ModelSettings {
            database: model_db.name.clone(),
            batch: 200,
            max_wait_ms: 2_000,
        },
        sources,
        telemetry: TelemetrySettings::default(),
    }
}
