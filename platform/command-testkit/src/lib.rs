//! Command services under test: each test gets its own database, broker prefix and Redis key
//! prefix, starts real service instances on port 0 and talks to them over the real bus, with
//! envelopes built exactly as the gateway builds them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use command_handler::CommandService;
use command_handler::host::{CommandSettings, Host, HostError, HostSettings};
use events::PlaceId;
use events::members::{MemberDeactivated, MemberEvent};
use events::places::{Category, PlaceAdded, PlaceClosed, PlaceEvent};
use events::{
    Actor, Command, CommandEnvelope, CommandId, CommandReply, Event, MemberId, RecordedEvent, Role,
};
use local_copies::KnownPlace;
use message_bus::{
    Bus, BusConfig, BusNames, CancellationToken, CommandClient, OutgoingMessage, Publisher,
    RpcOutcome, Topology,
};
use service_kit::settings::{
    DiscoverySettings, HttpSettings, PostgresSettings, RabbitMqSettings, RedisSettings,
};
use service_kit::telemetry::TelemetrySettings;
use sqlx::PgPool;
use testkit::database::TestDatabase;
use time::OffsetDateTime;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// How long a test waits for a reply before failing.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(20);

/// One test's private slice of the infrastructure.
#[derive(Debug)]
pub struct TestSystem {
    pub prefix: String,
    pub redis_prefix: String,
    bus: Bus,
    client: CommandClient,
    publisher: Publisher,
    /// Orders the events this test publishes, as a source store's commit order would.
    transactions: AtomicU64,
}

impl TestSystem {
    pub async fn new() -> Self {
        let prefix = testkit::rabbitmq::unique_prefix();
        let names = BusNames::with_prefix(prefix.clone());
        let bus = Bus::connect(BusConfig {
            url: testkit::rabbitmq::amqp_url(),
            connection_name: format!("{prefix}-client"),
            names: names.clone(),
            topology: Topology::new(names),
        })
        .await
        .expect("connect the test client to RabbitMQ");
        Self {
            redis_prefix: format!("{prefix}:"),
            client: bus.command_client(),
            publisher: Publisher::new(bus.clone()),
            transactions: AtomicU64::new(1),
            prefix,
            bus,
        }
    }

    pub fn names(&self) -> &BusNames {
        self.bus.names()
    }

    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// Settings for one instance of a service on `database`: port 0, this test's prefixes,
    /// a quick heartbeat.
    pub fn host_settings(&self, database: &TestDatabase) -> HostSettings {
        let server = testkit::database::admin_url();
        HostSettings {
            postgres: PostgresSettings {
                url: server,
                max_connections: 10,
            },
            rabbitmq: RabbitMqSettings {
                url: testkit::rabbitmq::amqp_url(),
                prefix: self.prefix.clone(),
            },
            redis: RedisSettings {
                url: testkit::redis_url(),
                key_prefix: self.redis_prefix.clone(),
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
            commands: CommandSettings {
                database: database.name.clone(),
                workers: 4,
                max_attempts: 5,
                conflict_retries: 3,
            },
            telemetry: TelemetrySettings::default(),
        }
    }

    /// Sends a command as the gateway does and returns the service's reply.
    pub async fn send<C: Command>(&self, envelope: &CommandEnvelope<C>) -> CommandReply {
        let bytes = serde_json::to_vec(envelope).expect("encode the envelope");
        self.send_raw(C::SERVICE, envelope.command_id.into(), bytes)
            .await
    }

    /// Sends any bytes to `service`'s queue (malformed envelopes, unknown types).
    pub async fn send_raw(&self, service: &str, command_id: Uuid, bytes: Vec<u8>) -> CommandReply {
        let outcome = self
            .client
            .call(service, command_id, bytes, None, REPLY_TIMEOUT)
            .await
            .expect("the broker accepts the command");
        match outcome {
            RpcOutcome::Replied(reply) => {
                serde_json::from_slice(&reply).expect("the reply is a CommandReply")
            }
            RpcOutcome::Accepted => panic!("no reply from {service} within {REPLY_TIMEOUT:?}"),
        }
    }

    /// Publishes an event on the events exchange as another service's relay would, so a
    /// service's local copies can be fed without running that service.
    pub async fn publish_event<E: Event>(&self, recorded: &RecordedEvent<E>) {
        let body = serde_json::to_vec(recorded).expect("encode the event");
        let message = OutgoingMessage::new(
            self.names().events_exchange(),
            recorded.event_type.clone(),
            body,
        )
        .with_message_id(recorded.event_id);
        self.publisher
            .publish(message)
            .await
            .expect("the broker confirms the event");
    }

    /// Publishes `event` as its source's relay would, after everything published before.
    pub async fn publish_next<E: Event>(&self, event: E) {
        let transaction = self.transactions.fetch_add(1, Ordering::Relaxed);
        self.publish_event(&recorded(event, transaction)).await;
    }

    /// A new place, added and open in the local copy on `copy` (the service's database).
    pub async fn open_place(&self, copy: &PgPool) -> PlaceId {
        let place_id = PlaceId::from(Uuid::now_v7());
        self.add_place(copy, place_id).await;
        place_id
    }

    /// Adds the place and waits until the local copy on `copy` knows it as open.
    pub async fn add_place(&self, copy: &PgPool, place_id: PlaceId) {
        self.publish_next(PlaceEvent::from(PlaceAdded {
            place_id,
            name: "Café Nord".to_owned(),
            category: Category::Cafe,
            address: "1 Harbour Street".to_owned(),
            description: "Good coffee.".to_owned(),
            added_by: MemberId::from(Uuid::now_v7()),
            added_at: OffsetDateTime::now_utc(),
        }))
        .await;
        wait_for_place(copy, place_id, KnownPlace::Open).await;
    }

    /// Closes the place and waits until the local copy on `copy` knows.
    pub async fn close_place(&self, copy: &PgPool, place_id: PlaceId) {
        self.publish_next(PlaceEvent::from(PlaceClosed {
            place_id,
            closed_by: MemberId::from(Uuid::now_v7()),
            closed_at: OffsetDateTime::now_utc(),
        }))
        .await;
        wait_for_place(copy, place_id, KnownPlace::Closed).await;
    }

    /// Deactivates the member and waits until the local copy on `copy` knows.
    pub async fn deactivate(&self, copy: &PgPool, member_id: MemberId) {
        self.publish_next(MemberEvent::from(MemberDeactivated {
            member_id,
            deactivated_at: OffsetDateTime::now_utc(),
        }))
        .await;
        testkit::poll::until(
            "the deactivation to reach the local copy",
            REPLY_TIMEOUT,
            || async {
                let active = local_copies::member_active(copy, member_id).await.unwrap();
                (!active).then_some(())
            },
        )
        .await;
    }

    /// Deletes this test's queues and exchanges.
    pub async fn cleanup(self) {
        self.bus.shutdown().await;
        testkit::rabbitmq::delete_prefixed(&self.prefix).await;
    }
}

/// Waits until the local copy on `copy` knows the place as `status`.
pub async fn wait_for_place(copy: &PgPool, place_id: PlaceId, status: KnownPlace) {
    testkit::poll::until(
        &format!("the local copy to know the place as {status:?}"),
        REPLY_TIMEOUT,
        || async {
            let known = local_copies::place_status(copy, place_id).await.unwrap();
            (known == status).then_some(())
        },
    )
    .await;
}

/// A recorded event as a relay would publish it; `transaction_id` orders it within `source`.
pub fn recorded<E: Event>(event: E, transaction_id: u64) -> RecordedEvent<E> {
    RecordedEvent {
        source: E::SERVICE.to_owned(),
        event_id: Uuid::now_v7(),
        event_type: event.wire_name().to_owned(),
        schema_version: event.schema_version(),
        stream_id: event.stream_id(),
        stream_version: 1,
        checkpoint: events::Checkpoint::new(transaction_id, 1),
        recorded_at: OffsetDateTime::now_utc(),
        correlation_id: Uuid::now_v7(),
        causation_id: None,
        actor: None,
        traceparent: None,
        payload: event,
    }
}

/// A signed-in member, as the gateway puts it in the envelope.
pub fn member() -> Actor {
    Actor::member(MemberId::from(Uuid::now_v7()), vec![Role::Member])
}

/// An administrator.
pub fn admin() -> Actor {
    Actor::member(
        MemberId::from(Uuid::now_v7()),
        vec![Role::Member, Role::Admin],
    )
}

/// A fresh envelope for `command` from `actor`, with a new command id.
pub fn envelope<C: Command>(command: C, actor: &Actor) -> CommandEnvelope<C> {
    CommandEnvelope::new(
        CommandId::from(Uuid::now_v7()),
        command,
        actor.clone(),
        Uuid::now_v7(),
    )
}

/// One service instance running in the test's runtime.
#[derive(Debug)]
pub struct RunningService {
    pub http: SocketAddr,
    pub instance_id: String,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), HostError>>,
}

impl RunningService {
    /// Serves `service` on `host` until stopped.
    pub fn start<S: CommandService>(host: Host, service: S) -> Self {
        let http = host.http_address().expect("the host is bound");
        let instance_id = host.instance_id().to_owned();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(host.serve(service, shutdown.clone()));
        Self {
            http,
            instance_id,
            shutdown,
            task,
        }
    }

    /// Graceful shutdown: commands in flight finish, the instance deregisters.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task
            .await
            .expect("the service task does not panic")
            .expect("the service stops cleanly");
    }

    /// A crash: the task is dropped where it stands and the broker sees the connection die,
    /// so its unacked commands return to the queue.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
        testkit::rabbitmq::close_connections_named(&self.instance_id).await;
    }
}
