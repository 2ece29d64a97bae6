//! A read model added to a running system: members, places, reviews and ratings go through
//! the gateway first; then the top-reviewers projection starts, builds itself from the stores'
//! history, and `GET /api/v1/members/top` ranks everyone, while commands keep working and
//! later writes reach the ranking live.

use std::time::Duration;

use events::PlaceId;
use local_copies::KnownPlace;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Answer, Projection, Service, Session, TestApp, session_from};

/// How long a test waits for something that happens in the background.
const DEADLINE: Duration = Duration::from_secs(30);

async fn register_as(app: &TestApp, nickname: &str) -> Session {
    let suffix = testkit::unique_suffix();
    let (email, password) = (
        format!("m-{suffix}@example.com"),
        format!("pw-{suffix}-long-enough"),
    );
    let answer = app
        .call(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({ "email": email, "password": password, "nickname": nickname })),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    session_from(&answer, email, password)
}

/// Sends a command as `session` and checks that it was applied (not merely accepted), so the
/// event is in its store when the next step runs.
async fn command(
    app: &TestApp,
    session: &Session,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Answer {
    let answer = app
        .call(method, path, Some(&session.access_token), body)
        .await;
    assert!(
        matches!(answer.status, StatusCode::CREATED | StatusCode::NO_CONTENT),
        "{path}: {} {:?}",
        answer.status,
        answer.body
    );
    answer
}

async fn add_place(app: &TestApp, session: &Session, name: &str) -> PlaceId {
    let body = json!({ "name": name, "category": "cafe", "address": "1 Quay" });
    let added = command(app, session, Method::POST, "/api/v1/places", Some(body)).await;
    let place_id: PlaceId = added.body["place_id"].as_str().unwrap().parse().unwrap();
    // Reviews and ratings are refused for a place their services have not heard of yet.
    for service in [Service::Reviews, Service::Ratings] {
        let copy = app.pool_of(service).await;
        command_testkit::wait_for_place(&copy, place_id, KnownPlace::Open).await;
    }
    place_id
}

async fn review(app: &TestApp, session: &Session, place_id: PlaceId) -> Answer {
    let body = json!({ "title": "Worth the detour", "body": "Good coffee, quiet corner." });
    let path = format!("/api/v1/places/{place_id}/reviews");
    command(app, session, Method::POST, &path, Some(body)).await
}

async fn rate(app: &TestApp, session: &Session, place_id: PlaceId, stars: u8) -> Answer {
    let path = format!("/api/v1/places/{place_id}/rating");
    command(
        app,
        session,
        Method::PUT,
        &path,
        Some(json!({ "stars": stars })),
    )
    .await
}

fn token(answer: &Answer) -> String {
    answer.header("x-consistency-token").unwrap().to_owned()
}

fn entry(
    rank: u32,
    member: &Session,
    nickname: Option<&str>,
    review_count: i64,
    average_stars: Option<f64>,
) -> Value {
    json!({
        "rank": rank,
        "member_id": member.member_id,
        "nickname": nickname,
        "deactivated": nickname.is_none(),
        "review_count": review_count,
        "average_stars": average_stars,
    })
}

#[tokio::test]
async fn a_new_read_model_builds_from_history_and_ranks_through_the_gateway() {
    let app = TestApp::with_services().await;
    let ada = register_as(&app, "ada").await;
    let grace = register_as(&app, "grace").await;
    let gone = register_as(&app, "gone").await;
    let alan = register_as(&app, "alan").await;
    // Registered, never reviewed: not ranked.
    register_as(&app, "bob").await;
    let cafe = add_place(&app, &ada, "Café Central").await;
    let bar = add_place(&app, &ada, "Bar Hemingway").await;
    let park = add_place(&app, &ada, "Stadtpark").await;

    // ada: two reviews, rated 5 and (after a change of mind) 4.
    review(&app, &ada, cafe).await;
    review(&app, &ada, bar).await;
    rate(&app, &ada, cafe, 5).await;
    rate(&app, &ada, bar, 1).await;
    rate(&app, &ada, bar, 4).await;
    // grace, renamed: two reviews, one rated 3; her stars for a place she did not review do
    // not count.
    command(
        &app,
        &grace,
        Method::PATCH,
        "/api/v1/members/me",
        Some(json!({ "nickname": "grace hopper" })),
    )
    .await;
    review(&app, &grace, cafe).await;
    review(&app, &grace, bar).await;
    rate(&app, &grace, cafe, 3).await;
    rate(&app, &grace, park, 5).await;
    // gone: three reviews, one deleted, no stars; then the account is deactivated.
    review(&app, &gone, cafe).await;
    review(&app, &gone, bar).await;
    let dropped = review(&app, &gone, park).await;
    let dropped = dropped.body["review_id"].as_str().unwrap();
    let path = format!("/api/v1/reviews/{dropped}");
    command(&app, &gone, Method::DELETE, &path, None).await;
    command(&app, &gone, Method::DELETE, "/api/v1/members/me", None).await;
    // alan: one review, rated 2.
    review(&app, &alan, cafe).await;
    rate(&app, &alan, cafe, 2).await;

    // No instance yet: the route answers, unavailable, and nothing else is affected.
    let absent = app.get("/api/v1/members/top", None).await;
    assert_eq!(absent.status, StatusCode::SERVICE_UNAVAILABLE, "{absent:?}");

    let top_reviewers = app.start_projection(Projection::TopReviewers).await;

    let built = testkit::poll::until("the ranking through the gateway", DEADLINE, || async {
        let answer = app.get("/api/v1/members/top", None).await;
        (answer.status == StatusCode::OK).then_some(answer)
    })
    .await;
    assert_eq!(
        built.body,
        json!({ "items": [
            entry(1, &ada, Some("ada"), 2, Some(4.5)),
            entry(2, &grace, Some("grace hopper"), 2, Some(3.0)),
            entry(3, &gone, None, 2, None),
            entry(4, &alan, Some("alan"), 1, Some(2.0)),
        ]}),
    );
    assert_eq!(built.header("waypoint-freshness"), Some("fresh"));
    let first_two = app.get("/api/v1/members/top?limit=2", None).await;
    assert_eq!(first_two.status, StatusCode::OK, "{:?}", first_two.body);
    assert_eq!(
        first_two.body["items"].as_array().unwrap()[..],
        built.body["items"].as_array().unwrap()[..2]
    );

    // The rest kept running: new writes are taken and reach the new model live. With their
    // tokens the answer waits for them.
    let written = review(&app, &alan, bar).await;
    let rated = rate(&app, &alan, bar, 5).await;
    let tokens = format!("{},{}", token(&written), token(&rated));
    let after = app
        .get(&format!("/api/v1/members/top?consistency={tokens}"), None)
        .await;
    assert_eq!(after.status, StatusCode::OK, "{:?}", after.body);
    assert_eq!(after.header("waypoint-freshness"), Some("fresh"));
    assert_eq!(
        after.body["items"],
        json!([
            entry(1, &ada, Some("ada"), 2, Some(4.5)),
            entry(2, &alan, Some("alan"), 2, Some(3.5)),
            entry(3, &grace, Some("grace hopper"), 2, Some(3.0)),
            entry(4, &gone, None, 2, None),
        ]),
    );

    // Parameters: unknown ones are refused by the gateway, values by the read model.
    let unknown = app.get("/api/v1/members/top?sort=stars", None).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.body["errors"][0]["field"], "sort");
    let too_many = app.get("/api/v1/members/top?limit=101", None).await;
    assert_eq!(too_many.status, StatusCode::BAD_REQUEST);
    assert_eq!(too_many.body["errors"][0]["field"], "limit");

    top_reviewers.stop().await;
    app.finish().await;
}
