//! Bad input through the real gateway: bodies, content types, ids and routes each get a precise
//! problem, and nothing is sent to a service; and the headers every answer carries.

use std::time::Duration;

use event_store::EventStore;
use events::Checkpoint;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};

use crate::support::{Answer, Service, Session, TestApp, answer, assert_problem};

/// A route that takes JSON and sends a command.
const ADD_PLACE: &str = "/api/v1/places";

fn place() -> Value {
    json!({ "name": "Kaffeeklatsch", "category": "cafe", "address": "Hauptstr. 1" })
}

/// `POST /api/v1/places` with `body` exactly as given.
async fn post_place(app: &TestApp, session: &Session, content_type: &str, body: Vec<u8>) -> Answer {
    let request = app
        .http
        .post(app.url(ADD_PLACE))
        .bearer_auth(&session.access_token)
        .header(CONTENT_TYPE, content_type)
        .body(body);
    answer(request.send().await.unwrap()).await
}

fn json_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

async fn events_in(store: &EventStore) -> usize {
    store.read_all(Checkpoint::ORIGIN, 100).await.unwrap().len()
}

/// Every field error of a problem, as "field: message" lines.
fn field_errors(answer: &Answer) -> Vec<String> {
    answer.body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|error| format!("{}: {}", error["field"], error["message"]))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn malformed_bodies_and_ids_get_precise_problems_and_nothing_reaches_a_service() {
    let mut app = TestApp::new().await;
    app.start_service(Service::Members).await;
    app.start_service(Service::Places).await;
    app.start_gateway().await;
    let session = app.register().await;
    let store = app.store_of(Service::Places).await;
    let mut oversized = place();
    oversized["description"] = "x".repeat(app.settings.limits.json_bytes).into();
    let mut unknown_field = place();
    unknown_field["owner_id"] = "someone-else".into();
    let mut wrong_type = place();
    wrong_type["name"] = 42.into();

    let too_large = post_place(&app, &session, "application/json", json_bytes(&oversized)).await;
    let malformed = post_place(&app, &session, "application/json", b"{\"name\": ".to_vec()).await;
    let not_json = post_place(&app, &session, "text/plain", json_bytes(&place())).await;
    let unknown = post_place(
        &app,
        &session,
        "application/json",
        json_bytes(&unknown_field),
    )
    .await;
    let mistyped = post_place(&app, &session, "application/json", json_bytes(&wrong_type)).await;
    let bad_id = app
        .call(
            Method::PATCH,
            "/api/v1/places/not-a-uuid",
            Some(&session.access_token),
            Some(json!({ "name": "Renamed" })),
        )
        .await;

    assert_problem(&too_large, 413, "payload_too_large");
    assert_problem(&malformed, 400, "bad_request");
    assert!(
        malformed.body["detail"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    assert_problem(&not_json, 415, "unsupported_media_type");
    assert!(
        not_json.body["detail"]
            .as_str()
            .unwrap()
            .contains("application/json")
    );
    assert_problem(&unknown, 422, "validation");
    assert!(
        field_errors(&unknown)
            .iter()
            .any(|error| error.contains("owner_id")),
        "{:?}",
        unknown.body
    );
    assert_problem(&mistyped, 422, "validation");
    assert_eq!(
        mistyped.body["errors"][0]["field"], "name",
        "{:?}",
        mistyped.body
    );
    assert_problem(&bad_id, 400, "bad_request");
    assert_eq!(
        bad_id.body["errors"][0]["field"], "place_id",
        "{:?}",
        bad_id.body
    );
    assert_eq!(
        events_in(&store).await,
        0,
        "a refused request reached the service"
    );
    // The same store does show a request that is sent.
    let added = post_place(&app, &session, "application/json", json_bytes(&place())).await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    testkit::poll::until("the added place is stored", Duration::from_secs(10), || {
        let store = &store;
        async move { (events_in(store).await == 1).then_some(()) }
    })
    .await;
    app.finish().await;
}

#[tokio::test]
async fn an_unknown_route_is_a_problem_too() {
    let mut app = TestApp::new().await;
    app.start_gateway().await;

    let under_the_api = app.get("/api/v1/no-such-thing", None).await;
    let at_the_root = app.get("/no-such-thing", None).await;

    assert_problem(&under_the_api, 404, "not_found");
    assert_problem(&at_the_root, 404, "not_found");
    app.finish().await;
}

fn assert_security_headers(headers: &HeaderMap) {
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
        (
            "strict-transport-security",
            "max-age=63072000; includeSubDomains",
        ),
    ] {
        assert_eq!(
            headers.get(name).map(|v| v.to_str().unwrap()),
            Some(value),
            "{name}"
        );
    }
}

#[tokio::test]
async fn every_answer_has_security_headers_and_a_request_id_kept_or_made() {
    let mut app = TestApp::new().await;
    app.start_gateway().await;
    let get = |request_id: Option<&'static str>| {
        let mut request = app.http.get(app.url("/api/v1/no-such-thing"));
        if let Some(request_id) = request_id {
            request = request.header("x-request-id", request_id);
        }
        async move { answer(request.send().await.unwrap()).await }
    };

    let kept = get(Some("client-chosen-id-42")).await;
    let made = get(None).await;
    let success = app.get("/api/v1/openapi.json", None).await;

    assert_eq!(kept.header("x-request-id"), Some("client-chosen-id-42"));
    let generated = made.header("x-request-id").unwrap();
    assert!(uuid::Uuid::parse_str(generated).is_ok(), "{generated}");
    assert_security_headers(&kept.headers);
    assert_security_headers(&success.headers);
    assert!(success.header("x-request-id").is_some());
    app.finish().await;
}

#[tokio::test]
async fn traceparent_continues_the_callers_trace_or_starts_one() {
    let mut app = TestApp::new().await;
    app.start_gateway().await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let incoming = format!("00-{trace_id}-00f067aa0ba902b7-01");

    let continued = answer(
        app.http
            .get(app.url("/api/v1/openapi.json"))
            .header("traceparent", &incoming)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let started = app.get("/api/v1/openapi.json", None).await;

    let returned = continued.header("traceparent").unwrap();
    assert!(
        returned.starts_with(&format!("00-{trace_id}-")),
        "{returned}"
    );
    assert_ne!(returned, incoming, "this hop has its own span");
    let fresh = started.header("traceparent").unwrap();
    let parts: Vec<&str> = fresh.split('-').collect();
    assert_eq!(parts.len(), 4, "{fresh}");
    assert_eq!(
        (parts[0], parts[1].len(), parts[2].len()),
        ("00", 32, 16),
        "{fresh}"
    );
    assert_ne!(parts[1], trace_id);
    app.finish().await;
}

#[tokio::test]
async fn a_cors_preflight_is_answered_for_allowed_origins_only() {
    let mut app = TestApp::new().await;
    let allowed = "https://app.waypoint.example";
    app.settings.cors.allowed_origins = vec![allowed.to_owned()];
    app.start_gateway().await;
    let preflight = |origin: &'static str| {
        let request = app
            .http
            .request(Method::OPTIONS, app.url(ADD_PLACE))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            );
        async move { answer(request.send().await.unwrap()).await }
    };

    let from_allowed = preflight(allowed).await;
    let from_elsewhere = preflight("https://evil.example").await;

    assert!(
        from_allowed.status.is_success(),
        "{:?}",
        from_allowed.status
    );
    assert_eq!(
        from_allowed.header("access-control-allow-origin"),
        Some(allowed)
    );
    let methods = from_allowed.header("access-control-allow-methods").unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let headers = from_allowed
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(headers.contains("authorization"), "{headers}");
    assert_eq!(from_elsewhere.header("access-control-allow-origin"), None);
    app.finish().await;
}
