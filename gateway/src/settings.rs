//! The gateway's settings: the embedded `config/default.toml`, then files, then `WAYPOINT__*`
//! variables (see `service_kit::settings`).

use serde::Deserialize;
use service_kit::settings::{HttpSettings, RabbitMqSettings, RedisSettings};
use service_kit::telemetry::TelemetrySettings;

use crate::auth::AuthSettings;
use crate::proxy::{BreakerSettings, StaleSettings, UpstreamSettings};
use crate::rate_limit::RateLimitSettings;

/// The embedded defaults: every address on this machine's default ports.
pub const DEFAULT_SETTINGS: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct GatewaySettings {
    pub http: HttpSettings,
    pub rabbitmq: RabbitMqSettings,
    pub redis: RedisSettings,
    pub commands: CommandSettings,
    pub auth: AuthSettings,
    pub rate_limit: RateLimitSettings,
    pub upstreams: UpstreamSettings,
    pub breaker: BreakerSettings,
    pub stale: StaleSettings,
    pub limits: BodyLimits,
    pub cors: CorsSettings,
    /// Where photos are kept: the same values as the members and reviews services', which
    /// check owners there.
    pub photos: photo_store::PhotoSettings,
    #[serde(default)]
    pub telemetry: TelemetrySettings,
}

/// How commands are sent and followed.
#[derive(Debug, Clone, Deserialize)]
pub struct CommandSettings {
    /// How long a request waits for the reply before answering 202 Accepted.
    pub reply_timeout_ms: u64,
    /// How long an accepted command can be looked up at `GET /api/v1/commands/{id}`.
    pub status_ttl_s: u64,
}

/// The largest bodies accepted; larger ones get 413 before they are read to the end.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct BodyLimits {
    pub json_bytes: usize,
    pub photo_bytes: usize,
}

/// Which browser origins may call the API.
#[derive(Debug, Clone, Deserialize)]
pub struct CorsSettings {
    pub allowed_origins: Vec<String>,
}
