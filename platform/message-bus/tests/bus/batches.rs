//! The batch runner: batches in queue order, a failed batch retried in place, dead letters on
//! request.

use std::sync::{Arc, Mutex};

use message_bus::{
    CancellationToken, ConsumerConfig, HandlingError, OutgoingMessage, run_batch_consumer,
};
use testkit::poll;

use crate::support::{DEADLINE, TestBus};

#[tokio::test]
async fn a_failed_batch_is_retried_in_order_and_rejected_messages_are_dead_lettered() {
    let t = TestBus::start(|topology| topology.events_queue("feed", ["places.*"])).await;
    let queue = t.names.events_queue("feed");
    let dead_letters = t.names.dead_letter_queue("projection.feed");
    let publisher = t.bus.publisher();
    for n in 0..50 {
        let message = OutgoingMessage::new(
            t.names.events_exchange(),
            "places.PlaceAdded",
            n.to_string().into_bytes(),
        );
        publisher.publish(message).await.unwrap();
    }

    // Every batch fails once; "13" is given up on; everything else is kept in arrival order.
    let kept = Arc::new(Mutex::new(Vec::<u32>::new()));
    let failed_once = Arc::new(Mutex::new(std::collections::HashSet::<u32>::new()));
    let stop = CancellationToken::new();
    let config = ConsumerConfig::new(&queue, "projection.feed").with_prefetch(20);
    let (sink, failures) = (Arc::clone(&kept), Arc::clone(&failed_once));
    let consumer = tokio::spawn(run_batch_consumer(
        t.bus.clone(),
        config,
        10,
        move |messages| {
            let numbers: Vec<u32> = messages
                .iter()
                .map(|m| String::from_utf8_lossy(&m.payload).parse().unwrap())
                .collect();
            let first_try = failures.lock().unwrap().insert(numbers[0]);
            let (sink, numbers) = (Arc::clone(&sink), numbers);
            async move {
                if first_try {
                    return Err(HandlingError::new("the database blinked"));
                }
                let mut dead = Vec::new();
                for (index, n) in numbers.iter().enumerate() {
                    if *n == 13 {
                        dead.push((index, "thirteen is unlucky".to_owned()));
                    } else {
                        sink.lock().unwrap().push(*n);
                    }
                }
                Ok(dead)
            }
        },
        stop.clone(),
    ));

    poll::until("every message handled", DEADLINE, || async {
        (kept.lock().unwrap().len() == 49 && t.depth(&dead_letters).await == 1).then_some(())
    })
    .await;
    let expected: Vec<u32> = (0..50).filter(|n| *n != 13).collect();
    assert_eq!(*kept.lock().unwrap(), expected, "in order, each once");
    assert_eq!(t.depth(&queue).await, 0, "everything acked");
    stop.cancel();
    consumer.await.unwrap().unwrap();
    t.cleanup().await;
}
