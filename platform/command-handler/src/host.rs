//! Everything around a command service's business logic: its database, event store and relay,
//! the bus, the local copies, health and metrics, and its entry in the discovery registry.
//!
//! A service's `main` is [`Host::start`], then its own set-up on [`Host::pool`], then
//! [`Host::serve`]; tests do the same with port 0, a fresh database and prefixed names.

use std::net::SocketAddr;
use std::sync::Arc;

use event_store::{EventStore, Relay, RelayConfig};
use message_bus::{Bus, BusConfig, BusError, BusNames, CancellationToken, Publisher, Topology};
use serde::Deserialize;
use service_kit::database::{DatabaseError, connect_creating};
use service_kit::discovery::{InstanceInfo, Registry};
use service_kit::health::Readiness;
use service_kit::settings::{
    ConfigSources, DiscoverySettings, HttpSettings, PostgresSettings, RabbitMqSettings,
    RedisSettings,
};
use service_kit::telemetry::{Telemetry, TelemetrySettings};
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::{CommandRunner, CommandService, ServeConfig, serve};

/// The settings every command service reads (its `config/default.toml` sets them all).
#[derive(Debug, Clone, Deserialize)]
pub struct HostSettings {
    pub postgres: PostgresSettings,
    pub rabbitmq: RabbitMqSettings,
    pub redis: RedisSettings,
    pub http: HttpSettings,
    pub discovery: DiscoverySettings,
    pub commands: CommandSettings,
    #[serde(default)]
    pub telemetry: TelemetrySettings,
}

/// How the service handles its commands.
#[derive(Debug, Clone, Deserialize)]
pub struct CommandSettings {
    /// The service's own database, created on first start.
    pub database: String,
    /// Commands handled at once by this instance.
    pub workers: usize,
    /// Failed deliveries before a command is dead-lettered.
    pub max_attempts: u32,
    /// Version conflicts retried with a reload before answering `conflict`.
    pub conflict_retries: u32,
}

/// What differs between the four services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostOptions {
    /// The service name: command queue, event source, discovery entry.
    pub service: &'static str,
    /// Shown in discovery; a service passes its `CARGO_PKG_VERSION`.
    pub version: &'static str,
    /// Whether the service keeps local copies of places and members (all but `members`).
    pub local_copies: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(transparent)]
    Database(#[from] DatabaseError),
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("migrating the event store: {0}")]
    Store(#[from] event_store::StoreError),
    #[error("connecting to RabbitMQ: {0}")]
    Bus(#[from] BusError),
    #[error("Redis (discovery): {0}")]
    Discovery(#[from] service_kit::discovery::DiscoveryError),
    #[error("HTTP listener: {0}")]
    Http(#[from] std::io::Error),
    #[error("settings: {0}")]
    Settings(#[from] service_kit::settings::SettingsError),
    /// A service's own start-up failed (settings that cannot work, a client that cannot be
    /// built).
    #[error("{0}")]
    Setup(String),
    #[error("serving commands: {0}")]
    Serve(#[from] message_bus::ConsumerError),
}

/// A command service with its infrastructure up and its HTTP port bound, not yet consuming.
#[derive(Debug)]
pub struct Host {
    options: HostOptions,
    settings: HostSettings,
    pool: PgPool,
    store: EventStore,
    bus: Bus,
    registry: Registry,
    listener: TcpListener,
    instance_id: String,
}

impl Host {
    /// Creates and migrates the database, connects to RabbitMQ (declaring the command queue
    /// and, with local copies, the events queue) and Redis, and binds the HTTP port.
    pub async fn start(settings: HostSettings, options: HostOptions) -> Result<Self, HostError> {
        let service = options.service;
        let pool = connect_creating(&settings.postgres, &settings.commands.database).await?;
        let store = EventStore::new(pool.clone(), service);
        store.migrate().await?;
        if options.local_copies {
            local_copies::migrate(&pool).await?;
        }

        let instance_id = service_kit::instance_id(service);
        let names = BusNames::with_prefix(settings.rabbitmq.prefix.clone());
        let topology = local_copies::topology(Topology::new(names.clone()).command_queue(service));
        let bus = Bus::connect(BusConfig {
            url: settings.rabbitmq.url.clone(),
            connection_name: instance_id.clone(),
            names,
            topology,
        })
        .await?;
        let registry = Registry::connect(&settings.redis).await?;
        let listener = service_kit::http::bind(&settings.http).await?;
        Ok(Self {
            options,
            settings,
            pool,
            store,
            bus,
            registry,
            listener,
            instance_id,
        })
    }

    /// The service's database, for its own migrations and private tables.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn runner(&self) -> CommandRunner {
        CommandRunner::new(self.store.clone())
            .with_conflict_retries(self.settings.commands.conflict_retries)
    }

    /// Where `/health/*` and `/metrics` are served.
    pub fn http_address(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Runs the relay, the local-copy consumer, the HTTP endpoints and the command consumers
    /// until `shutdown`; then lets commands in flight finish, deregisters and disconnects.
    pub async fn serve<S: CommandService>(
        self,
        service: S,
        shutdown: CancellationToken,
    ) -> Result<(), HostError> {
        let runner = self.runner();
        let Self {
            options,
            settings,
            pool,
            store,
            bus,
            registry,
            listener,
            instance_id,
        } = self;
        let address = settings
            .discovery
            .advertise_address(listener.local_addr()?.port());

        // Background parts stop on their own token, after the command consumers have drained.
        let background = CancellationToken::new();
        let mut tasks = tokio::task::JoinSet::new();
        let replies = crate::replies::router(store.clone());
        let relay = Relay::new(
            store,
            Publisher::new(bus.clone()),
            RelayConfig::new(options.service, bus.names().events_exchange()),
        );
        tasks.spawn(relay.run(background.clone()));
        if options.local_copies {
            let (bus, pool, stop) = (bus.clone(), pool.clone(), background.clone());
            tasks.spawn(async move {
                if let Err(error) = local_copies::run(bus, pool, options.service, stop).await {
                    warn!(%error, "the local-copy consumer stopped");
                }
            });
        }
        let router =
            service_kit::health::router(readiness(&pool, &bus), service_kit::metrics::install())
                .merge(replies);
        let http_stop = background.clone();
        tasks.spawn(async move {
            if let Err(error) = service_kit::http::serve(listener, router, http_stop).await {
                warn!(%error, "the HTTP endpoints stopped");
            }
        });
        let registration = registry
            .register(
                InstanceInfo {
                    service: options.service.to_owned(),
                    instance_id: instance_id.clone(),
                    address: address.clone(),
                    version: options.version.to_owned(),
                    started_at: OffsetDateTime::now_utc(),
                    config_version: None,
                },
                &settings.discovery,
            )
            .await;
        info!(service = options.service, %instance_id, %address, "serving commands");

        let config = ServeConfig {
            workers: settings.commands.workers,
            max_attempts: settings.commands.max_attempts,
        };
        // The dynamic configuration is followed for as long as commands are served.
        let follower =
            dynamic_config::Follower::new(&settings.rabbitmq, &settings.redis, &instance_id);
        let served = follower
            .run_while(
                &registration,
                serve(bus.clone(), runner, Arc::new(service), config, shutdown),
            )
            .await;

        if let Err(error) = registration.deregister().await {
            warn!(%error, "could not deregister; the entry expires with its TTL");
        }
        background.cancel();
        while tasks.join_next().await.is_some() {}
        bus.shutdown().await;
        pool.close().await;
        info!(service = options.service, %instance_id, "stopped");
        Ok(served?)
    }
}

/// Ready when the database answers and the broker connection is up.
fn readiness(pool: &PgPool, bus: &Bus) -> Readiness {
    let readiness = Readiness::new();
    readiness.add_postgres_check(pool);
    let bus = bus.clone();
    readiness.add_connection_check("rabbitmq", move || bus.is_connected());
    readiness
}

/// A command service's whole `main`: settings (the embedded defaults, then files and
/// `WAYPOINT__*` variables), logs and traces, [`Host::start`], the service's own set-up in
/// `build`, and [`Host::serve`] until Ctrl-C or SIGTERM, then the last spans out.
pub async fn main<S, B>(
    options: HostOptions,
    embedded_settings: &'static str,
    build: B,
) -> std::process::ExitCode
where
    S: CommandService,
    B: AsyncFnOnce(&Host, &ConfigSources) -> Result<S, HostError>,
{
    let sources = ConfigSources::from_env(embedded_settings);
    let settings: Result<HostSettings, _> = service_kit::settings::load(&sources);
    // Settings that cannot be read still get their error logged, with the default telemetry.
    let telemetry = Telemetry::init(
        options.service,
        &settings
            .as_ref()
            .map(|settings| settings.telemetry.clone())
            .unwrap_or_default(),
    );
    let outcome = async {
        let host = Host::start(settings?, options).await?;
        let service = build(&host, &sources).await?;
        let shutdown = CancellationToken::new();
        service_kit::shutdown::cancel_on_signal(shutdown.clone());
        host.serve(service, shutdown).await
    }
    .await;
    let code = match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(service = options.service, %error, "the service stopped with an error");
            std::process::ExitCode::FAILURE
        }
    };
    telemetry.shutdown();
    code
}
