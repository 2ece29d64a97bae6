//! Queries: proxied to projection instances found through discovery, balanced, guarded by a
//! breaker per upstream, with the last good response as fallback.
//!
//! # Layout
//!
//! - `routes.rs`: the query routes and their OpenAPI description; `params.rs`: each route's
//!   query parameters; `schemas.rs`: the documented shapes of the read models' answers.
//! - `forward.rs`: one query on its way: the upstream path, the forwarded parameters and
//!   headers, the client's and the session's consistency tokens, the answer or its fallback.
//! - `discovery.rs`: each upstream's instances, from the Redis registry refreshed in the
//!   background, or from DNS names.
//! - `upstream.rs`: one upstream's instances, balancer, breaker and retry budget, and the
//!   call: one try per instance with its timeout, at most one retry.
//! - `balancer.rs`, `breaker.rs`, `budget.rs`: round-robin with passive ejection, the circuit
//!   breaker and the retry budget, each a pure state machine with the time passed in.
//! - `stale.rs`: the last good response per upstream path in Redis, written off the request
//!   path, and served marked stale when the upstream cannot answer.
//!
//! # Invariants
//!
//! - Requests never wait for discovery: they read the instance list the background refresh
//!   last wrote.
//! - Only GETs are proxied, so a failed try may be repeated once on another instance.
//! - Only responses that do not depend on the caller are stored for fallback.
//!
//! # Metrics
//!
//! `gateway_breaker_state{upstream}` (0 closed, 1 half-open, 2 open),
//! `gateway_upstream_calls_total{upstream,outcome}` (`success`, `slow`, `failure`, or
//! `rejected` by an open breaker), `gateway_upstream_tries_total{upstream,instance,outcome}`
//! (`ok`, `error`, `timeout`, `server_error`), `gateway_upstream_retries_total{upstream}`,
//! `gateway_stale_responses_total{upstream}`.

mod balancer;
mod breaker;
mod budget;
mod discovery;
mod forward;
mod params;
mod routes;
mod schemas;
mod stale;
mod upstream;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use redis::aio::ConnectionManager;
use serde::Deserialize;
use service_kit::discovery::Registry;
use tokio_util::sync::DropGuard;

pub use routes::router;

use crate::error::ApiError;
use stale::StaleStore;
use upstream::{Caller, Outgoing, Upstream};

/// The services queries and command status lookups go to. Projections register in discovery
/// under their model's name, command services under theirs.
const UPSTREAMS: [&str; 8] = [
    "review-feed",
    "place-directory",
    "member-profile",
    "top-reviewers",
    "members",
    "places",
    "reviews",
    "ratings",
];

/// Whether a read model had caught up with the request's consistency tokens (`fresh` or
/// `stale`), as the read models answer it.
const FRESHNESS_HEADER: HeaderName = HeaderName::from_static("waypoint-freshness");

/// The `[upstreams]` section.
#[derive(Debug, Clone, Deserialize)]
pub struct UpstreamSettings {
    pub discovery: DiscoveryMode,
    /// How often the instance lists are read from the registry.
    pub refresh_ms: u64,
    /// How long one try may take, the body included.
    pub try_timeout_ms: u64,
    /// Retries may be at most this share of an upstream's recent requests.
    pub retry_budget_ratio: f64,
    /// How long a failing instance is skipped.
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

/// The `[breaker]` section; hot-reloadable through [`Proxy::set_breaker`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BreakerSettings {
    /// How many of the latest calls are judged.
    pub window: u32,
    /// Fewer calls than this in the window never open the breaker.
    pub minimum_calls: u32,
    pub failure_rate: f64,
    /// A call at least this long counts as slow.
    pub slow_call_ms: u64,
    pub slow_call_rate: f64,
    /// How long an open breaker refuses calls before it lets a probe through.
    pub open_ms: u64,
}

impl BreakerSettings {
    /// Thresholds that can never open the breaker, or always do, are refused.
    pub fn validate(&self) -> Result<(), InvalidSettings> {
        let rate = |rate: f64| rate > 0.0 && rate <= 1.0;
        let problem = if self.window == 0 {
            "breaker.window must be at least 1"
        } else if self.minimum_calls == 0 || self.minimum_calls > self.window {
            "breaker.minimum_calls must be between 1 and breaker.window"
        } else if !rate(self.failure_rate) {
            "breaker.failure_rate must be above 0 and at most 1"
        } else if !rate(self.slow_call_rate) {
            "breaker.slow_call_rate must be above 0 and at most 1"
        } else if self.open_ms == 0 {
            "breaker.open_ms must be above 0"
        } else {
            return Ok(());
        };
        Err(InvalidSettings(problem))
    }
}

/// The `[stale]` section.
#[derive(Debug, Clone, Deserialize)]
pub struct StaleSettings {
    /// How long a last good response is kept for fallback.
    pub ttl_s: u64,
}

/// Settings the proxy cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSettings(&'static str);

/// Queries to the read models, and GETs to the command services.
#[derive(Debug)]
pub struct Proxy {
    upstreams: HashMap<&'static str, Arc<Upstream>>,
    caller: Caller,
    stale: StaleStore,
    /// Stops the background refresh of the instance lists when the proxy goes.
    _refresh: Option<DropGuard>,
}

impl Proxy {
    /// Checks the settings, reads the instance lists once (so the first requests find
    /// instances) and keeps them fresh in the background.
    pub async fn new(
        upstreams: &UpstreamSettings,
        breaker: &BreakerSettings,
        stale: &StaleSettings,
        registry: Registry,
        redis: ConnectionManager,
        key_prefix: &str,
    ) -> anyhow::Result<Self> {
        breaker.validate()?;
        let ratio = upstreams.retry_budget_ratio;
        if !(0.0..=1.0).contains(&ratio) {
            return Err(InvalidSettings("upstreams.retry_budget_ratio must be from 0 to 1").into());
        }
        let try_timeout = Duration::from_millis(upstreams.try_timeout_ms.max(1));
        // The breaker gauges are set as the upstreams are made: the recorder must exist first.
        service_kit::metrics::install();
        let table: HashMap<&'static str, Arc<Upstream>> = UPSTREAMS
            .into_iter()
            .map(|name| (name, Arc::new(Upstream::new(name, breaker.clone(), ratio))))
            .collect();
        let refresh = match upstreams.discovery {
            DiscoveryMode::Dns => {
                discovery::from_dns(table.values(), &upstreams.dns);
                None
            }
            DiscoveryMode::Redis => {
                let all: Vec<Arc<Upstream>> = table.values().cloned().collect();
                discovery::refresh(&registry, &all).await;
                let every = Duration::from_millis(upstreams.refresh_ms.max(1));
                Some(discovery::keep_refreshing(registry, all, every))
            }
        };
        let client = reqwest::Client::builder()
            .connect_timeout(try_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            upstreams: table,
            caller: Caller {
                client,
                try_timeout,
                ejection: Duration::from_millis(upstreams.ejection_ms),
            },
            stale: StaleStore::new(redis, key_prefix, Duration::from_secs(stale.ttl_s.max(1))),
            _refresh: refresh,
        })
    }

    /// New breaker thresholds for every upstream, applied to the live breakers.
    pub fn set_breaker(&self, settings: BreakerSettings) -> Result<(), InvalidSettings> {
        settings.validate()?;
        for upstream in self.upstreams.values() {
            upstream.set_breaker(settings.clone());
        }
        Ok(())
    }

    /// A GET to one of `service`'s instances, without stale fallback: the status and body.
    pub async fn fetch(&self, service: &str, path: &str) -> Result<(StatusCode, Bytes), ApiError> {
        let upstream = self.upstream(service)?;
        let outgoing = Outgoing {
            path_and_query: path.to_owned(),
            headers: HeaderMap::new(),
        };
        match upstream.call(&self.caller, &outgoing).await {
            Ok(answer) => Ok((answer.status, answer.body)),
            // Failed tries are logged where they fail; the client learns only that none answered.
            Err(_) => Err(ApiError::Unavailable(format!(
                "{service} cannot answer now"
            ))),
        }
    }

    fn upstream(&self, service: &str) -> Result<&Arc<Upstream>, ApiError> {
        self.upstreams
            .get(service)
            .ok_or_else(|| ApiError::Unavailable(format!("no upstream called {service}")))
    }
}

/// A lock whose holder panicked still guards consistent data here (every critical section
/// is a few assignments), so the poison is ignored rather than spread.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> BreakerSettings {
        BreakerSettings {
            window: 20,
            minimum_calls: 10,
            failure_rate: 0.5,
            slow_call_ms: 1_000,
            slow_call_rate: 0.8,
            open_ms: 5_000,
        }
    }

    #[test]
    fn the_default_breaker_settings_are_valid() {
        assert_eq!(settings().validate(), Ok(()));
    }

    #[test]
    fn breaker_settings_that_cannot_work_are_refused() {
        let bad = [
            BreakerSettings {
                window: 0,
                ..settings()
            },
            BreakerSettings {
                minimum_calls: 21,
                ..settings()
            },
            BreakerSettings {
                minimum_calls: 0,
                ..settings()
            },
            BreakerSettings {
                failure_rate: 0.0,
                ..settings()
            },
            BreakerSettings {
                slow_call_rate: 1.5,
                ..settings()
            },
            BreakerSettings {
                failure_rate: f64::NAN,
                ..settings()
            },
            BreakerSettings {
                open_ms: 0,
                ..settings()
            },
        ];
        for settings in bad {
            assert!(settings.validate().is_err(), "{settings:?}");
        }
    }
}
