//! Everything around a read model: its database, its queue, catch-up from the source stores,
//! the live consumer, the query API with `/health/*` and `/metrics`, lag, and discovery.
//!
//! A host serves the model's active generation (see [`crate::generations`]) and follows a
//! switch to another one by itself, queries and live consumer together, without a gap.
//!
//! A projection's `main` is [`main`] with its model and its router; tests use [`Host::start`]
//! and [`Host::serve`] with port 0, a fresh database and prefixed names.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use event_store::EventStore;
use events::Checkpoint;
use message_bus::{Bus, BusConfig, BusError, BusNames, CancellationToken, Topology};
use serde::Deserialize;
use serde_json::json;
use service_kit::database::{DatabaseError, connect_creating};
use service_kit::discovery::{InstanceInfo, Registry};
use service_kit::health::{CheckResult, Readiness};
use service_kit::settings::{
    ConfigSources, DiscoverySettings, HttpSettings, PostgresSettings, RabbitMqSettings,
    RedisSettings,
};
use service_kit::telemetry::{Telemetry, TelemetrySettings};
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::catchup::{self, CatchUpError, catch_up};
use crate::follower::{Follower, RouterFactory};
use crate::generations::{self, Generation, GenerationError};
use crate::query::{AppliedSignal, QueryContext};
use crate::reads::ModelReads;
use crate::serving::{Active, Serving};
use crate::{ReadModel, apply, checkpoints, live};

/// How often lag is measured against the source stores.
const LAG_INTERVAL: Duration = Duration::from_secs(2);
/// Connections on the model's database outside any generation.
const BASE_CONNECTIONS: u32 = 2;
/// Connections on each source store.
const SOURCE_CONNECTIONS: u32 = 2;

/// The settings every projection reads (its `config/default.toml` sets them all).
#[derive(Debug, Clone, Deserialize)]
pub struct ProjectionSettings {
    pub postgres: PostgresSettings,
    pub rabbitmq: RabbitMqSettings,
    pub redis: RedisSettings,
    pub http: HttpSettings,
    pub discovery: DiscoverySettings,
    pub projection: ModelSettings,
    /// Each source service's database on the same server: where catch-up and lag read.
    pub sources: BTreeMap<String, String>,
    #[serde(default)]
    pub telemetry: TelemetrySettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ModelSettings {
    /// The model's own database, created on first start.
    pub database: String,
    /// Events applied per transaction, at most.
    pub batch: u16,
    /// How long a query waits for a client's consistency token before answering stale.
    pub max_wait_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(transparent)]
    Database(#[from] DatabaseError),
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("migrating: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("catching up: {0}")]
    CatchUp(#[from] CatchUpError),
    #[error("connecting to RabbitMQ: {0}")]
    Bus(#[from] BusError),
    #[error("Redis (discovery): {0}")]
    Discovery(#[from] service_kit::discovery::DiscoveryError),
    #[error("HTTP listener: {0}")]
    Http(#[from] std::io::Error),
    #[error("settings: {0}")]
    Settings(#[from] service_kit::settings::SettingsError),
    #[error("consuming: {0}")]
    Consume(#[from] message_bus::ConsumerError),
    #[error("generations: {0}")]
    Generation(#[from] GenerationError),
}

/// A projection with its database migrated, its queue declared and its port bound.
pub struct Host<M> {
    model: Arc<M>,
    settings: ProjectionSettings,
    version: &'static str,
    /// The model's database as such: the generation bookkeeping in `public`.
    base: PgPool,
    /// The active generation when the host started, and its pool.
    generation: Generation,
    pool: PgPool,
    sources: Vec<EventStore>,
    bus: Bus,
    registry: Registry,
    listener: TcpListener,
    instance_id: String,
}

impl<M: ReadModel> std::fmt::Debug for Host<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("model", &M::NAME)
            .field("instance_id", &self.instance_id)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<M: ReadModel> Host<M> {
    pub async fn start(
        settings: ProjectionSettings,
        model: M,
        version: &'static str,
    ) -> Result<Self, HostError> {
        // The bookkeeping, `LISTEN` and the health check need few connections; the
        // generation's own pool gets the configured size.
        let small = PostgresSettings {
            max_connections: BASE_CONNECTIONS,
            ..settings.postgres.clone()
        };
        let base = connect_creating(&small, &settings.projection.database).await?;
        generations::ensure(&base).await?;
        let generation = generations::active(&base).await?;
        let pool =
            generations::connect(&base, &generation, settings.postgres.max_connections).await?;
        crate::migrate(&pool).await?;
        model.migrate(&pool).await?;
        // Catch-up reads a source one page at a time, lag looks every few seconds, and a query
        // asks only when a token is not covered yet: a few connections per source are plenty,
        // and a model reading four sources would otherwise hold four full pools.
        let sources_pool = PostgresSettings {
            max_connections: SOURCE_CONNECTIONS,
            ..settings.postgres.clone()
        };
        let mut sources = Vec::new();
        for (service, database) in &settings.sources {
            // A source that never ran has an empty store. Its migrations are the store's own
            // and idempotent, so whichever of the service and the projection starts first
            // creates it, and catch-up never depends on start order.
            let source = connect_creating(&sources_pool, database).await?;
            let store = EventStore::new(source, service.clone());
            store
                .migrate()
                .await
                .map_err(CatchUpError::from_store(service))?;
            sources.push(store);
        }
        let instance_id = service_kit::instance_id(M::NAME);
        let names = BusNames::with_prefix(settings.rabbitmq.prefix.clone());
        let bus = Bus::connect(BusConfig {
            url: settings.rabbitmq.url.clone(),
            connection_name: instance_id.clone(),
            topology: live::topology::<M>(Topology::new(names.clone())),
            names,
        })
        .await?;
        let registry = Registry::connect(&settings.redis).await?;
        let listener = service_kit::http::bind(&settings.http).await?;
        Ok(Self {
            model: Arc::new(model),
            settings,
            version,
            base,
            generation,
            pool,
            sources,
            bus,
            registry,
            listener,
            instance_id,
        })
    }

    /// The active generation's pool when the host started.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn http_address(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Catches up from the source stores, then applies the queue and serves queries until
    /// `shutdown`, switching to whichever generation is made active meanwhile. `router`
    /// builds the model's query router on a generation's [`QueryContext`], once per
    /// generation served.
    pub async fn serve(
        self,
        router: impl Fn(QueryContext) -> Router + Send + Sync + 'static,
        shutdown: CancellationToken,
    ) -> Result<(), HostError> {
        let Self {
            model,
            settings,
            version,
            base,
            generation,
            pool,
            sources,
            bus,
            registry,
            listener,
            instance_id,
        } = self;
        let caught_up = catch_up(&pool, model.as_ref(), &sources).await?;
        info!(
            model = M::NAME,
            events = caught_up,
            "caught up from the source stores"
        );

        let signal = AppliedSignal::default();
        let router: RouterFactory = {
            let signal = signal.clone();
            let max_wait = Duration::from_millis(settings.projection.max_wait_ms);
            let reads = Arc::new(ModelReads::new(M::EVENT_TYPES, &sources));
            Arc::new(move |pool| {
                router(QueryContext {
                    pool,
                    signal: signal.clone(),
                    max_wait,
                    reads: Some(Arc::clone(&reads)),
                })
            })
        };
        metrics::gauge!("waypoint_projection_generation", "projection" => M::NAME)
            .set(f64::from(generation.number));
        let serving = Serving::new(Active {
            generation,
            router: router(pool.clone()),
            pool,
        });
        let background = CancellationToken::new();
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(measure_lag::<M>(
            serving.clone(),
            sources.clone(),
            background.clone(),
        ));
        tasks.spawn(
            Follower {
                model: Arc::clone(&model),
                base: base.clone(),
                sources: sources.clone(),
                serving: serving.clone(),
                router,
                max_connections: settings.postgres.max_connections,
                instance_id: instance_id.clone(),
            }
            .run(background.clone()),
        );
        let app = serving.app(service_kit::health::router(
            readiness::<M>(&base, &serving, &bus),
            service_kit::metrics::install(),
        ));
        let port = listener.local_addr()?.port();
        let http_stop = background.clone();
        tasks.spawn(async move {
            if let Err(error) = service_kit::http::serve(listener, app, http_stop).await {
                warn!(%error, "the HTTP endpoints stopped");
            }
        });
        let address = settings.discovery.advertise_address(port);
        let registration = registry
            .register(
                InstanceInfo {
                    service: M::NAME.to_owned(),
                    instance_id: instance_id.clone(),
                    address,
                    version: version.to_owned(),
                    started_at: OffsetDateTime::now_utc(),
                    config_version: None,
                },
                &settings.discovery,
            )
            .await;

        let consuming = live::run_serving(
            bus.clone(),
            serving.clone(),
            Arc::clone(&model),
            signal,
            settings.projection.batch,
            shutdown,
        );
        // The dynamic configuration is followed for as long as events are consumed.
        let consumed =
            dynamic_config::Follower::new(&settings.rabbitmq, &settings.redis, &instance_id)
                .run_while(&registration, consuming)
                .await;

        if let Err(error) = registration.deregister().await {
            warn!(%error, "could not deregister; the entry expires with its TTL");
        }
        background.cancel();
        while tasks.join_next().await.is_some() {}
        bus.shutdown().await;
        base.close().await;
        info!(model = M::NAME, %instance_id, "stopped");
        Ok(consumed?)
    }
}

/// Ready when the database answers and the broker is connected; the model's own check
/// reports the generation served, degraded (poison events set aside) and lag without failing
/// readiness: a degraded model still answers every query it can.
fn readiness<M: ReadModel>(base: &PgPool, serving: &Serving, bus: &Bus) -> Readiness {
    let readiness = Readiness::new();
    readiness.add_postgres_check(base);
    let bus = bus.clone();
    readiness.add_connection_check("rabbitmq", move || bus.is_connected());
    let serving = serving.clone();
    readiness.add_detailed_check(M::NAME, move || {
        let active = serving.current();
        async move { model_health(&active.pool, &active.generation).await }
    });
    readiness
}

async fn model_health(pool: &PgPool, generation: &Generation) -> CheckResult {
    let (poisoned, sources) =
        match tokio::try_join!(apply::poisoned_count(pool), checkpoints::all(pool)) {
            Ok(found) => found,
            Err(error) => return CheckResult::failed(error.to_string()),
        };
    let now = OffsetDateTime::now_utc();
    let checkpoints: serde_json::Map<String, serde_json::Value> = sources
        .into_iter()
        .map(|source| {
            let behind = (now - source.recorded_at).as_seconds_f64().max(0.0);
            let value = json!({
                "checkpoint": format!("{}.{}", source.checkpoint.transaction_id, source.checkpoint.position),
                "last_event_age_seconds": behind,
            });
            (source.source, value)
        })
        .collect();
    CheckResult::passed().with_detail(json!({
        "generation": generation.number,
        "schema": generation.schema,
        "degraded": poisoned > 0,
        "poisoned_events": poisoned,
        "sources": checkpoints,
    }))
}

/// Publishes, per source, how many of the model's events the source has committed past the
/// model's checkpoint, and how old the oldest of them is.
async fn measure_lag<M: ReadModel>(
    serving: Serving,
    sources: Vec<EventStore>,
    stop: CancellationToken,
) {
    let types: Vec<String> = M::EVENT_TYPES.iter().map(|t| (*t).to_owned()).collect();
    loop {
        let pool = serving.current().pool.clone();
        match lag::<M>(&pool, &sources, &types).await {
            Ok(()) => {}
            Err(error) => warn!(%error, "could not measure lag"),
        }
        match apply::poisoned_count(&pool).await {
            Ok(poisoned) => {
                metrics::gauge!("waypoint_projection_poisoned_events", "projection" => M::NAME)
                    .set(poisoned as f64);
            }
            Err(error) => warn!(%error, "could not count poison events"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(LAG_INTERVAL) => {}
        }
    }
}

async fn lag<M: ReadModel>(
    pool: &PgPool,
    sources: &[EventStore],
    types: &[String],
) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let applied = checkpoints::load(&mut conn).await?;
    drop(conn);
    for source in sources {
        let after = applied
            .get(source.source())
            .copied()
            .unwrap_or(Checkpoint::ORIGIN);
        let (behind, oldest) = catchup::behind(source, after, types).await?;
        let seconds = oldest.map_or(0.0, |oldest| {
            (OffsetDateTime::now_utc() - oldest)
                .as_seconds_f64()
                .max(0.0)
        });
        let labels = [
            ("projection", M::NAME.to_owned()),
            ("source", source.source().to_owned()),
        ];
        metrics::gauge!("waypoint_projection_lag_events", &labels).set(behind as f64);
        metrics::gauge!("waypoint_projection_lag_seconds", &labels).set(seconds);
    }
    Ok(())
}

/// A projection's whole `main`: settings, logs and traces, [`Host::start`], [`Host::serve`]
/// until Ctrl-C or SIGTERM, then the last spans out.
pub async fn main<M: ReadModel>(
    model: M,
    version: &'static str,
    embedded_settings: &'static str,
    router: impl Fn(QueryContext) -> Router + Send + Sync + 'static,
) -> std::process::ExitCode {
    let settings: Result<ProjectionSettings, _> =
        service_kit::settings::load(&ConfigSources::from_env(embedded_settings));
    // Settings that cannot be read still get their error logged, with the default telemetry.
    let telemetry = Telemetry::init(
        M::NAME,
        &settings
            .as_ref()
            .map(|settings| settings.telemetry.clone())
            .unwrap_or_default(),
    );
    let outcome = async {
        let host = Host::start(settings?, model, version).await?;
        let shutdown = CancellationToken::new();
        service_kit::shutdown::cancel_on_signal(shutdown.clone());
        host.serve(router, shutdown).await
    }
    .await;
    let code = match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(model = M::NAME, %error, "the projection stopped with an error");
            std::process::ExitCode::FAILURE
        }
    };
    telemetry.shutdown();
    code
}
