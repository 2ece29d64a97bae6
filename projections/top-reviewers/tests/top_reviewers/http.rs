//! The query API through its router, without a server.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use events::{Checkpoint, ConsistencyToken, MemberId};
use projection::query::FRESHNESS_HEADER;
use projection_testkit::http::{Answer, get, get_with, query_context};
use serde_json::json;
use sqlx::PgPool;
use top_reviewers::router;

use crate::support::{
    Feed, apply, deactivated, members_in_id_order, model, rated_review, registered,
};

const MAX_WAIT: Duration = Duration::from_millis(50);

fn api(pool: &PgPool) -> Router {
    router(query_context(pool, MAX_WAIT))
}

fn header<'a>(answer: &'a Answer, name: &str) -> &'a str {
    answer.headers.get(name).unwrap().to_str().unwrap()
}

/// Two reviewers: ada with two reviews (4 and 5 stars), then grace, deactivated, with one
/// review without stars. The checkpoints end at members 2.2, reviews 3.3 and ratings 2.2.
async fn two_reviewers() -> (PgPool, MemberId, MemberId) {
    let pool = model().await;
    let mut feed = Feed::default();
    let (ada, grace) = (MemberId::generate(), MemberId::generate());
    let mut events = vec![
        feed.member(registered(ada, "ada")),
        feed.member(deactivated(grace)),
    ];
    events.extend(rated_review(&mut feed, ada, Some(4)));
    events.extend(rated_review(&mut feed, ada, Some(5)));
    events.extend(rated_review(&mut feed, grace, None));
    apply(&pool, &events).await;
    (pool, ada, grace)
}

#[tokio::test]
async fn the_ranking_is_served_as_json() {
    let (pool, ada, grace) = two_reviewers().await;

    let answer = get(&api(&pool), "/members/top").await;

    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(header(&answer, "content-type"), "application/json");
    assert_eq!(header(&answer, FRESHNESS_HEADER), "fresh");
    assert_eq!(
        answer.body,
        json!({ "items": [
            {
                "rank": 1,
                "member_id": ada.to_string(),
                "nickname": "ada",
                "deactivated": false,
                "review_count": 2,
                "average_stars": 4.5,
            },
            {
                "rank": 2,
                "member_id": grace.to_string(),
                "nickname": null,
                "deactivated": true,
                "review_count": 1,
                "average_stars": null,
            },
        ]})
    );
}

#[tokio::test]
async fn an_empty_model_ranks_nobody() {
    let pool = model().await;

    let answer = get(&api(&pool), "/members/top").await;

    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, json!({ "items": [] }));
}

#[tokio::test]
async fn ten_are_shown_unless_a_limit_from_one_to_a_hundred_asks_otherwise() {
    let pool = model().await;
    let mut feed = Feed::default();
    let members = members_in_id_order(12);
    let mut events = Vec::new();
    for member in &members {
        events.extend(rated_review(&mut feed, *member, None));
    }
    apply(&pool, &events).await;
    let api = api(&pool);
    let shown = |answer: &Answer| answer.body["items"].as_array().unwrap().len();

    assert_eq!(shown(&get(&api, "/members/top").await), 10);
    assert_eq!(shown(&get(&api, "/members/top?limit=3").await), 3);
    assert_eq!(shown(&get(&api, "/members/top?limit=100").await), 12);
    let last = get(&api, "/members/top?limit=12").await;
    assert_eq!(last.body["items"][11]["member_id"], members[11].to_string());
    assert_eq!(last.body["items"][11]["rank"], 12);

    for limit in ["0", "101", "ten", "-1"] {
        let refused = get(&api, &format!("/members/top?limit={limit}")).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "limit={limit}");
        assert_eq!(header(&refused, "content-type"), "application/problem+json");
        assert_eq!(refused.body["errors"][0]["field"], "limit", "limit={limit}");
    }
}

#[tokio::test]
async fn a_malformed_consistency_token_is_refused() {
    let pool = model().await;

    let refused = get(&api(&pool), "/members/top?consistency=members.1").await;

    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.body["errors"][0]["field"], "consistency");
}

#[tokio::test]
async fn the_same_ranking_again_is_not_modified() {
    let (pool, _, _) = two_reviewers().await;
    let api = api(&pool);
    let first = get(&api, "/members/top").await;
    let etag = header(&first, "etag").to_owned();

    let again = get_with(
        &api,
        Request::get("/members/top")
            .header(header::IF_NONE_MATCH, &etag)
            .body(Body::empty())
            .unwrap(),
    )
    .await;

    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert_eq!(header(&again, "etag"), etag);
}

#[tokio::test]
async fn a_token_the_model_has_not_reached_waits_then_answers_stale() {
    let (pool, _, _) = two_reviewers().await;
    let api = api(&pool);

    for token in [
        ConsistencyToken::new("reviews", Checkpoint::new(9, 9)),
        ConsistencyToken::new("ratings", Checkpoint::new(3, 3)),
    ] {
        let started = Instant::now();
        let answer = get(&api, &format!("/members/top?consistency={token}")).await;
        assert!(started.elapsed() >= MAX_WAIT, "{token}");
        assert_eq!(answer.status, StatusCode::OK, "{token}");
        assert_eq!(header(&answer, FRESHNESS_HEADER), "stale", "{token}");
        assert_eq!(answer.body["items"][0]["nickname"], "ada", "{token}");
    }
}

#[tokio::test]
async fn a_token_the_model_has_reached_is_answered_fresh() {
    let (pool, _, _) = two_reviewers().await;
    let api = api(&pool);

    for token in [
        ConsistencyToken::new("members", Checkpoint::new(2, 2)),
        ConsistencyToken::new("reviews", Checkpoint::new(3, 3)),
        ConsistencyToken::new("ratings", Checkpoint::new(1, 1)),
    ] {
        let answer = get(&api, &format!("/members/top?consistency={token}")).await;
        assert_eq!(answer.status, StatusCode::OK, "{token}");
        assert_eq!(header(&answer, FRESHNESS_HEADER), "fresh", "{token}");
    }
}
