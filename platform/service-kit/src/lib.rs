//! The run-time pieces every Waypoint service (command services, projections, gateway) shares.
//!
//! # Layout
//! - [`settings`]: typed, layered configuration (embedded default → files → `WAYPOINT__*`
//!   variables → overrides) and the shared sections, whose `Debug` hides passwords.
//! - [`database`]: a pool on a service's own database, created on first start.
//! - [`discovery`]: the instance registry in Redis (heartbeats with a TTL); its module docs fix
//!   the key layout the gateway and the CLI read.
//! - [`health`]: readiness checks and the router for `/health/live`, `/health/ready` and
//!   `/metrics`.
//! - [`metrics`]: the process-wide Prometheus recorder behind the `metrics` macros.
//! - [`telemetry`]: the process's subscriber: logs, and OpenTelemetry traces exported over OTLP
//!   when configured; W3C `traceparent` strings to and from spans.
//! - [`logging`]: JSON (or text) logs on stderr with trace ids, filtered by `RUST_LOG` or the
//!   dynamic configuration.
//! - [`http`]: binding (port 0 for any free port) and serving with graceful shutdown.
//! - [`shutdown`]: Ctrl-C and SIGTERM cancel a `CancellationToken`.
//!
//! A service's `main` reads as: `settings::load(&ConfigSources::from_env(include_str!(..)))`,
//! `telemetry::Telemetry::init`, `metrics::install()`, `http::bind`, build its router merged
//! with `health::router`, `discovery::Registry::register`, `shutdown::cancel_on_signal`,
//! `http::serve`, and on the way out `Registration::deregister` and `Telemetry::shutdown`.

pub mod database;
pub mod discovery;
pub mod health;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod settings;
pub mod shutdown;
pub mod telemetry;

/// A unique id for one instance of `service`: the name and a short random suffix
/// (`reviews-3f2a9c1d`), readable in logs and in the registry.
pub fn instance_id(service: &str) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{service}-{}", &random[..8])
}
