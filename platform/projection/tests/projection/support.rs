//! What the tests share: a model that notices any double apply, a source store with its bus,
//! and projection instances serving in the test.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use event_store::{AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent};
use events::places::{Category, PlaceAdded, PlaceClosed, PlaceEvent};
use events::{Checkpoint, MemberId, PlaceId};
use message_bus::{
    Bus, BusConfig, BusNames, CancellationToken, OutgoingMessage, Publisher, Topology,
};
use projection::host::{Host, ProjectionSettings};
use projection::query::{Problem, QueryContext};
use projection::tables::Table;
use projection::{ApplyError, IncomingEvent, ReadModel, decode};
use sqlx::{PgConnection, PgPool};
use testkit::database::TestDatabase;
use time::OffsetDateTime;
use uuid::Uuid;

pub const DEADLINE: Duration = Duration::from_secs(30);

/// Remembers every place it was told about, once: a second apply of one event would violate
/// the primary key and fail the batch, so the tests see any double apply.
pub struct Seen;

impl ReadModel for Seen {
    const NAME: &'static str = "seen";
    const EVENT_TYPES: &'static [&'static str] = &["places.PlaceAdded"];
    const TABLES: &'static [Table] = &[Table::new("seen", "place_id")];

    async fn migrate(&self, pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
        sqlx::query("CREATE TABLE IF NOT EXISTS seen (place_id uuid PRIMARY KEY)")
            .execute(pool)
            .await?;
        Ok(())
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        event: &IncomingEvent,
    ) -> Result<(), ApplyError> {
        let PlaceEvent::PlaceAdded(added) = decode::<PlaceEvent>(event)? else {
            return Ok(());
        };
        sqlx::query("INSERT INTO seen (place_id) VALUES ($1)")
            .bind(Uuid::from(added.place_id))
            .execute(conn)
            .await?;
        Ok(())
    }
}

pub fn added() -> PlaceEvent {
    PlaceAdded {
        place_id: PlaceId::from(Uuid::now_v7()),
        name: "Lighthouse".to_owned(),
        category: Category::Museum,
        address: "3 Pier".to_owned(),
        description: String::new(),
        added_by: MemberId::from(Uuid::now_v7()),
        added_at: OffsetDateTime::now_utc(),
    }
    .into()
}

/// The closing of a place, alone in its stream: an event [`Seen`] does not read.
pub fn closed() -> PlaceEvent {
    PlaceClosed {
        place_id: PlaceId::from(Uuid::now_v7()),
        closed_by: MemberId::from(Uuid::now_v7()),
        closed_at: OffsetDateTime::now_utc(),
    }
    .into()
}

/// One projection instance serving in the test.
pub struct Running {
    pub address: String,
    pub instance_id: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap();
    }
}

pub struct World {
    pub prefix: String,
    pub names: BusNames,
    pub source_db: TestDatabase,
    pub source: EventStore,
    pub model_db: TestDatabase,
    pub bus: Bus,
}

impl World {
    pub async fn new() -> Self {
        let prefix = testkit::rabbitmq::unique_prefix();
        let names = BusNames::with_prefix(prefix.clone());
        let source_db = TestDatabase::create().await;
        let source = EventStore::new(source_db.pool(4).await, "places");
        source.migrate().await.unwrap();
        let bus = Bus::connect(BusConfig {
            url: testkit::rabbitmq::amqp_url(),
            connection_name: format!("{prefix}-test"),
            names: names.clone(),
            topology: Topology::new(names.clone()),
        })
        .await
        .unwrap();
        Self {
            prefix,
            names,
            source_db,
            source,
            model_db: TestDatabase::create().await,
            bus,
        }
    }

    pub fn settings(&self) -> ProjectionSettings {
        let sources = BTreeMap::from([("places".to_owned(), self.source_db.name.clone())]);
        projection_testkit::settings(&self.prefix, &self.model_db, sources)
    }

    pub async fn start(&self) -> Running {
        let host = Host::start(self.settings(), Seen, "test").await.unwrap();
        let address = format!("http://{}", host.http_address().unwrap());
        let instance_id = host.instance_id().to_owned();
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let task = tokio::spawn(async move {
            host.serve(seen_router, stop).await.unwrap();
        });
        Running {
            address,
            instance_id,
            shutdown,
            task,
        }
    }

    /// Publishes `event` as a relay would.
    pub async fn publish(&self, event: &IncomingEvent) {
        let body = serde_json::to_vec(event).unwrap();
        let message =
            OutgoingMessage::new(self.names.events_exchange(), event.event_type.clone(), body)
                .with_message_id(event.event_id);
        Publisher::new(self.bus.clone())
            .publish(message)
            .await
            .unwrap();
    }

    /// Appends `event` and returns its commit-order position.
    pub async fn append(&self, event: &PlaceEvent) -> Checkpoint {
        append(&self.source, event).await
    }

    pub async fn seen(&self, pool: &PgPool) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM seen")
            .fetch_one(pool)
            .await
            .unwrap_or(0)
    }

    pub async fn cleanup(self) {
        self.bus.shutdown().await;
        testkit::rabbitmq::delete_prefixed(&self.prefix).await;
    }
}

/// Appends `event` as the first of its stream; returns its commit-order position.
pub async fn append(store: &EventStore, event: &PlaceEvent) -> Checkpoint {
    let request = AppendRequest {
        stream_id: events::Event::stream_id(event),
        expected_version: ExpectedVersion(0),
        events: vec![NewEvent::from_contract(event).unwrap()],
        metadata: EventMetadata::default(),
        command_id: None,
    };
    store.append(&request).await.unwrap().checkpoint
}

/// `GET /count`: how many places the served generation has seen.
pub fn seen_router(context: QueryContext) -> Router {
    Router::new()
        .route("/count", get(count))
        .with_state(context)
}

async fn count(State(context): State<QueryContext>) -> Result<Json<i64>, Problem> {
    let seen = sqlx::query_scalar("SELECT count(*) FROM seen")
        .fetch_one(&context.pool)
        .await?;
    Ok(Json(seen))
}
