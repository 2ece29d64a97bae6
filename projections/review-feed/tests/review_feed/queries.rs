//! The query API through the router: pages, sort orders, the review JSON, errors, ETags and
//! read-your-writes.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use events::{MemberId, PhotoId, PlaceId};
use projection::query::FRESHNESS_HEADER;
use rand::Rng;
use serde_json::json;

use super::support::{Sources, Written, all_pages, apply, get, get_with, model, router};

const WAIT: Duration = Duration::from_millis(50);

/// Review ids as the API prints them, in the order of `reviews` sorted by `key`, descending.
fn expected<K: Ord>(reviews: &[Written], key: impl Fn(&Written) -> K) -> Vec<String> {
    let mut sorted: Vec<_> = reviews.iter().collect();
    sorted.sort_by_key(|written| std::cmp::Reverse(key(written)));
    sorted
        .iter()
        .map(|written| written.review_id.to_string())
        .collect()
}

#[tokio::test]
async fn a_places_reviews_come_newest_first_in_pages_without_gaps_or_duplicates() {
    let pool = model().await;
    let mut sources = Sources::default();
    let place = PlaceId::generate();
    // Pairs written in the same minute: the review id breaks the tie.
    let reviews: Vec<_> = (0..23)
        .map(|n| Written::new(place, MemberId::generate(), n / 2))
        .collect();
    let elsewhere = Written::new(PlaceId::generate(), MemberId::generate(), 100);
    let mut batch: Vec<_> = reviews
        .iter()
        .map(|written| sources.write(written))
        .collect();
    batch.push(sources.write(&elsewhere));
    apply(&pool, &batch).await;
    let router = router(&pool, WAIT);

    let ids = all_pages(&router, &format!("/places/{place}/reviews?limit=5")).await;

    assert_eq!(
        ids,
        expected(&reviews, |written| (written.written_at, written.review_id))
    );
    let default_sort = all_pages(&router, &format!("/places/{place}/reviews?sort=newest")).await;
    assert_eq!(default_sort, ids);
}

#[tokio::test]
async fn a_places_reviews_by_stars_put_most_stars_first_and_unknown_stars_last() {
    let pool = model().await;
    let mut sources = Sources::default();
    let place = PlaceId::generate();
    let mut rng = rand::rng();
    let rated: Vec<(Written, Option<u8>)> = (0..17)
        .map(|n| {
            let written = Written::new(place, MemberId::generate(), n % 4);
            let stars = rng.random_bool(0.8).then(|| rng.random_range(1..=5));
            (written, stars)
        })
        .collect();
    let mut batch = Vec::new();
    for (written, stars) in &rated {
        batch.push(sources.write(written));
        if let Some(stars) = stars {
            batch.push(sources.rate(written.author_id, place, *stars));
        }
    }
    apply(&pool, &batch).await;
    let router = router(&pool, WAIT);

    let ids = all_pages(
        &router,
        &format!("/places/{place}/reviews?sort=stars&limit=4"),
    )
    .await;

    let reviews: Vec<_> = rated.iter().map(|(written, _)| written.clone()).collect();
    let stars_of = |written: &Written| {
        rated
            .iter()
            .find(|(other, _)| other.review_id == written.review_id)
            .and_then(|(_, stars)| *stars)
            .unwrap_or(0)
    };
    let want = expected(&reviews, |written| {
        (stars_of(written), written.written_at, written.review_id)
    });
    assert_eq!(ids, want);
    let first = get(
        &router,
        &format!("/places/{place}/reviews?sort=stars&limit=1"),
    )
    .await;
    let top = reviews
        .iter()
        .find(|written| written.review_id.to_string() == want[0])
        .unwrap();
    let top_stars = stars_of(top);
    assert_eq!(first.body["items"][0]["stars"], json!(top_stars));
}

#[tokio::test]
async fn a_members_reviews_come_newest_first_in_pages() {
    let pool = model().await;
    let mut sources = Sources::default();
    let member = MemberId::generate();
    let reviews: Vec<_> = (0..9)
        .map(|n| Written::new(PlaceId::generate(), member, n * 7 % 5))
        .collect();
    let mut batch = vec![sources.register(member, "ana")];
    batch.extend(reviews.iter().map(|written| sources.write(written)));
    batch.push(sources.write(&Written::new(PlaceId::generate(), MemberId::generate(), 3)));
    apply(&pool, &batch).await;
    let router = router(&pool, WAIT);

    let ids = all_pages(&router, &format!("/members/{member}/reviews?limit=2")).await;

    assert_eq!(
        ids,
        expected(&reviews, |written| (written.written_at, written.review_id))
    );
}

#[tokio::test]
async fn a_review_is_shown_with_its_author_place_photos_stars_and_times() {
    let pool = model().await;
    let mut sources = Sources::default();
    let (member, place, avatar, photo) = (
        MemberId::generate(),
        PlaceId::generate(),
        PhotoId::generate(),
        PhotoId::generate(),
    );
    let mut written = Written::new(place, member, 0);
    written.photo_ids = vec![photo];
    apply(
        &pool,
        &[
            sources.register(member, "ana"),
            sources.avatar(member, avatar),
            sources.add_place(place, "Café Central"),
            sources.rate(member, place, 5),
            sources.write(&written),
        ],
    )
    .await;
    let router = router(&pool, WAIT);
    let uri = format!("/reviews/{}", written.review_id);

    let answer = get(&router, &uri).await;

    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.body,
        json!({
            "review_id": written.review_id.to_string(),
            "place": {"place_id": place.to_string(), "name": "Café Central"},
            "author": {
                "member_id": member.to_string(),
                "nickname": "ana",
                "avatar_url": format!("/api/v1/photos/{avatar}"),
                "deleted": false,
            },
            "title": format!("Title of {}", written.review_id),
            "body": "Lovely coffee, slow service.",
            "photo_urls": [format!("/api/v1/photos/{photo}")],
            "stars": 5,
            "created_at": "2026-01-01T00:00:00Z",
            "edited_at": null,
        })
    );

    apply(
        &pool,
        &[
            sources.deactivate(member),
            sources.edit(&written, "t", Vec::new()),
        ],
    )
    .await;
    let after = get(&router, &uri).await;
    assert_eq!(
        after.body["author"],
        json!({"member_id": member.to_string(), "nickname": null, "avatar_url": null, "deleted": true})
    );
    assert_eq!(after.body["edited_at"], json!("2026-01-01T01:00:00Z"));
}

#[tokio::test]
async fn unknown_or_deleted_ids_are_404_and_ids_that_are_not_uuids_400() {
    let pool = model().await;
    let mut sources = Sources::default();
    let place = PlaceId::generate();
    let deleted = Written::new(place, MemberId::generate(), 0);
    let quiet_place = PlaceId::generate();
    apply(
        &pool,
        &[
            sources.add_place(quiet_place, "Nobody reviews me"),
            sources.write(&deleted),
            sources.delete(&deleted),
        ],
    )
    .await;
    let router = router(&pool, WAIT);

    for uri in [
        format!("/reviews/{}", deleted.review_id),
        format!("/reviews/{}", uuid::Uuid::new_v4()),
        format!("/places/{}/reviews", PlaceId::generate()),
        format!("/members/{}/reviews", MemberId::generate()),
    ] {
        let answer = get(&router, &uri).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(answer.body["code"], "not_found", "{uri}");
    }
    for uri in [
        "/reviews/42",
        "/places/nope/reviews",
        "/members/%FF/reviews",
    ] {
        let answer = get(&router, uri).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(answer.body["code"], "validation", "{uri}");
    }
    let quiet = get(&router, &format!("/places/{quiet_place}/reviews")).await;
    assert_eq!(quiet.status, StatusCode::OK);
    assert_eq!(quiet.body, json!({"items": [], "next_cursor": null}));
}

#[tokio::test]
async fn bad_limits_cursors_sorts_and_tokens_are_refused() {
    let pool = model().await;
    let mut sources = Sources::default();
    let place = PlaceId::generate();
    let batch: Vec<_> = (0..3)
        .map(|n| sources.write(&Written::new(place, MemberId::generate(), n)))
        .collect();
    apply(&pool, &batch).await;
    let router = router(&pool, WAIT);
    let newest = get(&router, &format!("/places/{place}/reviews?limit=1")).await;
    let newest_cursor = newest.body["next_cursor"].as_str().unwrap().to_owned();

    for query in [
        "limit=101".to_owned(),
        "limit=0".to_owned(),
        "limit=ten".to_owned(),
        "cursor=not-a-cursor".to_owned(),
        "cursor=eyJ4IjoxfQ".to_owned(),
        format!("sort=stars&cursor={newest_cursor}"),
        "sort=oldest".to_owned(),
        "consistency=nonsense".to_owned(),
    ] {
        let answer = get(&router, &format!("/places/{place}/reviews?{query}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(answer.body["code"], "validation", "{query}");
    }
    let limit = get(
        &router,
        &format!("/members/{}/reviews?limit=101", MemberId::generate()),
    )
    .await;
    assert_eq!(limit.status, StatusCode::BAD_REQUEST);
    let token = get(
        &router,
        &format!("/reviews/{}?consistency=x", uuid::Uuid::new_v4()),
    )
    .await;
    assert_eq!(token.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_unchanged_answer_is_304_for_its_etag_and_a_changed_one_is_not() {
    let pool = model().await;
    let mut sources = Sources::default();
    let place = PlaceId::generate();
    let written = Written::new(place, MemberId::generate(), 0);
    apply(
        &pool,
        &[
            sources.add_place(place, "Café Central"),
            sources.write(&written),
        ],
    )
    .await;
    let router = router(&pool, WAIT);
    let uri = format!("/places/{place}/reviews");
    let first = get(&router, &uri).await;
    let etag = first.headers[header::ETAG].to_str().unwrap().to_owned();
    let conditional = || {
        Request::get(&uri)
            .header(header::IF_NONE_MATCH, &etag)
            .body(Body::empty())
            .unwrap()
    };

    let same = get_with(&router, conditional()).await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED);
    assert_eq!(same.body, serde_json::Value::Null);

    apply(&pool, &[sources.update_place(place, Some("Central"))]).await;
    let changed = get_with(&router, conditional()).await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_eq!(changed.body["items"][0]["place"]["name"], "Central");
}

#[tokio::test]
async fn a_token_ahead_of_the_model_answers_stale_after_the_wait_and_a_covered_one_fresh() {
    let pool = model().await;
    let mut sources = Sources::default();
    let written = Written::new(PlaceId::generate(), MemberId::generate(), 0);
    let write = sources.write(&written);
    apply(&pool, std::slice::from_ref(&write)).await;
    let router = router(&pool, WAIT);
    let checkpoint = write.checkpoint;
    let uri = |transaction_id: u64| {
        format!(
            "/reviews/{}?consistency=reviews.{transaction_id}.{}",
            written.review_id, checkpoint.position
        )
    };

    let ahead = get(&router, &uri(checkpoint.transaction_id + 1)).await;
    assert_eq!(ahead.status, StatusCode::OK);
    assert_eq!(ahead.headers[FRESHNESS_HEADER], "stale");
    assert_eq!(ahead.body["review_id"], written.review_id.to_string());

    let covered = get(&router, &uri(checkpoint.transaction_id)).await;
    assert_eq!(covered.status, StatusCode::OK);
    assert_eq!(covered.headers[FRESHNESS_HEADER], "fresh");

    let list = format!(
        "/members/{}/reviews?consistency=reviews.{}.{}",
        written.author_id, checkpoint.transaction_id, checkpoint.position
    );
    assert_eq!(get(&router, &list).await.headers[FRESHNESS_HEADER], "fresh");
}
