//! Duplicates, poison events and reset.

use events::{MemberId, PlaceId};
use projection::ReadModel;
use review_feed::ReviewFeed;
use review_feed::read;
use serde_json::value::RawValue;

use super::support::{Sources, Written, apply, checksum, model};

#[tokio::test]
async fn the_same_event_twice_in_one_batch_is_applied_once() {
    let pool = model().await;
    let mut sources = Sources::default();
    let written = Written::new(PlaceId::generate(), MemberId::generate(), 1);
    let write = sources.write(&written);
    let edit = sources.edit(&written, "Edited once", Vec::new());

    let outcome = apply(&pool, &[write.clone(), write, edit.clone(), edit]).await;

    assert_eq!((outcome.applied, outcome.skipped), (2, 2));
    let shown = read::review(&pool, written.review_id.as_uuid())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shown.title, "Edited once");
}

#[tokio::test]
async fn a_redelivered_batch_is_skipped_and_changes_nothing() {
    let pool = model().await;
    let mut sources = Sources::default();
    let (member, place) = (MemberId::generate(), PlaceId::generate());
    let written = Written::new(place, member, 1);
    let first = vec![
        sources.register(member, "ana"),
        sources.write(&written),
        sources.rate(member, place, 4),
    ];
    apply(&pool, &first).await;
    // A later event of the same source, then the first batch again, as after a crash
    // before the ack.
    apply(&pool, &[sources.delete(&written)]).await;
    let before = checksum(&pool).await;

    let outcome = apply(&pool, &first).await;

    assert_eq!((outcome.applied, outcome.skipped), (0, 3));
    assert_eq!(checksum(&pool).await, before);
    let gone = read::review(&pool, written.review_id.as_uuid())
        .await
        .unwrap();
    assert_eq!(
        gone, None,
        "the redelivered write must not bring the review back"
    );
}

#[tokio::test]
async fn an_undecodable_event_is_set_aside_and_the_rest_of_the_batch_applied() {
    let pool = model().await;
    let mut sources = Sources::default();
    let (member, place) = (MemberId::generate(), PlaceId::generate());
    let before = Written::new(place, member, 1);
    let after = Written::new(place, member, 2);
    let write_before = sources.write(&before);
    let mut broken = sources.write(&Written::new(place, member, 3));
    broken.payload = RawValue::from_string(r#"{"review_id": 42}"#.to_owned()).unwrap();
    let batch = [write_before, broken.clone(), sources.write(&after)];

    let outcome = apply(&pool, &batch).await;

    assert_eq!(outcome.applied, 2);
    assert_eq!(outcome.poisoned.len(), 1);
    assert_eq!(outcome.poisoned[0].0, broken.event_id);
    let recorded: Vec<(uuid::Uuid, String)> =
        sqlx::query_as("SELECT event_id, event_type FROM projection_poisoned")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(recorded, vec![(broken.event_id, broken.event_type.clone())]);
    for written in [&before, &after] {
        let shown = read::review(&pool, written.review_id.as_uuid())
            .await
            .unwrap();
        assert!(shown.is_some(), "the rest of the batch is applied");
    }
}

#[tokio::test]
async fn an_event_of_a_service_the_model_does_not_consume_is_poison() {
    let pool = model().await;
    let mut sources = Sources::default();
    let mut stray = sources.register(MemberId::generate(), "ana");
    stray.source = "billing".to_owned();

    let outcome = apply(&pool, &[stray.clone()]).await;

    assert_eq!(outcome.poisoned.len(), 1);
    assert!(
        outcome.poisoned[0].1.contains("billing"),
        "{:?}",
        outcome.poisoned
    );
}

#[tokio::test]
async fn reset_empties_every_table() {
    let pool = model().await;
    let empty = checksum(&pool).await;
    let mut sources = Sources::default();
    let (member, place) = (MemberId::generate(), PlaceId::generate());
    apply(
        &pool,
        &[
            sources.register(member, "ana"),
            sources.add_place(place, "Café Central"),
            sources.rate(member, place, 4),
            sources.write(&Written::new(place, member, 1)),
        ],
    )
    .await;
    assert_ne!(checksum(&pool).await, empty);

    let mut conn = pool.acquire().await.unwrap();
    ReviewFeed.reset(&mut conn).await.unwrap();
    drop(conn);

    assert_eq!(checksum(&pool).await, empty);
}
