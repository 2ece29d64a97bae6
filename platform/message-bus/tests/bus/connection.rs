//! Losing the broker connection in the middle of a stream.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use message_bus::{ConsumerConfig, OutgoingMessage, PendingConfirm, Publisher, QueueKind};
use testkit::poll;
use testkit::rabbitmq;
use tokio::sync::watch;
use uuid::Uuid;

use crate::support::{DEADLINE, TestBus, spawn_consumer};

const BATCH: usize = 200;
/// Messages released to the publisher per phase; the connection is cut when half are confirmed.
const PHASE: usize = 2000;

/// What the publisher confirmed (in order) and how many sends it had to repeat.
#[derive(Debug, Default, Clone)]
struct Published {
    confirmed: Vec<Uuid>,
    resends: usize,
}

/// Publishes in batches while its budget allows, resending whatever was not confirmed, as the
/// outbox relay does. Ends when the budget stops growing (its sender is dropped).
async fn publish_stream(
    publisher: Publisher,
    exchange: String,
    mut budget: watch::Receiver<usize>,
    progress: watch::Sender<Published>,
) {
    let mut published = Published::default();
    loop {
        let allowed = match budget
            .wait_for(|allowed| *allowed > published.confirmed.len())
            .await
        {
            Ok(allowed) => *allowed,
            Err(_) => return,
        };
        let count = (allowed - published.confirmed.len()).min(BATCH);
        let mut todo: Vec<Uuid> = (0..count).map(|_| Uuid::new_v4()).collect();
        while !todo.is_empty() {
            let mut in_flight: Vec<(Uuid, PendingConfirm)> = Vec::new();
            let mut failed = Vec::new();
            for id in todo.drain(..) {
                let message = OutgoingMessage::new(&exchange, "orders.Placed", b"{}".to_vec())
                    .with_message_id(id);
                match publisher.send(message).await {
                    Ok(pending) => in_flight.push((id, pending)),
                    Err(error) if error.is_retryable() => failed.push(id),
                    Err(error) => panic!("unexpected publish error: {error}"),
                }
            }
            for (id, pending) in in_flight {
                match pending.await {
                    Ok(_) => published.confirmed.push(id),
                    Err(error) if error.is_retryable() => failed.push(id),
                    Err(error) => panic!("unexpected confirm error: {error}"),
                }
            }
            published.resends += failed.len();
            todo = failed;
        }
        progress.send_replace(published.clone());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_loses_no_confirmed_message_and_everything_resumes() {
    let t = TestBus::start(|topology| {
        let probe = topology.names().qualify("probe");
        topology
            .events_queue("orders", ["orders.*"])
            .queue(&probe, QueueKind::Events)
    })
    .await;
    let queue = t.names.events_queue("orders");
    let probe = t.names.qualify("probe");

    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let sink = seen.clone();
    let consumer = spawn_consumer(
        &t.bus,
        ConsumerConfig::new(&queue, "orders"),
        move |message| {
            let id = message.message_id.clone().unwrap_or_default();
            *sink.lock().unwrap().entry(id).or_default() += 1;
            async { Ok(()) }
        },
    );

    let (budget, budget_rx) = watch::channel(0);
    let (progress_tx, mut progress) = watch::channel(Published::default());
    let publisher = tokio::spawn(publish_stream(
        t.bus.publisher(),
        t.names.events_exchange(),
        budget_rx,
        progress_tx,
    ));

    // An operator deletes a queue while we are connected; the next connection must re-declare it.
    rabbitmq::delete_queue(&probe).await;
    assert!(rabbitmq::queue(&probe).await.is_none());

    // Twice: release a phase of messages and cut the connection when half of them are confirmed,
    // so publishes, confirms, deliveries and acks are all in flight.
    let mut generation = t.bus.wait_connected().await.unwrap();
    let mut killed: Option<String> = None;
    for phase in 1..=2 {
        let connection = t.listed_connection(killed.as_deref()).await;
        budget.send_replace(phase * PHASE);
        let half = (phase - 1) * PHASE + PHASE / 2;
        progress
            .wait_for(|published| published.confirmed.len() >= half)
            .await
            .unwrap();
        rabbitmq::close_connection(&connection).await;
        killed = Some(connection);
        generation = t.reconnected_after(generation).await;
    }
    assert!(
        generation >= 3,
        "two reconnects happened (generation {generation})"
    );

    // A last phase on the recovered connection, then the stream ends.
    budget.send_replace(3 * PHASE);
    let published = progress
        .wait_for(|published| published.confirmed.len() >= 3 * PHASE)
        .await
        .unwrap()
        .clone();
    drop(budget);
    tokio::time::timeout(DEADLINE, publisher)
        .await
        .expect("the publisher finishes")
        .expect("the publisher does not panic");

    let expected: HashSet<String> = published.confirmed.iter().map(Uuid::to_string).collect();
    assert_eq!(expected.len(), 3 * PHASE);
    // Consumption is throughput-bound; on a machine busy compiling it can take a while.
    poll::until(
        "every confirmed message to be consumed",
        3 * DEADLINE,
        || {
            let (seen, expected) = (seen.clone(), expected.clone());
            async move {
                let seen = seen.lock().unwrap();
                expected
                    .iter()
                    .all(|id| seen.contains_key(id))
                    .then_some(())
            }
        },
    )
    .await;
    let seen = seen.lock().unwrap().clone();
    let duplicates: usize = seen.values().map(|count| count - 1).sum();
    println!(
        "{} confirmed, {} resent after connection loss, {duplicates} delivered twice",
        expected.len(),
        published.resends,
    );
    assert!(
        published.resends > 0 || duplicates > 0,
        "the cuts happened while messages were in flight"
    );

    assert!(
        rabbitmq::queue(&probe).await.is_some(),
        "the reconnect re-declared the deleted queue"
    );
    assert!(t.bus.is_connected());
    consumer.stop().await;
    assert_eq!(t.depth(&queue).await, 0, "everything delivered was acked");
    t.cleanup().await;
}
