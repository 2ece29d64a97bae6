//! Appending: versions, optimistic concurrency and command deduplication.

use super::support::{event, request, store, stream};
use event_store::AppendError;
use events::CommandReply;
use uuid::Uuid;

#[tokio::test]
async fn appended_events_load_back_in_version_order_with_their_metadata() {
    let (_db, store) = store().await;
    let stream = stream();
    let request = request(&stream, 0, vec![event(1), event(2), event(3)]);

    let appended = store.append(&request).await.unwrap();
    let loaded = store.load(&stream, 1).await.unwrap();

    assert_eq!(appended.version, 3);
    assert_eq!(
        loaded.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(loaded[2].checkpoint, appended.checkpoint);
    assert_eq!(loaded[1].payload.get(), r#"{"n": 2}"#);
    assert_eq!(loaded[0].event_id, request.events[0].event_id);
    assert_eq!(loaded[0].correlation_id, request.metadata.correlation_id);
    assert_eq!(loaded[0].traceparent, request.metadata.traceparent);
    assert_eq!(loaded[0].source, "testing");
    assert_eq!(store.load(&stream, 3).await.unwrap().len(), 1);
}

#[tokio::test]
async fn of_two_appends_at_the_same_expected_version_exactly_one_wins() {
    let (_db, store) = store().await;
    let stream = stream();
    store
        .append(&request(&stream, 0, vec![event(0)]))
        .await
        .unwrap();

    let first = request(&stream, 1, vec![event(1)]);
    let second = request(&stream, 1, vec![event(2)]);
    let (a, b) = tokio::join!(store.append(&first), store.append(&second));

    let outcomes = [a, b];
    let wins = outcomes.iter().filter(|o| o.is_ok()).count();
    let conflicts = outcomes
        .iter()
        .filter(|o| {
            matches!(
                o,
                Err(AppendError::Conflict {
                    expected: 1,
                    actual: 2,
                    ..
                })
            )
        })
        .count();
    assert_eq!((wins, conflicts), (1, 1), "{outcomes:?}");
    assert_eq!(store.load(&stream, 1).await.unwrap().len(), 2);
}

#[tokio::test]
async fn an_expected_version_that_is_ahead_or_behind_the_stream_conflicts() {
    let (_db, store) = store().await;
    let stream = stream();
    store
        .append(&request(&stream, 0, vec![event(0), event(1)]))
        .await
        .unwrap();

    let ahead = store.append(&request(&stream, 5, vec![event(2)])).await;
    let behind = store.append(&request(&stream, 1, vec![event(2)])).await;
    let recreate = store.append(&request(&stream, 0, vec![event(2)])).await;

    for outcome in [ahead, behind, recreate] {
        assert!(
            matches!(outcome, Err(AppendError::Conflict { actual: 2, .. })),
            "{outcome:?}"
        );
    }
    assert_eq!(store.load(&stream, 1).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_command_processed_twice_appends_once_and_answers_the_first_reply() {
    let (_db, store) = store().await;
    let command_id = Uuid::now_v7();
    let stream = stream();
    let mut first = request(&stream, 0, vec![event(1)]);
    first.command_id = Some(command_id);
    let mut again = request(&stream, 1, vec![event(1)]);
    again.command_id = Some(command_id);

    let appended = store.append(&first).await.unwrap();
    let duplicate = store.append(&again).await;
    let stored = store.command_reply(command_id).await.unwrap().unwrap();

    let Err(AppendError::AlreadyProcessed(reply)) = duplicate else {
        panic!("expected the stored reply, got {duplicate:?}");
    };
    assert_eq!(*reply, stored);
    let CommandReply::Success(ok) = stored else {
        panic!("expected an ok reply, got {stored:?}");
    };
    assert_eq!(ok.stream_id, stream);
    assert_eq!(ok.version, appended.version);
    assert_eq!(ok.consistency_token.source, "testing");
    assert_eq!(ok.consistency_token.checkpoint, appended.checkpoint);
    assert_eq!(store.load(&stream, 1).await.unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_deliveries_of_one_command_append_once() {
    let (_db, store) = store().await;
    let command_id = Uuid::now_v7();
    let requests: Vec<_> = (0..8)
        .map(|_| {
            let mut request = request(&stream(), 0, vec![event(0)]);
            request.command_id = Some(command_id);
            request
        })
        .collect();

    let outcomes = futures::future::join_all(requests.iter().map(|r| store.append(r))).await;

    let appended = outcomes.iter().filter(|o| o.is_ok()).count();
    let deduplicated = outcomes
        .iter()
        .filter(|o| matches!(o, Err(AppendError::AlreadyProcessed(_))))
        .count();
    assert_eq!((appended, deduplicated), (1, 7), "{outcomes:?}");
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(total, 1);
}

#[tokio::test]
async fn a_refused_command_keeps_its_first_reply() {
    let (_db, store) = store().await;
    let command_id = Uuid::now_v7();
    let first = CommandReply::rejected(events::ErrorCode::Conflict, "email already registered");
    let later = CommandReply::rejected(events::ErrorCode::Validation, "something else");

    assert_eq!(store.record_reply(command_id, &first).await.unwrap(), first);
    assert_eq!(store.record_reply(command_id, &later).await.unwrap(), first);
    assert_eq!(store.command_reply(command_id).await.unwrap(), Some(first));
    assert_eq!(store.command_reply(Uuid::now_v7()).await.unwrap(), None);
}

#[tokio::test]
async fn an_append_inside_a_rolled_back_transaction_leaves_nothing() {
    let (_db, store) = store().await;
    let stream = stream();
    let mut request = request(&stream, 0, vec![event(0)]);
    request.command_id = Some(Uuid::now_v7());

    let mut tx = store.pool().begin().await.unwrap();
    store.append_in(&mut tx, &request).await.unwrap();
    tx.rollback().await.unwrap();

    assert!(store.load(&stream, 1).await.unwrap().is_empty());
    assert_eq!(
        store
            .command_reply(request.command_id.unwrap())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn an_empty_append_is_refused() {
    let (_db, store) = store().await;
    let outcome = store.append(&request(&stream(), 0, vec![])).await;
    assert!(matches!(outcome, Err(AppendError::NoEvents)), "{outcome:?}");
}

#[tokio::test]
async fn a_public_event_contract_round_trips_through_the_store() {
    use events::places::{Category, PlaceAdded, PlaceEvent};
    use events::{Event, MemberId, PlaceId};

    let (_db, store) = store().await;
    let added = PlaceEvent::from(PlaceAdded {
        place_id: PlaceId::generate(),
        name: "Café Lumen".to_owned(),
        category: Category::Cafe,
        address: "1 Quay Street".to_owned(),
        description: String::new(),
        added_by: MemberId::generate(),
        added_at: time::OffsetDateTime::UNIX_EPOCH,
    });
    let new_event = event_store::NewEvent::from_contract(&added).unwrap();

    store
        .append(&request(&added.stream_id(), 0, vec![new_event]))
        .await
        .unwrap();
    let loaded = store.load(&added.stream_id(), 1).await.unwrap();

    let decoded = PlaceEvent::decode(
        &loaded[0].event_type,
        loaded[0].schema_version,
        &*loaded[0].payload,
    )
    .unwrap();
    assert_eq!(decoded, added);
    assert_eq!(loaded[0].event_type, "places.PlaceAdded");
}

#[tokio::test]
async fn an_append_that_loses_on_its_version_records_neither_its_events_nor_its_command() {
    let (_db, store) = store().await;
    let stream = stream();
    store
        .append(&request(&stream, 0, vec![event(0)]))
        .await
        .unwrap();
    let mut stale = request(&stream, 0, vec![event(1)]);
    stale.command_id = Some(Uuid::now_v7());

    let outcome = store.append(&stale).await;

    assert!(
        matches!(outcome, Err(AppendError::Conflict { actual: 1, .. })),
        "{outcome:?}"
    );
    assert_eq!(store.load(&stream, 1).await.unwrap().len(), 1);
    assert_eq!(
        store
            .command_reply(stale.command_id.unwrap())
            .await
            .unwrap(),
        None,
        "the command was recorded without its events"
    );
}
