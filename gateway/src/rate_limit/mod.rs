//! Rate limits per client address and per member, in Redis: GCRA (see `gcra.lua`), both
//! limits of a request decided atomically in one round trip. Every answer carries the IETF
//! draft `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` headers of the tightest
//! limit; a request over it gets 429 `rate_limited` with `Retry-After`. When Redis cannot be
//! asked, `fail_open` decides, and every decision is counted by outcome.

mod limiter;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

pub use limiter::{DECISIONS_METRIC, Decision, InvalidRateLimit, Quota, RateLimiter};

use crate::auth::Identity;
use crate::error::ApiError;
use crate::state::AppState;

pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// The `[rate_limit]` section.
#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitSettings {
    /// Sustained requests per second and burst, per client address (an IPv6 client's /64).
    pub per_ip_per_s: f64,
    pub per_ip_burst: u32,
    /// The same per member, for requests with a valid access token (on top of the address's).
    pub per_member_per_s: f64,
    pub per_member_burst: u32,
    /// When Redis cannot be asked: true lets the request through, false answers 503.
    pub fail_open: bool,
    /// A Redis of the limiter's own (counters are short-lived and need no persistence); unset,
    /// the gateway's `[redis]` is used.
    #[serde(default)]
    pub redis_url: Option<String>,
    /// How long a request waits for its decision before Redis counts as unreachable.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    250
}

/// Refuses a request over its limits with 429; sets `RateLimit-*` on every answer it decided.
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    let member = request
        .extensions()
        .get::<Identity>()
        .map(|identity| identity.member_id);
    match state.rate_limiter.check(client, member).await {
        Decision::Allowed(quota) => {
            let mut response = next.run(request).await;
            write_quota(response.headers_mut(), quota);
            response
        }
        Decision::Limited { quota, retry_after } => {
            let mut response = ApiError::TooManyRequests {
                code: "rate_limited",
                message: "too many requests: wait for the time in Retry-After".to_owned(),
                retry_after,
            }
            .into_response();
            write_quota(response.headers_mut(), quota);
            response
        }
        Decision::FailedOpen | Decision::Unkeyed => next.run(request).await,
        Decision::FailedClosed => {
            ApiError::Unavailable("requests cannot be admitted right now; retry shortly".to_owned())
                .into_response()
        }
    }
}

fn write_quota(headers: &mut HeaderMap, quota: Quota) {
    // Whole seconds, rounded up, as the header defines; 0 would read as "now".
    let reset = quota.reset.as_millis().div_ceil(1000);
    headers.insert(RATELIMIT_LIMIT, HeaderValue::from(quota.limit));
    headers.insert(RATELIMIT_REMAINING, HeaderValue::from(quota.remaining));
    headers.insert(
        RATELIMIT_RESET,
        HeaderValue::from(u64::try_from(reset).unwrap_or(u64::MAX)),
    );
}
