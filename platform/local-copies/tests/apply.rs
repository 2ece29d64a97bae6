//! The local copy against a real database: later events win whatever order they arrive in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use events::members::{MemberDeactivated, MemberEvent, MemberRegistered};
use events::places::{Category, PlaceAdded, PlaceClosed, PlaceEvent, PlaceUpdated};
use events::{Checkpoint, Event, MemberId, PlaceId, RecordedEvent};
use local_copies::{Applied, KnownPlace, apply, member_active, place_status};
use serde_json::value::RawValue;
use sqlx::PgPool;
use testkit::database::TestDatabase;
use time::OffsetDateTime;
use uuid::Uuid;

async fn pool() -> PgPool {
    let pool = TestDatabase::create().await.pool(2).await;
    local_copies::migrate(&pool).await.unwrap();
    pool
}

/// `event` as it arrives from the bus, at `transaction_id` in its source's commit order.
fn arriving<E: Event>(event: E, transaction_id: u64) -> RecordedEvent<Box<RawValue>> {
    RecordedEvent {
        source: E::SERVICE.to_owned(),
        event_id: Uuid::now_v7(),
        event_type: event.wire_name().to_owned(),
        schema_version: event.schema_version(),
        stream_id: event.stream_id(),
        stream_version: 1,
        checkpoint: Checkpoint::new(transaction_id, 1),
        recorded_at: OffsetDateTime::now_utc(),
        correlation_id: Uuid::now_v7(),
        causation_id: None,
        actor: None,
        traceparent: None,
        payload: serde_json::value::to_raw_value(&event).unwrap(),
    }
}

fn added(place_id: PlaceId) -> PlaceEvent {
    PlaceAdded {
        place_id,
        name: "Harbour Museum".to_owned(),
        category: Category::Museum,
        address: "2 Quay".to_owned(),
        description: String::new(),
        added_by: MemberId::from(Uuid::now_v7()),
        added_at: OffsetDateTime::now_utc(),
    }
    .into()
}

fn closed(place_id: PlaceId) -> PlaceEvent {
    PlaceClosed {
        place_id,
        closed_by: MemberId::from(Uuid::now_v7()),
        closed_at: OffsetDateTime::now_utc(),
    }
    .into()
}

#[tokio::test]
async fn a_place_is_unknown_then_open_then_closed() {
    let pool = pool().await;
    let place_id = PlaceId::from(Uuid::now_v7());
    assert_eq!(
        place_status(&pool, place_id).await.unwrap(),
        KnownPlace::Unknown
    );

    apply(&pool, &arriving(added(place_id), 10)).await.unwrap();
    assert_eq!(
        place_status(&pool, place_id).await.unwrap(),
        KnownPlace::Open
    );
    apply(&pool, &arriving(closed(place_id), 11)).await.unwrap();
    assert_eq!(
        place_status(&pool, place_id).await.unwrap(),
        KnownPlace::Closed
    );
}

#[tokio::test]
async fn an_older_event_arriving_late_changes_nothing() {
    let pool = pool().await;
    let place_id = PlaceId::from(Uuid::now_v7());
    let late = arriving(added(place_id), 10);

    apply(&pool, &arriving(closed(place_id), 11)).await.unwrap();
    let outcome = apply(&pool, &late).await.unwrap();
    let again = apply(&pool, &late).await.unwrap();

    assert_eq!(
        (outcome, again),
        (Applied::AlreadyNewer, Applied::AlreadyNewer)
    );
    assert_eq!(
        place_status(&pool, place_id).await.unwrap(),
        KnownPlace::Closed
    );
}

#[tokio::test]
async fn members_are_active_until_deactivated_even_when_unknown() {
    let pool = pool().await;
    let (known, unknown) = (
        MemberId::from(Uuid::now_v7()),
        MemberId::from(Uuid::now_v7()),
    );
    let registered = MemberEvent::from(MemberRegistered {
        member_id: known,
        nickname: "ada".to_owned(),
        registered_at: OffsetDateTime::now_utc(),
    });
    let deactivated = MemberEvent::from(MemberDeactivated {
        member_id: known,
        deactivated_at: OffsetDateTime::now_utc(),
    });

    apply(&pool, &arriving(registered, 5)).await.unwrap();
    assert!(member_active(&pool, known).await.unwrap());
    apply(&pool, &arriving(deactivated, 6)).await.unwrap();

    assert!(!member_active(&pool, known).await.unwrap());
    assert!(member_active(&pool, unknown).await.unwrap());
}

#[tokio::test]
async fn events_the_copy_does_not_keep_are_ignored() {
    let pool = pool().await;
    let place_id = PlaceId::from(Uuid::now_v7());
    let updated = PlaceEvent::from(PlaceUpdated {
        place_id,
        name: Some("New name".to_owned()),
        category: None,
        address: None,
        description: None,
        updated_by: MemberId::from(Uuid::now_v7()),
        updated_at: OffsetDateTime::now_utc(),
    });

    let outcome = apply(&pool, &arriving(updated, 3)).await.unwrap();

    assert_eq!(outcome, Applied::Ignored);
    assert_eq!(
        place_status(&pool, place_id).await.unwrap(),
        KnownPlace::Unknown
    );
}

#[tokio::test]
async fn an_unreadable_subscribed_event_is_an_error_not_a_skip() {
    let pool = pool().await;
    let mut broken = arriving(closed(PlaceId::from(Uuid::now_v7())), 4);
    broken.payload = RawValue::from_string(r#"{"place_id": 42}"#.to_owned()).unwrap();

    let outcome = apply(&pool, &broken).await;

    assert!(outcome.is_err(), "{outcome:?}");
}
