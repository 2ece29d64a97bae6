//! Querying a model's router in-process, as the gateway would over HTTP.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use projection::query::{AppliedSignal, QueryContext};
use sqlx::PgPool;
use std::time::Duration;
use tower::ServiceExt;

/// What a model's query handlers get in a test: the pool, a signal of its own, `max_wait`.
pub fn query_context(pool: &PgPool, max_wait: Duration) -> QueryContext {
    QueryContext {
        pool: pool.clone(),
        signal: AppliedSignal::default(),
        max_wait,
        reads: None,
    }
}

/// A query's answer: status, headers, and the body as JSON (`Null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
}

pub async fn get(router: &Router, uri: &str) -> Answer {
    get_with(router, Request::get(uri).body(Body::empty()).unwrap()).await
}

pub async fn get_with(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    Answer {
        status,
        headers,
        body,
    }
}
