//! Queries: proxied to projection instances found through discovery, balanced, guarded by a
//! breaker per upstream, with the last good response as fallback.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::http::StatusCode;
use redis::aio::ConnectionManager;
use serde::Deserialize;
use service_kit::discovery::Registry;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::state::AppState;

/// The `[upstreams]` section.
#[derive(Debug, Clone, Deserialize)]
pub struct UpstreamSettings {
    pub discovery: DiscoveryMode,
    pub refresh_ms: u64,
    pub try_timeout_ms: u64,
    pub retry_budget_ratio: f64,
    pub ejection_ms: u64,
    /// Each service's address in DNS mode.
    pub dns: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscoveryMode {
    Redis,
    Dns,
}

/// The `[breaker]` section.
#[derive(Debug, Clone, Deserialize)]
pub struct BreakerSettings {
    pub window: u32,
    pub minimum_calls: u32,
    pub failure_rate: f64,
    pub slow_call_ms: u64,
    pub slow_call_rate: f64,
    pub open_ms: u64,
}

/// The `[stale]` section.
#[derive(Debug, Clone, Deserialize)]
pub struct StaleSettings {
    pub ttl_s: u64,
}

#[derive(Debug)]
pub struct Proxy {}

impl Proxy {
    pub async fn new(
        _upstreams: &UpstreamSettings,
        _breaker: &BreakerSettings,
        _stale: &StaleSettings,
        _registry: Registry,
        _redis: ConnectionManager,
        _key_prefix: &str,
    ) -> anyhow::Result<Self> {
        Ok(Self {})
    }

    /// A GET to one of `service`'s instances, without stale fallback: the status and body.
    pub async fn fetch(&self, service: &str, _path: &str) -> Result<(StatusCode, Bytes), ApiError> {
        Err(ApiError::Unavailable(format!("no instance of {service}")))
    }
}

/// The query routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
