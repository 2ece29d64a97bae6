//! Delivery faults: duplicates, redeliveries and events that cannot be applied.

use events::{MemberId, PlaceId, ReviewId};
use projection::apply::poisoned_count;
use serde_json::value::to_raw_value;

use crate::support::{
    Feed, apply, deleted, model, nickname_changed, ranking, rated, registered, standings, written,
};

#[tokio::test]
async fn an_event_twice_in_one_batch_is_applied_once() {
    let pool = model().await;
    let mut feed = Feed::default();
    let member = MemberId::generate();
    let review = written(ReviewId::generate(), member, PlaceId::generate());
    let write = feed.review(review.clone());
    let batch = [
        write.clone(),
        feed.review(deleted(&review)),
        // Applied again, it would bring the deleted review back.
        write,
    ];

    let outcome = apply(&pool, &batch).await;

    assert_eq!((outcome.applied, outcome.skipped), (2, 1));
    assert_eq!(standings(&pool).await, []);
}

#[tokio::test]
async fn an_event_redelivered_in_a_later_batch_is_skipped() {
    let pool = model().await;
    let mut feed = Feed::default();
    let (member, place) = (MemberId::generate(), PlaceId::generate());
    let first = feed.rating(rated(member, place, 5));
    apply(
        &pool,
        &[
            feed.review(written(ReviewId::generate(), member, place)),
            first.clone(),
        ],
    )
    .await;
    apply(&pool, &[feed.rating(rated(member, place, 3))]).await;

    // Applied again, it would put back the five stars the second rating replaced.
    let outcome = apply(&pool, &[first]).await;

    assert_eq!((outcome.applied, outcome.skipped), (0, 1));
    assert_eq!(standings(&pool).await, [(member, 1, Some(3.0))]);
}

#[tokio::test]
async fn a_second_live_review_of_one_place_by_one_member_is_set_aside() {
    let pool = model().await;
    let mut feed = Feed::default();
    let (member, place) = (MemberId::generate(), PlaceId::generate());
    // The reviews service refuses a second review while the first is live; if one came anyway,
    // counting it or dropping it silently would both hide the fault.
    let batch = [
        feed.review(written(ReviewId::generate(), member, place)),
        feed.rating(rated(member, place, 4)),
        feed.review(written(ReviewId::generate(), member, place)),
    ];

    let outcome = apply(&pool, &batch).await;

    assert_eq!(outcome.applied, 2);
    assert_eq!(outcome.poisoned.len(), 1);
    assert_eq!(outcome.poisoned[0].0, batch[2].event_id);
    assert!(
        outcome.poisoned[0].1.contains("still live"),
        "{}",
        outcome.poisoned[0].1
    );
    assert_eq!(poisoned_count(&pool).await.unwrap(), 1);
    assert_eq!(standings(&pool).await, [(member, 1, Some(4.0))]);
}

#[tokio::test]
async fn stars_outside_one_to_five_are_poison() {
    let pool = model().await;
    let mut feed = Feed::default();
    let member = MemberId::generate();
    let places = [
        PlaceId::generate(),
        PlaceId::generate(),
        PlaceId::generate(),
    ];
    let mut batch: Vec<_> = places
        .iter()
        .map(|place| feed.review(written(ReviewId::generate(), member, *place)))
        .collect();
    let (zero, six) = (
        feed.rating(rated(member, places[0], 0)),
        feed.rating(rated(member, places[1], 6)),
    );
    batch.extend([
        zero.clone(),
        six.clone(),
        feed.rating(rated(member, places[2], 5)),
    ]);

    let outcome = apply(&pool, &batch).await;

    let poisoned: Vec<_> = outcome.poisoned.iter().map(|(id, _)| *id).collect();
    assert_eq!(poisoned, [zero.event_id, six.event_id]);
    assert_eq!(standings(&pool).await, [(member, 3, Some(5.0))]);
}

#[tokio::test]
async fn a_payload_that_does_not_decode_is_set_aside_and_the_rest_applied() {
    let pool = model().await;
    let mut feed = Feed::default();
    let member = MemberId::generate();
    let registration = feed.member(registered(member, "ada"));
    let mut unreadable = feed.member(nickname_changed(member, "never"));
    unreadable.payload = to_raw_value(&serde_json::json!({ "member_id": 42 })).unwrap();
    let batch = [
        registration,
        unreadable.clone(),
        feed.review(written(ReviewId::generate(), member, PlaceId::generate())),
    ];

    let outcome = apply(&pool, &batch).await;

    assert_eq!(outcome.applied, 2);
    assert_eq!(outcome.poisoned.len(), 1);
    assert_eq!(outcome.poisoned[0].0, unreadable.event_id);
    assert_eq!(poisoned_count(&pool).await.unwrap(), 1);
    assert_eq!(ranking(&pool).await[0].nickname.as_deref(), Some("ada"));
    // Set aside, not retried: the checkpoint moved past it.
    assert_eq!(apply(&pool, &batch).await.skipped, 3);
}

#[tokio::test]
async fn an_event_of_a_service_the_model_does_not_read_is_poison() {
    let pool = model().await;
    let mut feed = Feed::default();
    let mut stray = feed.member(nickname_changed(MemberId::generate(), "ada"));
    stray.source = "places".to_owned();

    let outcome = apply(&pool, &[stray]).await;

    assert_eq!(outcome.poisoned.len(), 1);
    assert!(outcome.poisoned[0].1.contains("places"));
    assert_eq!(poisoned_count(&pool).await.unwrap(), 1);
}

#[tokio::test]
async fn a_members_event_after_a_poisoned_registration_still_applies() {
    let pool = model().await;
    let mut feed = Feed::default();
    let member = MemberId::generate();
    let mut registration = feed.member(registered(member, "ada"));
    registration.schema_version = 99;

    let outcome = apply(
        &pool,
        &[
            registration,
            feed.member(nickname_changed(member, "countess")),
            feed.review(written(ReviewId::generate(), member, PlaceId::generate())),
        ],
    )
    .await;

    assert_eq!((outcome.applied, outcome.poisoned.len()), (2, 1));
    assert_eq!(
        ranking(&pool).await[0].nickname.as_deref(),
        Some("countess")
    );
}
