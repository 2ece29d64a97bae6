//! Building and running the gateway: `Application::build(settings)` connects everything and
//! binds the port, `run_until_stopped` serves until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use axum::routing::get;
use dynamic_config::{Apply, ApplyError, DynamicConfig, Follower};
use message_bus::{Bus, BusConfig, BusNames, CancellationToken, Topology};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use service_kit::discovery::{InstanceInfo, Registry};
use service_kit::health::Readiness;
use service_kit::settings::DiscoverySettings;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::Auth;
use crate::commands::{Dispatcher, StatusStore};
use crate::openapi::ApiDoc;
use crate::photos::Photos;
use crate::proxy::{BreakerSettings, Proxy};
use crate::rate_limit::{RateLimitSettings, RateLimiter};
use crate::settings::GatewaySettings;
use crate::state::AppState;
use crate::{auth, commands, layers, photos, proxy, rate_limit, routes};

/// Every public route is under this prefix.
pub const API_PREFIX: &str = "/api/v1";

/// The gateway with its connections made and its port bound.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
    bus: Bus,
    registry: Registry,
    instance_id: String,
    advertise_host: String,
    follower: Follower,
}

impl Application {
    pub async fn build(settings: GatewaySettings) -> anyhow::Result<Self> {
        let instance_id = service_kit::instance_id("gateway");
        let names = BusNames::with_prefix(settings.rabbitmq.prefix.clone());
        let bus = Bus::connect(BusConfig {
            url: settings.rabbitmq.url.clone(),
            connection_name: instance_id.clone(),
            topology: Topology::new(names.clone()),
            names,
        })
        .await?;
        let redis = redis_connection(&settings).await?;
        let registry = Registry::connect(&settings.redis).await?;
        let prefix = settings.redis.key_prefix.as_str();

        let statuses = StatusStore::new(
            redis.clone(),
            prefix,
            Duration::from_secs(settings.commands.status_ttl_s),
        );
        let state = AppState {
            limits: settings.limits,
            auth: Arc::new(Auth::new(&settings.auth, redis.clone(), prefix).await?),
            commands: Dispatcher::new(
                bus.command_client(),
                statuses,
                Duration::from_millis(settings.commands.reply_timeout_ms),
            ),
            proxy: Arc::new(
                Proxy::new(
                    &settings.upstreams,
                    &settings.breaker,
                    &settings.stale,
                    registry.clone(),
                    redis.clone(),
                    prefix,
                )
                .await?,
            ),
            rate_limiter: Arc::new(RateLimiter::new(&settings.rate_limit, redis, prefix).await?),
            photos: Arc::new(Photos::new(&settings.photos).await?),
        };
        let follower = Follower::new(&settings.rabbitmq, &settings.redis, &instance_id)
            .with(LiveSettings::new(&state, &settings));
        let router = app(state, &settings).merge(operations(&bus));
        let listener = service_kit::http::bind(&settings.http).await?;
        Ok(Self {
            listener,
            router,
            bus,
            registry,
            instance_id,
            advertise_host: settings.http.host.clone(),
            follower,
        })
    }

    pub fn address(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Names this instance in discovery and on its broker connections.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Serves until `shutdown` while following the dynamic configuration, lets requests in
    /// flight finish, deregisters, then disconnects.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            listener,
            router,
            bus,
            registry,
            instance_id,
            advertise_host,
            follower,
        } = self;
        let address = listener.local_addr()?;
        tracing::info!(%address, "gateway serving");
        let discovery = discovery_settings(advertise_host);
        let registration = registry
            .register(
                InstanceInfo {
                    service: "gateway".to_owned(),
                    instance_id,
                    address: discovery.advertise_address(address.port()),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    started_at: OffsetDateTime::now_utc(),
                    config_version: None,
                },
                &discovery,
            )
            .await;
        // Client addresses feed the per-address rate limit and login throttle.
        let serving = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .into_future();
        let served = follower.run_while(&registration, serving).await;
        if let Err(error) = registration.deregister().await {
            tracing::warn!(%error, "could not deregister; the entry expires with its TTL");
        }
        bus.shutdown().await;
        Ok(served?)
    }
}

/// How the gateway announces itself. Its settings have no `[discovery]` section: nothing
/// reaches the gateway through discovery, the entry is there so `waypoint status` lists it
/// with the configuration version it runs.
fn discovery_settings(advertise_host: String) -> DiscoverySettings {
    DiscoverySettings {
        heartbeat_interval_ms: 2_000,
        ttl_ms: 6_000,
        advertise_host,
    }
}

/// The gateway's parts the dynamic configuration changes while it runs.
#[derive(Debug)]
struct LiveSettings {
    rate_limiter: Arc<RateLimiter>,
    proxy: Arc<Proxy>,
    commands: Dispatcher,
    /// What the dynamic configuration leaves as it was at start: the limiter's Redis.
    rate_limit: RateLimitSettings,
}

impl LiveSettings {
    fn new(state: &AppState, settings: &GatewaySettings) -> Self {
        Self {
            rate_limiter: Arc::clone(&state.rate_limiter),
            proxy: Arc::clone(&state.proxy),
            commands: state.commands.clone(),
            rate_limit: settings.rate_limit.clone(),
        }
    }
}

impl Apply for LiveSettings {
    fn apply(&self, config: &DynamicConfig) -> Result<(), ApplyError> {
        let breaker = BreakerSettings {
            window: config.breaker.window,
            minimum_calls: config.breaker.minimum_calls,
            failure_rate: config.breaker.failure_rate,
            slow_call_ms: config.breaker.slow_call_ms,
            slow_call_rate: config.breaker.slow_call_rate,
            open_ms: config.breaker.open_ms,
        };
        // Checked before anything changes, so a refused version leaves every part as it was.
        breaker.validate().map_err(ApplyError::new)?;
        let limits = &config.rate_limit;
        self.rate_limiter
            .set_settings(RateLimitSettings {
                per_ip_per_s: limits.per_ip_per_s,
                per_ip_burst: limits.per_ip_burst,
                per_member_per_s: limits.per_member_per_s,
                per_member_burst: limits.per_member_burst,
                fail_open: limits.fail_open,
                ..self.rate_limit.clone()
            })
            .map_err(ApplyError::new)?;
        self.proxy.set_breaker(breaker).map_err(ApplyError::new)?;
        self.commands
            .set_reply_timeout(Duration::from_millis(config.commands.reply_timeout_ms));
        Ok(())
    }
}

/// The public API with its OpenAPI document: testable without a server.
pub fn app(state: AppState, settings: &GatewaySettings) -> Router {
    let (api, document) = api_router().split_for_parts();
    let document = serde_json::to_vec(&with_prefix(document)).unwrap_or_default();
    let api = api.route(
        "/openapi.json",
        get(move || async move {
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                document.clone(),
            )
                .into_response()
        }),
    );
    let mut router = Router::new()
        .nest(API_PREFIX, api)
        .merge(auth::jwks_router())
        .fallback(layers::not_found)
        .layer(from_fn_with_state(state.clone(), rate_limit::limit))
        .layer(from_fn_with_state(state.clone(), auth::authenticate))
        .layer(from_fn(layers::route_metrics))
        .layer(layers::cors(&settings.cors));
    for (name, value) in layers::SECURITY_HEADERS {
        router = router.layer(SetResponseHeaderLayer::if_not_present(name, value));
    }
    router
        .layer(from_fn(layers::trace_context))
        .layer(from_fn(layers::request_id))
        .with_state(state)
}

/// Every route under [`API_PREFIX`], each registering its own OpenAPI path.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::router())
        .merge(routes::router())
        .merge(proxy::router())
        .merge(photos::router())
        .merge(commands::router())
}

/// The document as served, for tests and tooling.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    with_prefix(api_router().split_for_parts().1)
}

/// Routes register their paths relative to [`API_PREFIX`]; clients need them whole.
fn with_prefix(mut document: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let paths = std::mem::take(&mut document.paths.paths);
    document.paths.paths = paths
        .into_iter()
        .map(|(path, item)| (format!("{API_PREFIX}{path}"), item))
        .collect();
    document
}

/// `/health/*` and `/metrics`, outside the API and its limits.
fn operations(bus: &Bus) -> Router {
    let readiness = Readiness::new();
    let bus = bus.clone();
    readiness.add_connection_check("rabbitmq", move || bus.is_connected());
    service_kit::health::router(readiness, service_kit::metrics::install())
}

async fn redis_connection(settings: &GatewaySettings) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(settings.redis.url.as_str())?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(1);
    Ok(ConnectionManager::new_with_config(client, config).await?)
}
