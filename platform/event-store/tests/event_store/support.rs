//! Per-test stores and event builders.

use event_store::{AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent};
use testkit::database::TestDatabase;
use uuid::Uuid;

/// A migrated store in a database of its own.
pub async fn store() -> (TestDatabase, EventStore) {
    // `RUST_LOG=event_store=debug` shows what the relays did when a test fails.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let database = TestDatabase::create().await;
    let store = EventStore::new(database.pool(40).await, "testing");
    store.migrate().await.expect("migrate the event store");
    (database, store)
}

pub fn event(n: usize) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "testing.Happened".to_owned(),
        schema_version: 1,
        payload: serde_json::json!({ "n": n }),
    }
}

pub fn request(stream_id: &str, expected: i64, events: Vec<NewEvent>) -> AppendRequest {
    AppendRequest {
        stream_id: stream_id.to_owned(),
        expected_version: ExpectedVersion(expected),
        events,
        metadata: EventMetadata {
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            actor: None,
            traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned()),
        },
        command_id: None,
    }
}

pub fn stream() -> String {
    format!("thing-{}", Uuid::new_v4())
}
