//! The query API through its router, without a server.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use events::{Checkpoint, ConsistencyToken, MemberId, PhotoId, PlaceId, ReviewId};
use http_body_util::BodyExt;
use member_profile::router;
use projection::query::{AppliedSignal, FRESHNESS_HEADER, QueryContext};
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt;

use crate::support::{Feed, apply, avatar_changed, deactivated, model, rated, registered, written};

const MAX_WAIT: Duration = Duration::from_millis(50);

fn api(pool: &PgPool) -> Router {
    router(QueryContext {
        pool: pool.clone(),
        signal: AppliedSignal::default(),
        max_wait: MAX_WAIT,
        reads: None,
    })
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn header(&self, name: impl header::AsHeaderName) -> &str {
        self.headers.get(name).unwrap().to_str().unwrap()
    }
}

async fn get(api: &Router, uri: &str, if_none_match: Option<&str>) -> Answer {
    let mut request = Request::get(uri);
    if let Some(etag) = if_none_match {
        request = request.header(header::IF_NONE_MATCH, etag);
    }
    let response = api
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes().to_vec(),
    }
}

/// A registered member with an avatar, a review and two ratings, in a fresh model.
async fn active_member() -> (PgPool, MemberId, PhotoId) {
    let pool = model().await;
    let mut feed = Feed::default();
    let (member, photo) = (MemberId::generate(), PhotoId::generate());
    apply(
        &pool,
        &[
            feed.member(registered(member, "ada")),
            feed.member(avatar_changed(member, photo)),
            feed.review(written(ReviewId::generate(), member)),
            feed.rating(rated(member, PlaceId::generate(), 5)),
            feed.rating(rated(member, PlaceId::generate(), 2)),
        ],
    )
    .await;
    (pool, member, photo)
}

#[tokio::test]
async fn a_profile_is_served_as_json() {
    let (pool, member, photo) = active_member().await;

    let answer = get(&api(&pool), &format!("/members/{member}"), None).await;

    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header(header::CONTENT_TYPE), "application/json");
    assert_eq!(answer.header(FRESHNESS_HEADER), "fresh");
    assert_eq!(
        answer.json(),
        json!({
            "member_id": member.to_string(),
            "nickname": "ada",
            "avatar_url": format!("/api/v1/photos/{photo}"),
            "joined_at": "2026-03-01T12:00:00Z",
            "review_count": 1,
            "rating_count": 2,
            "average_stars_given": 3.5,
            "deactivated": false,
        })
    );
}

#[tokio::test]
async fn a_deactivated_member_shows_without_nickname_or_avatar() {
    let pool = model().await;
    let mut feed = Feed::default();
    let member = MemberId::generate();
    apply(
        &pool,
        &[
            feed.member(registered(member, "ada")),
            feed.member(avatar_changed(member, PhotoId::generate())),
            feed.member(deactivated(member)),
        ],
    )
    .await;

    let answer = get(&api(&pool), &format!("/members/{member}"), None).await;

    assert_eq!(
        answer.json(),
        json!({
            "member_id": member.to_string(),
            "nickname": null,
            "avatar_url": null,
            "joined_at": "2026-03-01T12:00:00Z",
            "review_count": 0,
            "rating_count": 0,
            "average_stars_given": null,
            "deactivated": true,
        })
    );
}

#[tokio::test]
async fn a_member_whose_registration_has_not_arrived_is_not_found() {
    let pool = model().await;
    let mut feed = Feed::default();
    let waiting = MemberId::generate();
    apply(
        &pool,
        &[feed.review(written(ReviewId::generate(), waiting))],
    )
    .await;
    let api = api(&pool);

    for member in [waiting, MemberId::generate()] {
        let answer = get(&api, &format!("/members/{member}"), None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        assert_eq!(
            answer.header(header::CONTENT_TYPE),
            "application/problem+json"
        );
        assert_eq!(answer.json()["code"], "not_found");
    }
}

#[tokio::test]
async fn a_member_id_that_is_not_a_uuid_is_refused() {
    let pool = model().await;
    let api = api(&pool);

    for path in ["/members/42", "/members/not-a-uuid", "/members/%FF%FE"] {
        let answer = get(&api, path, None).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(answer.json()["errors"][0]["field"], "member_id", "{path}");
    }
}

#[tokio::test]
async fn a_malformed_consistency_token_is_refused() {
    let (pool, member, _) = active_member().await;
    let api = api(&pool);

    for token in ["nonsense", "members.1", "Members.1.1", "members.x.1"] {
        let answer = get(
            &api,
            &format!("/members/{member}?consistency={token}"),
            None,
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{token}");
        assert_eq!(
            answer.json()["errors"][0]["field"],
            "consistency",
            "{token}"
        );
    }
}

#[tokio::test]
async fn an_unchanged_profile_is_not_sent_again() {
    let pool = model().await;
    let mut feed = Feed::default();
    let member = MemberId::generate();
    apply(&pool, &[feed.member(registered(member, "ada"))]).await;
    let api = api(&pool);
    let uri = format!("/members/{member}");
    let first = get(&api, &uri, None).await;
    let etag = first.header(header::ETAG).to_owned();

    let again = get(&api, &uri, Some(&etag)).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());

    apply(&pool, &[feed.rating(rated(member, PlaceId::generate(), 4))]).await;
    let changed = get(&api, &uri, Some(&etag)).await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_ne!(changed.header(header::ETAG), etag);
    assert_eq!(changed.json()["rating_count"], 1);
}

#[tokio::test]
async fn a_token_the_model_has_not_reached_is_answered_stale_after_the_wait() {
    let (pool, member, _) = active_member().await;
    // The feed above recorded two members events: position 2 is applied, 3 is not.
    let ahead = ConsistencyToken::new("members", Checkpoint::new(3, 3));
    let unseen_source = ConsistencyToken::new("places", Checkpoint::new(1, 1));
    let api = api(&pool);

    for token in [ahead, unseen_source] {
        let started = Instant::now();
        let answer = get(
            &api,
            &format!("/members/{member}?consistency={token}"),
            None,
        )
        .await;
        assert!(started.elapsed() >= MAX_WAIT, "{token}");
        assert_eq!(answer.status, StatusCode::OK, "{token}");
        assert_eq!(answer.header(FRESHNESS_HEADER), "stale", "{token}");
        assert_eq!(answer.json()["nickname"], "ada", "{token}");
    }
}

#[tokio::test]
async fn a_token_the_model_has_reached_is_answered_fresh() {
    let (pool, member, _) = active_member().await;
    let api = api(&pool);

    for token in [
        ConsistencyToken::new("members", Checkpoint::new(2, 2)),
        ConsistencyToken::new("ratings", Checkpoint::new(1, 1)),
    ] {
        let answer = get(
            &api,
            &format!("/members/{member}?consistency={token}"),
            None,
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{token}");
        assert_eq!(answer.header(FRESHNESS_HEADER), "fresh", "{token}");
    }
}
