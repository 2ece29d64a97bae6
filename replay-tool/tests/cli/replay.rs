//! `waypoint replay`: a store's history to one new queue, and to no other.

use std::time::Duration;

use events::{Checkpoint, RecordedEvent};
use message_bus::lapin::options::{BasicGetOptions, QueueDeclareOptions};
use message_bus::lapin::types::FieldTable;
use message_bus::{IncomingMessage, Topology};
use replay_tool::Outcome;
use reqwest::Method;
use serde_json::{Value, json};
use system_testkit::{Service, TestApp};

use crate::support::waypoint;

const PLACE_EVENTS: [&str; 3] = [
    "places.PlaceAdded",
    "places.PlaceUpdated",
    "places.PlaceClosed",
];

/// Declares queues bound the way a projection's queue is (`waypoint.events.<name>`).
async fn declare(app: &TestApp, queues: &[(&str, &[&str])]) {
    let topology = queues.iter().fold(
        Topology::new(app.system.names().clone()),
        |topology, (name, patterns)| topology.events_queue(name, patterns.iter().copied()),
    );
    let channel = app.system.bus().channel().await.unwrap().channel;
    topology.declare(&channel).await.unwrap();
}

/// Everything in `queue`, taken off it.
async fn drain(app: &TestApp, queue: &str) -> Vec<IncomingMessage> {
    let channel = app.system.bus().channel().await.unwrap().channel;
    let mut messages = Vec::new();
    while let Some(got) = channel
        .basic_get(queue.into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
    {
        messages.push(IncomingMessage::from_delivery(&got.delivery, queue));
    }
    messages
}

async fn depth(app: &TestApp, queue: &str) -> u32 {
    let channel = app.system.bus().channel().await.unwrap().channel;
    let options = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(queue.into(), options, FieldTable::default())
        .await
        .unwrap()
        .message_count()
}

#[tokio::test]
async fn a_new_queue_gets_exactly_the_source_history_and_no_other_queue_gets_anything() {
    let app = TestApp::with_services().await;
    let session = app.register().await;
    let first = app.add_place(&session, "Harbour Café").await;
    let updated = app
        .call(
            Method::PATCH,
            &format!("/api/v1/places/{first}"),
            Some(&session.access_token),
            Some(json!({ "name": "Harbour Café & Books" })),
        )
        .await;
    assert!(updated.status.is_success(), "{:?}", updated.body);
    app.add_place(&session, "Lighthouse Bar").await;

    // The relay has published all of it before the queues exist, so only the replay can fill
    // them.
    let store = app.store_of(Service::Places).await;
    projection_testkit::wait_until_readable(&store).await;
    let head = store.head().await.unwrap();
    testkit::poll::until(
        "the relay to publish the history",
        Duration::from_secs(20),
        || {
            let pool = store.pool().clone();
            async move {
                let published: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM relay_checkpoints
                  WHERE (transaction_id, position) >= ($1::text::xid8, $2)",
                )
                .bind(head.transaction_id.to_string())
                .bind(head.position)
                .fetch_one(&pool)
                .await
                .unwrap();
                (published > 0).then_some(())
            }
        },
    )
    .await;
    let history = store.read_all(Checkpoint::ORIGIN, 100).await.unwrap();
    assert_eq!(history.len(), 3);
    declare(
        &app,
        &[
            ("new-projection", &PLACE_EVENTS),
            ("added-only", &["places.PlaceAdded"]),
            ("bystander", &PLACE_EVENTS),
        ],
    )
    .await;
    let names = app.system.names().clone();

    let ran = waypoint(
        &app,
        &[
            "replay",
            "--source",
            "places",
            "--to",
            "new-projection",
            "--json",
        ],
    )
    .await;
    assert!(matches!(ran.outcome, Ok(Outcome::Ok)), "{ran:?}");
    let report = ran.json();
    assert_eq!(report["published"], 3, "{report:#}");
    assert_eq!(
        report["queue"],
        names.events_queue("new-projection").as_str()
    );

    // Exactly the history, in commit order, as the relay publishes it.
    let received = drain(&app, &names.events_queue("new-projection")).await;
    assert_eq!(received.len(), history.len());
    for (message, event) in received.iter().zip(&history) {
        let event_id = event.event_id.to_string();
        assert_eq!(message.message_id.as_deref(), Some(event_id.as_str()));
        assert_eq!(
            message.correlation_id.as_deref(),
            Some(event.correlation_id.to_string().as_str())
        );
        assert_eq!(message.routing_key, event.event_type);
        assert_eq!(message.exchange, names.events_exchange());
        let body: RecordedEvent<Value> = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(body.event_id, event.event_id);
        assert_eq!(body.checkpoint, event.checkpoint);
        assert_eq!(
            body.payload,
            serde_json::from_str::<Value>(event.payload.get()).unwrap()
        );
    }
    assert_eq!(depth(&app, &names.events_queue("bystander")).await, 0);

    // From a point on, and only what the queue is bound for.
    let after_first = format!(
        "{}.{}",
        history[0].checkpoint.transaction_id, history[0].checkpoint.position
    );
    let ran = waypoint(
        &app,
        &[
            "replay",
            "--source",
            "places",
            "--to",
            "added-only",
            "--from",
            &after_first,
            "--json",
        ],
    )
    .await;
    let report = ran.json();
    assert_eq!(report["published"], 1, "{report:#}");
    assert_eq!(report["left_out"], 1, "{report:#}");
    let received = drain(&app, &names.events_queue("added-only")).await;
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].message_id.as_deref(),
        Some(history[2].event_id.to_string().as_str())
    );
    assert_eq!(depth(&app, &names.events_queue("bystander")).await, 0);
    assert_eq!(depth(&app, &names.events_queue("new-projection")).await, 0);

    // A queue that does not exist is an error that says what to do.
    let missing = waypoint(&app, &["replay", "--source", "places", "--to", "nowhere"]).await;
    let error = missing.outcome.unwrap_err();
    assert!(error.problem.contains("no queue"), "{error}");
    assert!(error.hint.is_some());

    app.finish().await;
}
