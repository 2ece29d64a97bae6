//! Failing handlers: retries at the tail of the queue, then the dead-letter queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use message_bus::{ConsumerConfig, HandlingError, OutgoingMessage, headers};
use testkit::poll;
use uuid::Uuid;

use crate::support::{DEADLINE, Recorder, TestBus, header, spawn_consumer};

#[tokio::test]
async fn a_poison_message_is_dead_lettered_after_max_attempts_while_the_queue_keeps_flowing() {
    let t = TestBus::start(|topology| topology.command_queue("places")).await;
    let queue = t.names.command_queue("places");
    let dead_letters = t.names.dead_letter_queue("places");

    let poison_attempts = Arc::new(AtomicU32::new(0));
    let handled = Recorder::default();
    let (attempts, sink) = (poison_attempts.clone(), handled.clone());
    let config = ConsumerConfig::new(&queue, "places")
        .with_max_attempts(3)
        .with_prefetch(5);
    let consumer = spawn_consumer(&t.bus, config, move |message| {
        let poisoned = message.payload == b"poison";
        if poisoned {
            attempts.fetch_add(1, Ordering::SeqCst);
        } else {
            sink.record(message);
        }
        async move {
            if poisoned {
                Err(HandlingError::new("payload is not a command"))
            } else {
                Ok(())
            }
        }
    });

    let publisher = t.bus.publisher();
    let poison_id = Uuid::new_v4();
    let command = |payload: &[u8]| {
        OutgoingMessage::new(t.names.commands_exchange(), "places", payload.to_vec())
            .mandatory(true)
    };
    publisher
        .publish(command(b"poison").with_message_id(poison_id))
        .await
        .unwrap();
    for n in 0..20 {
        publisher
            .publish(command(format!("{{\"n\":{n}}}").as_bytes()))
            .await
            .unwrap();
    }

    poll::until(
        "the good messages and the dead letter",
        DEADLINE,
        || async { (handled.len() == 20 && t.depth(&dead_letters).await == 1).then_some(()) },
    )
    .await;
    consumer.stop().await;

    assert_eq!(poison_attempts.load(Ordering::SeqCst), 3);
    assert!(handled.all().iter().all(|message| message.attempt == 1));
    assert_eq!(
        t.depth(&queue).await,
        0,
        "nothing left in the command queue"
    );

    let dead = t.get(&dead_letters).await.expect("a dead letter");
    assert_eq!(dead.delivery.data, b"poison");
    assert_eq!(
        dead.delivery
            .properties
            .message_id()
            .as_ref()
            .map(ToString::to_string),
        Some(poison_id.to_string())
    );
    assert_eq!(header(&dead, headers::ATTEMPTS).as_deref(), Some("3"));
    assert_eq!(
        header(&dead, headers::ERROR).as_deref(),
        Some("payload is not a command")
    );
    assert_eq!(header(&dead, headers::ORIGINAL_QUEUE), Some(queue.clone()));
    assert_eq!(
        header(&dead, headers::ORIGINAL_ROUTING_KEY).as_deref(),
        Some("places")
    );
    assert_eq!(
        header(&dead, headers::ORIGINAL_EXCHANGE),
        Some(t.names.commands_exchange())
    );
    assert_eq!(
        header(&dead, headers::MESSAGE_ID),
        Some(poison_id.to_string())
    );
    t.cleanup().await;
}

#[tokio::test]
async fn a_panicking_handler_is_a_failed_attempt_and_the_runner_survives() {
    let t = TestBus::start(|topology| topology.command_queue("ratings")).await;
    let queue = t.names.command_queue("ratings");
    let dead_letters = t.names.dead_letter_queue("ratings");
    let handled = Recorder::default();
    let sink = handled.clone();
    let config = ConsumerConfig::new(&queue, "ratings").with_max_attempts(2);
    let consumer = spawn_consumer(&t.bus, config, move |message| {
        let sink = sink.clone();
        async move {
            assert!(message.payload != b"boom", "handler bug");
            sink.record(message);
            Ok(())
        }
    });

    let publisher = t.bus.publisher();
    let send = |payload: &[u8]| {
        publisher.publish(OutgoingMessage::new(
            t.names.commands_exchange(),
            "ratings",
            payload.to_vec(),
        ))
    };
    send(b"boom").await.unwrap();
    send(b"fine").await.unwrap();

    poll::until("the dead letter and the good message", DEADLINE, || async {
        (handled.len() == 1 && t.depth(&dead_letters).await == 1).then_some(())
    })
    .await;
    consumer.stop().await;
    let dead = t.get(&dead_letters).await.unwrap();
    assert_eq!(header(&dead, headers::ATTEMPTS).as_deref(), Some("2"));
    let reason = header(&dead, headers::ERROR).unwrap();
    assert!(
        reason.contains("panicked") && reason.contains("handler bug"),
        "{reason}"
    );
    t.cleanup().await;
}
