//! The per-command transaction against a real event store: conflicts retried with a fresh
//! load and then answered, refusals remembered except `unavailable`, no-event commands recorded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};

use command_handler::{Aggregate, CommandMeta, CommandRunner, PrivateWrite};
use event_store::{AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent};
use events::places::{PlaceClosed, PlaceEvent};
use events::{Actor, CommandReply, ErrorCode, MemberId, PlaceId, Rejection};
use sqlx::PgConnection;
use testkit::database::TestDatabase;
use time::OffsetDateTime;
use uuid::Uuid;

/// Counts the events of its stream.
#[derive(Debug, Default)]
struct Count(i64);

impl Aggregate for Count {
    type Event = PlaceEvent;

    fn evolve(self, _event: &PlaceEvent) -> Self {
        Self(self.0 + 1)
    }
}

fn closed() -> PlaceEvent {
    PlaceClosed {
        place_id: PlaceId::from(Uuid::now_v7()),
        closed_by: MemberId::from(Uuid::now_v7()),
        closed_at: OffsetDateTime::now_utc(),
    }
    .into()
}

fn meta() -> CommandMeta {
    CommandMeta {
        command_id: Uuid::now_v7(),
        command_type: "places.ClosePlace".to_owned(),
        correlation_id: Uuid::now_v7(),
        actor: Actor::anonymous(),
        traceparent: None,
    }
}

async fn store() -> EventStore {
    let db = TestDatabase::create().await;
    let store = EventStore::new(db.pool(4).await, "places");
    store.migrate().await.unwrap();
    store
}

/// Another writer that commits to the same stream while the command's transaction is open,
/// the first `times` times it is asked to.
struct Interferer {
    store: EventStore,
    stream: String,
    times: usize,
    done: AtomicUsize,
}

impl PrivateWrite<PlaceEvent> for Interferer {
    async fn write(
        &self,
        _conn: &mut PgConnection,
        _events: &[PlaceEvent],
    ) -> Result<Result<(), Rejection>, sqlx::Error> {
        if self.done.fetch_add(1, Ordering::SeqCst) < self.times {
            let version = self.store.load(&self.stream, 1).await.unwrap().len() as i64;
            let request = AppendRequest {
                stream_id: self.stream.clone(),
                expected_version: ExpectedVersion(version),
                events: vec![NewEvent::from_contract(&closed()).unwrap()],
                metadata: EventMetadata::default(),
                command_id: None,
            };
            self.store.append(&request).await.unwrap();
        }
        Ok(Ok(()))
    }
}

fn interferer(store: &EventStore, stream: &str, times: usize) -> Interferer {
    Interferer {
        store: store.clone(),
        stream: stream.to_owned(),
        times,
        done: AtomicUsize::new(0),
    }
}

#[tokio::test]
async fn a_version_conflict_is_decided_again_on_the_new_state() {
    let store = store().await;
    let runner = CommandRunner::new(store.clone());
    let stream = format!("place-{}", Uuid::now_v7());
    let decided_on = std::sync::Mutex::new(Vec::new());

    let reply = runner
        .execute::<Count, _, _>(
            &meta(),
            &stream,
            |count| {
                decided_on.lock().unwrap().push(count.0);
                Ok(vec![closed()])
            },
            &interferer(&store, &stream, 1),
        )
        .await
        .unwrap();

    let CommandReply::Success(success) = reply else {
        panic!("expected success, got {reply:?}");
    };
    assert_eq!(success.version, 2, "the other writer's event, then ours");
    assert_eq!(*decided_on.lock().unwrap(), [0, 1]);
}

#[tokio::test]
async fn conflicts_beyond_the_retries_are_answered_conflict_and_remembered() {
    let store = store().await;
    let runner = CommandRunner::new(store.clone()).with_conflict_retries(2);
    let stream = format!("place-{}", Uuid::now_v7());
    let decisions = AtomicUsize::new(0);
    let meta = meta();

    let reply = runner
        .execute::<Count, _, _>(
            &meta,
            &stream,
            |_| {
                decisions.fetch_add(1, Ordering::SeqCst);
                Ok(vec![closed()])
            },
            &interferer(&store, &stream, usize::MAX),
        )
        .await
        .unwrap();

    let CommandReply::Rejection(rejection) = &reply else {
        panic!("expected a conflict, got {reply:?}");
    };
    assert_eq!(rejection.code, ErrorCode::Conflict);
    assert_eq!(
        decisions.load(Ordering::SeqCst),
        3,
        "the first try and two retries"
    );
    assert_eq!(
        store.command_reply(meta.command_id).await.unwrap(),
        Some(reply)
    );
    assert_eq!(
        store.load(&stream, 1).await.unwrap().len(),
        3,
        "only the other writer's"
    );
}

#[tokio::test]
async fn a_command_that_changes_nothing_is_recorded_with_the_current_version() {
    let store = store().await;
    let runner = CommandRunner::new(store.clone());
    let stream = format!("place-{}", Uuid::now_v7());
    runner
        .execute::<Count, _, _>(&meta(), &stream, |_| Ok(vec![closed()]), &())
        .await
        .unwrap();
    let meta = meta();

    let reply = runner
        .execute::<Count, _, _>(&meta, &stream, |_| Ok(vec![]), &())
        .await
        .unwrap();

    let CommandReply::Success(success) = &reply else {
        panic!("expected success, got {reply:?}");
    };
    assert_eq!(success.version, 1);
    assert_eq!(
        store.command_reply(meta.command_id).await.unwrap(),
        Some(reply)
    );
}

#[tokio::test]
async fn refusals_are_remembered_but_unavailable_is_not() {
    let store = store().await;
    let runner = CommandRunner::new(store.clone());
    let (refused, unavailable) = (meta(), meta());

    let reply = runner
        .execute::<Count, _, _>(
            &refused,
            "place-x",
            |_| Err(Rejection::new(ErrorCode::Forbidden, "not yours")),
            &(),
        )
        .await
        .unwrap();
    runner
        .refuse(
            &unavailable,
            Rejection::new(ErrorCode::Unavailable, "object storage is down"),
        )
        .await
        .unwrap();

    assert_eq!(
        store.command_reply(refused.command_id).await.unwrap(),
        Some(reply)
    );
    assert_eq!(
        store.command_reply(unavailable.command_id).await.unwrap(),
        None
    );
}
