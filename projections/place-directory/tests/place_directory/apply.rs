//! What each event does to the model, seen through the detail query; duplicates and poison.

use std::time::Duration;

use events::places::{Category, PlaceClosed, PlaceEvent, PlaceUpdated};
use events::reviews::{ReviewEdited, ReviewEvent};
use events::{MemberId, PlaceId, ReviewId};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::support::{self, Sources, apply, get, place};

async fn detail(pool: &sqlx::PgPool, place_id: PlaceId) -> Value {
    let router = support::router(pool, Duration::ZERO);
    let answer = get(&router, &format!("/places/{place_id}")).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.body
}

#[tokio::test]
async fn place_added_shows_in_detail_unrated_and_unreviewed() {
    let pool = support::model().await;
    let mut sources = Sources::default();
    let added = place("Blue Door", Category::Cafe, "Espresso and cake", 3);
    apply(&pool, &[sources.place(added.clone())]).await;

    let body = detail(&pool, added.place_id).await;
    assert_eq!(
        body,
        json!({
            "place_id": added.place_id,
            "name": "Blue Door",
            "category": "cafe",
            "address": "3 Main Street",
            "description": "Espresso and cake",
            "added_at": "2026-01-01T00:03:00Z",
            "closed": false,
            "rating": {"average": null, "count": 0, "histogram": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}},
            "review_count": 0,
        })
    );
}

#[tokio::test]
async fn place_updated_changes_only_the_fields_it_carries() {
    let pool = support::model().await;
    let mut sources = Sources::default();
    let added = place("Old Name", Category::Bar, "Cocktails downstairs", 0);
    let update = PlaceUpdated {
        place_id: added.place_id,
        name: Some("New Name".to_owned()),
        category: Some(Category::Restaurant),
        address: None,
        description: None,
        updated_by: MemberId::generate(),
        updated_at: OffsetDateTime::now_utc(),
    };
    apply(
        &pool,
        &[
            sources.place(added.clone()),
            sources.record::<PlaceEvent>(update),
        ],
    )
    .await;

    let body = detail(&pool, added.place_id).await;
    assert_eq!(body["name"], "New Name");
    assert_eq!(body["category"], "restaurant");
    assert_eq!(body["address"], added.address);
    assert_eq!(body["description"], "Cocktails downstairs");
    // The text search follows the new name.
    let router = support::router(&pool, Duration::ZERO);
    assert_eq!(support::ids(&get(&router, "/places?q=new").await).len(), 1);
    assert!(support::ids(&get(&router, "/places?q=old").await).is_empty());
}

#[tokio::test]
async fn place_closed_stays_visible_flagged_closed() {
    let pool = support::model().await;
    let mut sources = Sources::default();
    let added = place("Shut", Category::Shop, "Gone", 0);
    let closed = PlaceClosed {
        place_id: added.place_id,
        closed_by: MemberId::generate(),
        closed_at: OffsetDateTime::now_utc(),
    };
    apply(
        &pool,
        &[
            sources.place(added.clone()),
            sources.record::<PlaceEvent>(closed),
        ],
    )
    .await;

    assert_eq!(detail(&pool, added.place_id).await["closed"], true);
    let router = support::router(&pool, Duration::ZERO);
    let list = get(&router, "/places").await;
    assert_eq!(list.body["items"][0]["closed"], true);
}

#[tokio::test]
async fn ratings_fill_change_and_empty_the_histogram() {
    let pool = support::model().await;
    let mut sources = Sources::default();
    let added = place("Rated", Category::Park, "Trees", 0);
    let (ann, bob) = (MemberId::generate(), MemberId::generate());
    let id = added.place_id;
    apply(
        &pool,
        &[
            sources.place(added),
            sources.rate(id, ann, 5),
            sources.rate(id, bob, 2),
        ],
    )
    .await;
    assert_eq!(
        detail(&pool, id).await["rating"],
        json!({"average": 3.5, "count": 2, "histogram": {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1}})
    );

    // A new rating replaces the member's previous one.
    apply(&pool, &[sources.rate(id, bob, 4)]).await;
    assert_eq!(
        detail(&pool, id).await["rating"],
        json!({"average": 4.5, "count": 2, "histogram": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 1}})
    );

    apply(&pool, &[sources.unrate(id, ann), sources.unrate(id, bob)]).await;
    assert_eq!(
        detail(&pool, id).await["rating"],
        json!({"average": null, "count": 0, "histogram": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}})
    );
}

#[tokio::test]
async fn reviews_written_and_deleted_move_the_review_count_and_edits_do_not() {
    let pool = support::model().await;
    let mut sources = Sources::default();
    let added = place("Reviewed", Category::Museum, "Old things", 0);
    let id = added.place_id;
    let (first, second) = (ReviewId::generate(), ReviewId::generate());
    let edit = ReviewEdited {
        review_id: first,
        place_id: id,
        title: "Edited".to_owned(),
        body: "Edited".to_owned(),
        photo_ids: Vec::new(),
        edited_at: OffsetDateTime::now_utc(),
    };
    let outcome = apply(
        &pool,
        &[
            sources.place(added),
            sources.write_review(first, id),
            sources.write_review(second, id),
            sources.record::<ReviewEvent>(edit),
        ],
    )
    .await;
    assert!(outcome.poisoned.is_empty(), "{outcome:?}");
    assert_eq!(detail(&pool, id).await["review_count"], 2);

    apply(&pool, &[sources.delete_review(first, id)]).await;
    assert_eq!(detail(&pool, id).await["review_count"], 1);
}

#[tokio::test]
async fn ratings_and_reviews_before_their_place_count_once_it_is_added() {
    let pool = support::model().await;
    let mut sources = Sources::default();
    let added = place("Late", Category::Hotel, "Beds", 0);
    let id = added.place_id;
    apply(
        &pool,
        &[
            sources.rate(id, MemberId::generate(), 1),
            sources.rate(id, MemberId::generate(), 3),
            sources.write_review(ReviewId::generate(), id),
        ],
    )
    .await;
    // Nothing shows before the place itself.
    let router = support::router(&pool, Duration::ZERO);
    assert_eq!(get(&router, &format!("/places/{id}")).await.status, 404);
    assert!(support::ids(&get(&router, "/places").await).is_empty());

    apply(&pool, &[sources.place(added)]).await;
    let body = detail(&pool, id).await;
    assert_eq!(body["rating"]["count"], 2);
    assert_eq!(body["rating"]["average"], 2.0);
    assert_eq!(body["review_count"], 1);
}

#[tokio::test]
async fn duplicates_in_one_batch_and_across_batches_are_applied_once() {
    let pool = support::model().await;
    let mut sources = Sources::default();
    let added = place("Twice", Category::Other, "Again", 0);
    let id = added.place_id;
    let place = sources.place(added);
    let rating = sources.rate(id, MemberId::generate(), 4);
    let review = sources.write_review(ReviewId::generate(), id);

    let first = apply(
        &pool,
        &[
            place.clone(),
            rating.clone(),
            rating.clone(),
            review.clone(),
            review.clone(),
        ],
    )
    .await;
    assert_eq!((first.applied, first.skipped), (3, 2));
    let again = apply(&pool, &[place, rating, review]).await;
    assert_eq!((again.applied, again.skipped), (0, 3));

    let body = detail(&pool, id).await;
    assert_eq!(body["rating"]["count"], 1);
    assert_eq!(body["review_count"], 1);
}

#[tokio::test]
async fn poison_events_are_set_aside_and_the_rest_of_the_batch_applied() {
    let pool = support::model().await;
    let mut sources = Sources::default();
    let added = place("Survivor", Category::Cafe, "Still here", 0);
    let id = added.place_id;
    let mut unreadable = sources.write_review(ReviewId::generate(), id);
    unreadable.payload = serde_json::value::to_raw_value(&json!({"nonsense": true})).unwrap();
    let out_of_range = sources.rate(id, MemberId::generate(), 9);
    let mut foreign = sources.rate(id, MemberId::generate(), 3);
    foreign.source = "elsewhere".to_owned();
    let batch = [
        sources.place(added),
        unreadable.clone(),
        out_of_range.clone(),
        foreign.clone(),
        sources.rate(id, MemberId::generate(), 5),
        sources.write_review(ReviewId::generate(), id),
    ];

    let outcome = apply(&pool, &batch).await;
    let mut poisoned: Vec<_> = outcome
        .poisoned
        .iter()
        .map(|(event_id, _)| *event_id)
        .collect();
    poisoned.sort();
    let mut expected = vec![unreadable.event_id, out_of_range.event_id, foreign.event_id];
    expected.sort();
    assert_eq!(poisoned, expected);
    assert_eq!(outcome.applied, 3);
    assert_eq!(projection::apply::poisoned_count(&pool).await.unwrap(), 3);

    let body = detail(&pool, id).await;
    assert_eq!(body["rating"]["count"], 1);
    assert_eq!(body["rating"]["average"], 5.0);
    assert_eq!(body["review_count"], 1);
}

#[tokio::test]
async fn unknown_and_malformed_place_ids_are_refused() {
    let pool = support::model().await;
    let router = support::router(&pool, Duration::ZERO);
    let unknown = get(&router, &format!("/places/{}", PlaceId::generate())).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body["code"], "not_found");
    let malformed = get(&router, "/places/not-a-uuid").await;
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.body["errors"][0]["field"], "place_id");
}
