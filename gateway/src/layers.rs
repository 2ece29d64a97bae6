//! The layers around every route: request ids, trace context, security headers, CORS,
//! per-route metrics, and problem+json for unknown routes.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use service_kit::telemetry;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::{Instrument, Span};

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

/// The request's `http.server` span, continuing a valid incoming `traceparent` (otherwise a
/// new trace starts). Commands and proxied queries carry this span's `traceparent` onwards in
/// the request's header, and the response returns it.
pub async fn trace_context(mut request: Request, next: Next) -> Response {
    let incoming = request
        .headers()
        .get(&TRACEPARENT)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let span = server_span(&request);
    telemetry::set_parent(&span, incoming.as_deref());
    let traceparent = telemetry::traceparent(&span)
        .unwrap_or_else(|| telemetry::untraced_child(incoming.as_deref()));
    let Ok(traceparent) = HeaderValue::try_from(traceparent) else {
        return next.run(request).instrument(span).await;
    };
    request
        .headers_mut()
        .insert(TRACEPARENT, traceparent.clone());
    let mut response = next.run(request).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    response.headers_mut().insert(TRACEPARENT, traceparent);
    response
}

/// Named after the method and the matched route (`POST /api/v1/places`), never the raw path.
fn server_span(request: &Request) -> Span {
    let method = request.method().as_str();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let name = route.map_or_else(|| method.to_owned(), |route| format!("{method} {route}"));
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "http.server",
        otel.name = %name,
        otel.kind = "server",
        http.request.method = method,
        http.route = route.unwrap_or_default(),
        http.response.status_code = tracing::field::Empty,
        request_id,
    )
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
    use axum::Router;
    use axum::body::Body;
    use axum::http::HeaderMap;
    use axum::middleware::from_fn;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    const INCOMING: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /// The traceparent the route saw, and the one the answer carries.
    async fn traceparents(incoming: Option<&str>) -> (String, String) {
        let app = Router::new()
            .route(
                "/places/{id}",
                get(|headers: HeaderMap| async move {
                    headers[&TRACEPARENT].to_str().unwrap().to_owned()
                }),
            )
            .layer(from_fn(trace_context));
        let mut request = Request::builder().uri("/places/7");
        if let Some(incoming) = incoming {
            request = request.header(&TRACEPARENT, incoming);
        }
        let response = app
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let answered = response.headers()[&TRACEPARENT]
            .to_str()
            .unwrap()
            .to_owned();
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        (String::from_utf8(body.to_vec()).unwrap(), answered)
    }

    #[tokio::test]
    async fn the_request_continues_the_callers_trace_and_passes_its_own_span_on() {
        let (seen, answered) = traceparents(Some(INCOMING)).await;
        assert_eq!(seen, answered, "what goes on is what the caller is told");
        assert!(
            answered.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{answered}"
        );
        assert_ne!(answered, INCOMING, "this hop has a span of its own");
    }

    #[tokio::test]
    async fn a_request_without_a_valid_traceparent_starts_a_trace() {
        for incoming in [None, Some("00-xyz-00f067aa0ba902b7-01")] {
            let (seen, answered) = traceparents(incoming).await;
            assert_eq!(seen, answered);
            let parts: Vec<&str> = answered.split('-').collect();
            assert_eq!(parts.len(), 4, "{answered}");
            assert_eq!((parts[0], parts[1].len(), parts[2].len()), ("00", 32, 16));
            assert_ne!(parts[1], "4bf92f3577b34da6a3ce929d0e0e4736");
        }
    }
}
