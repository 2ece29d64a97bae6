//! Publishing, consuming and the declared topology.

use std::time::Duration;

use message_bus::{
    Bus, BusConfig, BusError, BusNames, ConnectOptions, ConsumerConfig, OutgoingMessage, Topology,
    headers,
};
use testkit::poll;
use testkit::rabbitmq;
use uuid::Uuid;

use crate::support::{DEADLINE, TRACEPARENT, TestBus, spawn_recorder};

#[tokio::test]
async fn a_published_message_arrives_with_its_ids_and_trace_context() {
    let t = TestBus::start(|topology| topology.events_queue("feed", ["places.*"])).await;
    let queue = t.names.events_queue("feed");
    let (seen, consumer) = spawn_recorder(&t.bus, ConsumerConfig::new(&queue, "feed"));

    let id = Uuid::new_v4();
    let confirmed = t
        .bus
        .publisher()
        .publish(
            OutgoingMessage::new(
                t.names.events_exchange(),
                "places.PlaceAdded",
                br#"{"name":"Cafe Central"}"#.to_vec(),
            )
            .with_message_id(id)
            .with_correlation_id("request-42")
            .with_traceparent(Some(TRACEPARENT.to_owned()))
            .with_header("event-type", "PlaceAdded")
            .mandatory(true),
        )
        .await
        .expect("the broker confirms");
    assert!(
        !confirmed.returned,
        "a bound queue exists, nothing is returned"
    );

    poll::until("the message to be handled", DEADLINE, || async {
        (seen.len() == 1).then_some(())
    })
    .await;
    let message = seen.all().remove(0);
    assert_eq!(message.payload, br#"{"name":"Cafe Central"}"#);
    assert_eq!(message.exchange, t.names.events_exchange());
    assert_eq!(message.routing_key, "places.PlaceAdded");
    assert_eq!(message.queue, queue);
    assert_eq!(message.message_id, Some(id.to_string()));
    assert_eq!(message.correlation_id.as_deref(), Some("request-42"));
    assert_eq!(message.traceparent.as_deref(), Some(TRACEPARENT));
    assert_eq!(message.header(headers::MESSAGE_ID), Some(id.to_string()));
    assert_eq!(
        message.header(headers::CORRELATION_ID).as_deref(),
        Some("request-42")
    );
    assert_eq!(
        message.header(headers::TRACEPARENT).as_deref(),
        Some(TRACEPARENT)
    );
    assert_eq!(message.header("event-type").as_deref(), Some("PlaceAdded"));
    assert_eq!(message.attempt, 1);
    assert!(!message.redelivered);

    consumer.stop().await;
    assert_eq!(t.depth(&queue).await, 0, "the message was acked");
    t.cleanup().await;
}

#[tokio::test]
async fn an_unroutable_mandatory_message_is_confirmed_as_returned() {
    let t = TestBus::start(|topology| topology).await;
    let publisher = t.bus.publisher();
    let returned = publisher
        .publish(
            OutgoingMessage::new(t.names.events_exchange(), "nobody.Listens", b"{}".to_vec())
                .mandatory(true),
        )
        .await
        .unwrap();
    assert!(returned.returned);
    // Without `mandatory` the broker drops it silently: confirmed, not returned.
    let dropped = publisher
        .publish(OutgoingMessage::new(
            t.names.events_exchange(),
            "nobody.Listens",
            b"{}".to_vec(),
        ))
        .await
        .unwrap();
    assert!(!dropped.returned);
    t.cleanup().await;
}

#[tokio::test]
async fn many_sends_in_flight_at_once_arrive_in_send_order() {
    const COUNT: usize = 1000;
    let t = TestBus::start(|topology| topology.events_queue("bulk", ["bulk.*"])).await;
    let queue = t.names.events_queue("bulk");
    let publisher = t.bus.publisher();
    let mut pending = Vec::new();
    for n in 0..COUNT {
        let message = OutgoingMessage::new(
            t.names.events_exchange(),
            "bulk.Happened",
            n.to_string().into_bytes(),
        );
        pending.push(publisher.send(message).await.unwrap());
    }
    for confirm in pending {
        assert!(!confirm.await.unwrap().returned);
    }
    assert_eq!(t.depth(&queue).await as usize, COUNT);

    let (seen, consumer) = spawn_recorder(&t.bus, ConsumerConfig::new(&queue, "bulk"));
    poll::until("every message to be handled", DEADLINE, || async {
        (seen.len() == COUNT).then_some(())
    })
    .await;
    consumer.stop().await;
    let order: Vec<usize> = seen
        .all()
        .iter()
        .map(|message| String::from_utf8_lossy(&message.payload).parse().unwrap())
        .collect();
    assert_eq!(
        order,
        (0..COUNT).collect::<Vec<_>>(),
        "the queue holds them in send order"
    );
    t.cleanup().await;
}

#[tokio::test]
async fn the_topology_declares_the_documented_exchanges_and_queue_types() {
    let t = TestBus::start(|topology| {
        topology
            .command_queue("reviews")
            .events_queue("review-feed", ["reviews.*"])
            .dead_letter_queue("review-feed")
    })
    .await;
    for exchange in [
        t.names.commands_exchange(),
        t.names.events_exchange(),
        t.names.config_exchange(),
        t.names.dead_letters_exchange(),
    ] {
        assert!(
            rabbitmq::exchange_exists(&exchange).await,
            "{exchange} exists"
        );
    }
    assert_eq!(
        t.names.commands_exchange(),
        format!("{}.waypoint.commands", t.prefix)
    );

    let commands = rabbitmq::queue(&t.names.command_queue("reviews"))
        .await
        .unwrap();
    assert_eq!(commands["type"], "quorum");
    assert_eq!(commands["durable"], true);
    let events = rabbitmq::queue(&t.names.events_queue("review-feed"))
        .await
        .unwrap();
    assert_eq!(events["durable"], true);
    assert_eq!(events["arguments"]["x-single-active-consumer"], true);
    let dead = rabbitmq::queue(&t.names.dead_letter_queue("review-feed"))
        .await
        .unwrap();
    assert_eq!(dead["type"], "quorum");
    t.cleanup().await;
}

#[tokio::test]
async fn connecting_to_an_unreachable_broker_fails_after_the_timeout() {
    let names = BusNames::with_prefix(rabbitmq::unique_prefix());
    let config = BusConfig {
        // Port 1 refuses connections immediately.
        url: "amqp://guest:guest@127.0.0.1:1/%2f".to_owned(),
        connection_name: "unreachable".to_owned(),
        topology: Topology::new(names.clone()),
        names,
    };
    let options = ConnectOptions {
        first_connect_timeout: Duration::from_millis(300),
        reconnect_min_delay: Duration::from_millis(20),
        ..ConnectOptions::default()
    };
    let error = Bus::connect_with(config, options).await.unwrap_err();
    assert!(
        matches!(error, BusError::FirstConnectTimeout { .. }),
        "unexpected error: {error}"
    );
}

/// The outbox relay's pattern: batches of 1000 sends, then all their confirms. Run with
/// `cargo test -p message-bus --release --test bus throughput -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn throughput_of_batched_confirmed_publishing() {
    const TOTAL: usize = 50_000;
    let t = TestBus::start(|topology| topology.events_queue("bench", ["bench.*"])).await;
    let publisher = t.bus.publisher();
    let started = std::time::Instant::now();
    for _ in 0..TOTAL / 1000 {
        let mut pending = Vec::with_capacity(1000);
        for _ in 0..1000 {
            let message = OutgoingMessage::new(
                t.names.events_exchange(),
                "bench.Measured",
                br#"{"place_id":"0190b3f2-6a2e-7c4e-9b1a-3f5d2c8e9a10","stars":4}"#.to_vec(),
            )
            .mandatory(true);
            pending.push(publisher.send(message).await.unwrap());
        }
        for confirm in pending {
            confirm.await.unwrap();
        }
    }
    let rate = TOTAL as f64 / started.elapsed().as_secs_f64();
    println!("published {TOTAL} persistent messages with confirms: {rate:.0} msg/s");
    let queue = t.names.events_queue("bench");
    assert_eq!(t.depth(&queue).await as usize, TOTAL);

    let started = std::time::Instant::now();
    let config = ConsumerConfig::new(&queue, "bench").with_prefetch(200);
    let (seen, consumer) = spawn_recorder(&t.bus, config);
    poll::until(
        "everything to be consumed",
        Duration::from_secs(120),
        || async { (seen.len() == TOTAL).then_some(()) },
    )
    .await;
    let rate = TOTAL as f64 / started.elapsed().as_secs_f64();
    println!("consumed and acked one at a time: {rate:.0} msg/s");
    consumer.stop().await;
    t.cleanup().await;
}
