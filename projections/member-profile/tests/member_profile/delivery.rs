//! Delivery faults: duplicates, redeliveries and events that cannot be applied.

use events::{MemberId, PlaceId, ReviewId};
use projection::apply::poisoned_count;
use serde_json::value::to_raw_value;

use crate::support::{
    Feed, apply, deleted, fresh_profile, model, nickname_changed, profile, rated, registered,
    written,
};

#[tokio::test]
async fn an_event_twice_in_one_batch_is_applied_once() {
    let pool = model().await;
    let mut feed = Feed::default();
    let member = MemberId::generate();
    let review = ReviewId::generate();
    let write = feed.review(written(review, member));
    let batch = [
        feed.member(registered(member, "ada")),
        write.clone(),
        feed.review(deleted(review, member)),
        // Applied again, it would bring the deleted review back.
        write,
    ];

    let outcome = apply(&pool, &batch).await;

    assert_eq!((outcome.applied, outcome.skipped), (3, 1));
    assert_eq!(profile(&pool, member).await.unwrap().review_count, 0);
}

#[tokio::test]
async fn an_event_redelivered_in_a_later_batch_is_skipped() {
    let pool = model().await;
    let mut feed = Feed::default();
    let member = MemberId::generate();
    let place = PlaceId::generate();
    let first = feed.rating(rated(member, place, 5));
    apply(
        &pool,
        &[feed.member(registered(member, "ada")), first.clone()],
    )
    .await;
    apply(&pool, &[feed.rating(rated(member, place, 3))]).await;

    // Applied again, it would put back the five stars the second rating replaced.
    let outcome = apply(&pool, &[first]).await;

    assert_eq!((outcome.applied, outcome.skipped), (0, 1));
    let shown = profile(&pool, member).await.unwrap();
    assert_eq!(
        (shown.rating_count, shown.average_stars_given),
        (1, Some(3.0))
    );
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
        feed.review(written(ReviewId::generate(), member)),
    ];

    let outcome = apply(&pool, &batch).await;

    assert_eq!(outcome.applied, 2);
    assert_eq!(outcome.poisoned.len(), 1);
    assert_eq!(outcome.poisoned[0].0, unreadable.event_id);
    assert_eq!(poisoned_count(&pool).await.unwrap(), 1);
    let mut expected = fresh_profile(member, "ada");
    expected.review_count = 1;
    assert_eq!(profile(&pool, member).await, Some(expected));
    // Set aside, not retried: the checkpoint moved past it.
    assert_eq!(apply(&pool, &batch).await.skipped, 3);
}

#[tokio::test]
async fn an_event_of_a_service_the_model_does_not_read_is_poison() {
    let pool = model().await;
    let mut feed = Feed::default();
    let member = MemberId::generate();
    let mut stray = feed.member(nickname_changed(member, "ada"));
    stray.source = "places".to_owned();

    let outcome = apply(&pool, &[stray]).await;

    assert_eq!(outcome.poisoned.len(), 1);
    assert!(outcome.poisoned[0].1.contains("places"));
    assert_eq!(poisoned_count(&pool).await.unwrap(), 1);
}

#[tokio::test]
async fn a_later_members_event_of_a_poisoned_registration_changes_nothing() {
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
        ],
    )
    .await;

    assert_eq!((outcome.applied, outcome.poisoned.len()), (1, 1));
    assert_eq!(profile(&pool, member).await, None);
}
