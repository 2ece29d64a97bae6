//! The layers around every route: request ids, trace context, security headers, CORS,
//! per-route metrics, and problem+json for unknown routes.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::consistency::CONSISTENCY_HEADER;
use crate::error::ApiError;
use crate::settings::CorsSettings;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Headers every answer carries: an API never renders in a page, never sniffs, never refers.
pub const SECURITY_HEADERS: [(HeaderName, HeaderValue); 5] = [
    (
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    ),
    (
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    ),
    (
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=63072000; includeSubDomains"),
    ),
];

/// CORS for the configured origins only; none configured allows none.
pub fn cors(settings: &CorsSettings) -> CorsLayer {
    let origins: Vec<HeaderValue> = settings
        .allowed_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
            CONSISTENCY_HEADER,
            REQUEST_ID,
            TRACEPARENT,
        ])
        .expose_headers([
            header::LOCATION,
            header::RETRY_AFTER,
            CONSISTENCY_HEADER,
            HeaderName::from_static("x-waypoint-stale"),
            HeaderName::from_static("ratelimit-limit"),
            HeaderName::from_static("ratelimit-remaining"),
            HeaderName::from_static("ratelimit-reset"),
            REQUEST_ID,
            TRACEPARENT,
        ])
}

/// Keeps a client's `X-Request-Id` (if it is a sane token) or makes one, and returns it.
pub async fn request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .filter(|value| value.len() <= 128 && value.as_bytes().iter().all(|b| b.is_ascii_graphic()))
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::try_from(uuid::Uuid::new_v4().to_string())
                .unwrap_or(HeaderValue::from_static("unknown"))
        });
    request.headers_mut().insert(REQUEST_ID, id.clone());
    let mut response = next.run(request).await;
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

/// W3C trace context in and out: a valid incoming `traceparent` continues its trace with a
/// new span id for this hop; otherwise a new trace starts. Commands and proxied queries carry
/// the request's header onwards, and the response returns it.
pub async fn trace_context(mut request: Request, next: Next) -> Response {
    let incoming = request
        .headers()
        .get(&TRACEPARENT)
        .and_then(|value| value.to_str().ok())
        .and_then(trace_id_of);
    let traceparent = child_traceparent(incoming.as_deref());
    if let Ok(value) = HeaderValue::try_from(traceparent) {
        request.headers_mut().insert(TRACEPARENT, value.clone());
        let mut response = next.run(request).await;
        response.headers_mut().insert(TRACEPARENT, value);
        return response;
    }
    next.run(request).await
}

/// The trace id of a well-formed version-00 `traceparent`.
fn trace_id_of(traceparent: &str) -> Option<String> {
    let mut parts = traceparent.split('-');
    let (Some("00"), Some(trace_id), Some(span_id), Some(flags), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    let valid = hex(trace_id, 32)
        && hex(span_id, 16)
        && hex(flags, 2)
        && trace_id.bytes().any(|b| b != b'0')
        && span_id.bytes().any(|b| b != b'0');
    valid.then(|| trace_id.to_ascii_lowercase())
}

fn child_traceparent(trace_id: Option<&str>) -> String {
    let mut rng = rand::rng();
    let trace_id = trace_id.map_or_else(
        || {
            format!(
                "{:032x}",
                u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())
            )
        },
        str::to_owned,
    );
    let span_id = format!("{:016x}", rng.next_u64().max(1));
    format!("00-{trace_id}-{span_id}-01")
}

/// Requests and their latency per route (the matched template, never the raw path, so ids
/// do not explode the series).
pub async fn route_metrics(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("route", route), ("method", method), ("status", status)];
    metrics::counter!("gateway_http_requests_total", &labels).increment(1);
    metrics::histogram!("gateway_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Unknown routes answer problem+json too.
pub async fn not_found() -> Response {
    ApiError::NotFound("no such route".to_owned()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_traceparent_keeps_its_trace() {
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let trace_id = trace_id_of(incoming).unwrap();
        let child = child_traceparent(Some(&trace_id));
        assert!(child.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert_ne!(child, incoming);
    }

    #[test]
    fn malformed_traceparents_start_a_new_trace() {
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-xyz-00f067aa0ba902b7-01",
        ] {
            assert_eq!(trace_id_of(bad), None, "{bad}");
        }
        let fresh = child_traceparent(None);
        assert!(trace_id_of(&fresh).is_some());
    }
}
