//! Commands through the gateway: replies mapped to HTTP, 202 when the service is away and the
//! command applied exactly once when it is back, idempotency keys.

use std::time::Duration;

use events::PlaceId;
use local_copies::KnownPlace;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Answer, Service, Session, TestApp};

/// How long a test waits for a pending command to be applied.
const APPLIED_WITHIN: Duration = Duration::from_secs(30);

async fn add_place(app: &TestApp, session: &Session) -> PlaceId {
    let answer = app
        .call(
            Method::POST,
            "/api/v1/places",
            Some(&session.access_token),
            Some(json!({
                "name": "Café Central",
                "category": "cafe",
                "address": "Herrengasse 14, Vienna",
                "description": "Coffee since 1876",
            })),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    assert!(answer.header("x-consistency-token").is_some());
    let place_id = answer.body["place_id"].as_str().unwrap();
    assert_eq!(
        answer.header("location"),
        Some(format!("/api/v1/places/{place_id}").as_str())
    );
    place_id.parse().unwrap()
}

/// Waits until the reviews service's local copy knows the place, so a review is not refused
/// for a place it has not heard of yet.
async fn reviews_know(app: &TestApp, place_id: PlaceId) {
    let copy = app.pool_of(Service::Reviews).await;
    command_testkit::wait_for_place(&copy, place_id, KnownPlace::Open).await;
}

async fn write_review(
    app: &TestApp,
    session: &Session,
    place_id: PlaceId,
    idempotency_key: Option<&str>,
) -> Answer {
    let mut request = app
        .http
        .post(app.url(&format!("/api/v1/places/{place_id}/reviews")))
        .bearer_auth(&session.access_token)
        .json(&json!({"title": "Worth the queue", "body": "Sachertorte and a melange."}));
    if let Some(key) = idempotency_key {
        request = request.header("Idempotency-Key", key);
    }
    crate::support::answer(request.send().await.unwrap()).await
}

async fn events_in(app: &TestApp, service: Service, stream_id: &str) -> Vec<String> {
    let store = app.store_of(service).await;
    let events = store.load(stream_id, 1).await.unwrap();
    events.into_iter().map(|event| event.event_type).collect()
}

#[tokio::test]
async fn a_command_without_a_reply_in_time_is_accepted_and_applied_once_when_its_service_is_back() {
    let mut app = TestApp::new().await;
    app.settings.commands.reply_timeout_ms = 500;
    for service in Service::ALL {
        app.start_service(service).await;
    }
    app.start_gateway().await;
    let session = app.register().await;
    let place_id = add_place(&app, &session).await;
    reviews_know(&app, place_id).await;
    app.stop_service(Service::Reviews).await;

    let accepted = write_review(&app, &session, place_id, Some("review-1")).await;

    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
    let command_id = accepted.body["command_id"].as_str().unwrap().to_owned();
    let location = accepted.header("location").unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/commands/{command_id}"));
    let pending = app.get(&location, Some(&session.access_token)).await;
    assert_eq!(pending.status, StatusCode::OK);
    assert_eq!(pending.body["status"], "pending");
    // Someone else cannot follow it.
    let stranger = app.register().await;
    let hidden = app.get(&location, Some(&stranger.access_token)).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);

    app.start_service(Service::Reviews).await;

    let done = testkit::poll::until("the command is applied", APPLIED_WITHIN, || async {
        let status = app.get(&location, Some(&session.access_token)).await;
        (status.body["status"] != "pending").then_some(status)
    })
    .await;
    assert_eq!(done.body["status"], "succeeded", "{:?}", done.body);
    let stream_id = done.body["stream_id"].as_str().unwrap().to_owned();
    assert_eq!(stream_id, format!("review-{command_id}"));
    // A client retrying with the same key gets the first outcome, not a second review.
    let retried = write_review(&app, &session, place_id, Some("review-1")).await;
    assert_eq!(retried.status, StatusCode::CREATED, "{:?}", retried.body);
    assert_eq!(retried.body["review_id"], command_id.as_str());
    assert_eq!(
        events_in(&app, Service::Reviews, &stream_id).await,
        ["reviews.ReviewWritten"]
    );
    app.finish().await;
}

#[tokio::test]
async fn a_retried_request_with_the_same_idempotency_key_runs_once() {
    let app = TestApp::with_services().await;
    let session = app.register().await;
    let place_id = add_place(&app, &session).await;
    reviews_know(&app, place_id).await;

    let first = write_review(&app, &session, place_id, Some("once")).await;
    let second = write_review(&app, &session, place_id, Some("once")).await;
    let other_key = write_review(&app, &session, place_id, Some("twice")).await;

    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    assert_eq!(second.status, StatusCode::CREATED, "{:?}", second.body);
    assert_eq!(first.body["review_id"], second.body["review_id"]);
    assert_eq!(
        first.header("x-consistency-token"),
        second.header("x-consistency-token")
    );
    // A new key is a new command: the one-review-per-place rule refuses it.
    assert_eq!(
        other_key.status,
        StatusCode::CONFLICT,
        "{:?}",
        other_key.body
    );
    assert_eq!(other_key.code(), "conflict");
    let review_id = first.body["review_id"].as_str().unwrap();
    assert_eq!(
        events_in(&app, Service::Reviews, &format!("review-{review_id}")).await,
        ["reviews.ReviewWritten"]
    );
    app.finish().await;
}

#[tokio::test]
async fn refusals_map_to_their_statuses_with_field_errors() {
    let app = TestApp::with_services().await;
    let session = app.register().await;
    let token = Some(session.access_token.as_str());
    let place_id = add_place(&app, &session).await;
    reviews_know(&app, place_id).await;

    let no_stars = app
        .call(
            Method::PUT,
            &format!("/api/v1/places/{place_id}/rating"),
            token,
            Some(json!({"stars": 6})),
        )
        .await;
    let unknown_place = app
        .call(
            Method::PUT,
            &format!("/api/v1/places/{}/rating", PlaceId::generate()),
            token,
            Some(json!({"stars": 4})),
        )
        .await;
    let rated = app
        .call(
            Method::PUT,
            &format!("/api/v1/places/{place_id}/rating"),
            token,
            Some(json!({"stars": 4})),
        )
        .await;
    let stranger = app.register().await;
    let review = write_review(&app, &session, place_id, None).await;
    let review_id = review.body["review_id"].as_str().unwrap();
    let not_author = app
        .call(
            Method::DELETE,
            &format!("/api/v1/reviews/{review_id}"),
            Some(&stranger.access_token),
            None,
        )
        .await;

    assert_eq!(no_stars.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        no_stars.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(
        no_stars.body["errors"][0]["field"], "stars",
        "{:?}",
        no_stars.body
    );
    assert!(
        matches!(unknown_place.status.as_u16(), 404 | 422),
        "{:?}",
        unknown_place.body
    );
    assert_eq!(rated.status, StatusCode::NO_CONTENT);
    assert!(rated.header("x-consistency-token").is_some());
    assert_eq!(
        not_author.status,
        StatusCode::FORBIDDEN,
        "{:?}",
        not_author.body
    );
    app.finish().await;
}

#[tokio::test]
async fn an_unknown_command_id_is_not_found() {
    let mut app = TestApp::new().await;
    app.start_gateway().await;

    let unknown = app
        .get(&format!("/api/v1/commands/{}", uuid::Uuid::new_v4()), None)
        .await;
    let malformed = app.get("/api/v1/commands/not-a-uuid", None).await;

    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.code(), "not_found");
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.body["errors"][0]["field"], "command_id");
    app.finish().await;
}
