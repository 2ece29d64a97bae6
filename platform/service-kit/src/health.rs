//! Liveness, readiness and the Prometheus scrape endpoint.
//!
//! - `GET /health/live`: 200 `{"status":"ok"}` while the process serves HTTP at all.
//! - `GET /health/ready`: runs every check concurrently, each bounded by [`CHECK_TIMEOUT`];
//!   200 `{"status":"ready","checks":{"postgres":{"ok":true}}}` when all pass, otherwise 503
//!   `{"status":"not_ready","checks":{"postgres":{"ok":false,"error":"..."}}}`. A check may add
//!   `"detail"` (any JSON) to its entry, passing or not — lag, a degraded dependency — so new
//!   fields join the shape without breaking readers.
//! - `GET /metrics`: the Prometheus text exposition.

use crate::metrics::MetricsHandle;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use futures::future::BoxFuture;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// How long one readiness check may take before it counts as failed. Shorter than a typical
/// probe timeout, so a hanging dependency yields a 503 that names it rather than no answer.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The content type of the Prometheus text format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// The outcome of one readiness check, as it appears under `checks.<name>`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

impl CheckResult {
    pub fn passed() -> Self {
        Self {
            ok: true,
            error: None,
            detail: None,
        }
    }

    pub fn failed(error: impl Into<String>) -> Self {
        Self {
            ok: false,
            error: Some(error.into()),
            detail: None,
        }
    }

    /// Adds detail (e.g. `{"degraded": true, "lag_events": 1200}`) without changing `ok`.
    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

impl From<Result<(), String>> for CheckResult {
    fn from(result: Result<(), String>) -> Self {
        match result {
            Ok(()) => Self::passed(),
            Err(error) => Self::failed(error),
        }
    }
}

/// Overall readiness: ready only when every check passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadinessStatus {
    Ready,
    NotReady,
}

/// The body of `GET /health/ready`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadinessReport {
    pub status: ReadinessStatus,
    pub checks: BTreeMap<String, CheckResult>,
}

type Check = Arc<dyn Fn() -> BoxFuture<'static, CheckResult> + Send + Sync>;

/// The named checks that decide whether an instance should get traffic. Clones share the
/// checks, so a service can add one after the router is built (e.g. once its relay started).
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Arc<RwLock<BTreeMap<String, Check>>>,
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let checks = self.checks.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Readiness")
            .field("checks", &checks.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the check called `name`; `Err` carries what is wrong.
    pub fn add_check<F, Fut>(&self, name: impl Into<String>, check: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.add_detailed_check(name, move || {
            let outcome = check();
            async move { CheckResult::from(outcome.await) }
        });
    }

    /// Adds (or replaces) a check that reports a full [`CheckResult`], detail included.
    pub fn add_detailed_check<F, Fut>(&self, name: impl Into<String>, check: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = CheckResult> + Send + 'static,
    {
        let check: Check = Arc::new(move || Box::pin(check()));
        self.checks
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.into(), check);
    }

    /// Adds `postgres`: the database answers a trivial query.
    pub fn add_postgres_check(&self, pool: &sqlx::PgPool) {
        let pool = pool.clone();
        self.add_check("postgres", move || {
            let pool = pool.clone();
            async move {
                sqlx::query("SELECT 1")
                    .execute(&pool)
                    .await
                    .map(|_| ())
                    .map_err(|error| error.to_string())
            }
        });
    }

    /// Adds `name` for a connection that reconnects by itself (the broker): ready while it is up.
    pub fn add_connection_check<F>(&self, name: impl Into<String>, is_connected: F)
    where
        F: Fn() -> bool + Send + Sync + 'static,
    {
        self.add_check(name, move || {
            let connected = is_connected();
            async move {
                if connected {
                    Ok(())
                } else {
                    Err("not connected; reconnecting".to_owned())
                }
            }
        });
    }

    /// Runs every check concurrently, each with [`CHECK_TIMEOUT`].
    pub async fn report(&self) -> ReadinessReport {
        let checks: Vec<(String, Check)> = self
            .checks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(name, check)| (name.clone(), Arc::clone(check)))
            .collect();
        let results =
            futures::future::join_all(checks.into_iter().map(|(name, check)| async move {
                // A task of its own: a panicking check fails itself, not the whole endpoint.
                let outcome = tokio::spawn(tokio::time::timeout(CHECK_TIMEOUT, check())).await;
                let result = match outcome {
                    Ok(Ok(result)) => result,
                    Ok(Err(_elapsed)) => {
                        CheckResult::failed(format!("timed out after {CHECK_TIMEOUT:?}"))
                    }
                    Err(join_error) => {
                        CheckResult::failed(format!("the check failed: {join_error}"))
                    }
                };
                (name, result)
            }))
            .await;
        let status = if results.iter().all(|(_, result)| result.ok) {
            ReadinessStatus::Ready
        } else {
            ReadinessStatus::NotReady
        };
        ReadinessReport {
            status,
            checks: results.into_iter().collect(),
        }
    }
}

#[derive(Clone)]
struct HealthState {
    readiness: Readiness,
    metrics: MetricsHandle,
}

/// `/health/live`, `/health/ready` and `/metrics`, to merge into a service's router.
pub fn router(readiness: Readiness, metrics: MetricsHandle) -> Router {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(render_metrics))
        .with_state(HealthState { readiness, metrics })
}

async fn live() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn ready(State(state): State<HealthState>) -> impl IntoResponse {
    let report = state.readiness.report().await;
    let status = match report.status {
        ReadinessStatus::Ready => StatusCode::OK,
        ReadinessStatus::NotReady => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(report))
}

async fn render_metrics(State(state): State<HealthState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)],
        state.metrics.render(),
    )
}
