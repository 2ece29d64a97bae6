//! The gateway: the only public entry point. REST under `/api/v1`, authentication, commands
//! over the bus, queries proxied to the read models, photos, OpenAPI.
//!
//! # Layout
//!
//! - `app.rs`: [`Application`] (build, bind, run: registered in discovery as `gateway`,
//!   following the dynamic configuration's rate limits, breaker thresholds, reply timeout and
//!   log filter) and [`app`], the router with its layers.
//! - `settings.rs`: the typed settings; `config/default.toml` holds the defaults.
//! - `error.rs`: [`ApiError`], the one error type, as RFC 9457 problem+json.
//! - `json.rs`, `path.rs`: extractors whose rejections speak problem+json.
//! - `layers.rs`: request ids, the `http.server` span and trace context, security headers,
//!   CORS, route metrics.
//! - `auth/`: access tokens, JWKS, sessions, refresh tokens, login throttling, `/auth/*`.
//! - `commands/`: envelopes, the reply wait, 202 Accepted and `/commands/{id}`.
//! - `routes/`: the command routes, one module per command service.
//! - `proxy/`: query routes, discovery, balancing, breakers, stale fallback.
//! - `consistency.rs`: each session's latest consistency tokens, for read-your-writes.
//! - `rate_limit/`: per-address and per-member limits in Redis (GCRA, one script call).
//! - `photos/`: uploads checked by their bytes, downloads by presigned redirect or stream.
//! - `openapi.rs`: the document's shared parts.
//!
//! # Invariants
//!
//! - Only the gateway knows about tokens: services see the actor inside the command envelope.
//! - Every id in a path is parsed before anything is sent anywhere.
//! - Every route registers its OpenAPI path through `utoipa_axum`, so none is undocumented.

mod app;
pub mod auth;
mod commands;
mod consistency;
mod error;
mod json;
mod layers;
mod openapi;
mod path;
pub mod photos;
pub mod proxy;
pub mod rate_limit;
mod routes;
pub mod settings;
mod state;

pub use app::{API_PREFIX, Application, app, openapi_document};
pub use error::{ApiError, Problem};
pub use settings::{DEFAULT_SETTINGS, GatewaySettings};
pub use state::AppState;

use message_bus::CancellationToken;
use service_kit::settings::ConfigSources;
use service_kit::telemetry::Telemetry;

/// The gateway's whole `main`: settings, logs and traces, build, serve until Ctrl-C or
/// SIGTERM, then the last spans out.
pub async fn main() -> std::process::ExitCode {
    let settings: Result<GatewaySettings, _> =
        service_kit::settings::load(&ConfigSources::from_env(DEFAULT_SETTINGS));
    // Settings that cannot be read still get their error logged, with the default telemetry.
    let telemetry = Telemetry::init(
        "gateway",
        &settings
            .as_ref()
            .map(|settings| settings.telemetry.clone())
            .unwrap_or_default(),
    );
    let outcome = async {
        let application = Application::build(settings?).await?;
        let shutdown = CancellationToken::new();
        service_kit::shutdown::cancel_on_signal(shutdown.clone());
        application.run_until_stopped(shutdown).await
    }
    .await;
    let code = match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(
                error = format!("{error:#}"),
                "the gateway stopped with an error"
            );
            std::process::ExitCode::FAILURE
        }
    };
    telemetry.shutdown();
    code
}
