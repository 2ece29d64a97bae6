//! Commands over direct reply-to.

use std::time::Duration;

use message_bus::{
    CancellationToken, ConsumerConfig, DIRECT_REPLY_TO, IncomingMessage, RpcError, RpcOutcome,
    serve_commands,
};
use testkit::poll;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::support::{DEADLINE, Recorder, TRACEPARENT, TestBus, header};

/// A server that replies `handled <payload>` and records each command.
fn spawn_server(
    t: &TestBus,
    service: &str,
) -> (
    Recorder,
    CancellationToken,
    JoinHandle<Result<(), message_bus::ConsumerError>>,
) {
    let seen = Recorder::default();
    let sink = seen.clone();
    let stop = CancellationToken::new();
    let config = ConsumerConfig::new(t.names.command_queue(service), service);
    let task = tokio::spawn(serve_commands(
        t.bus.clone(),
        config,
        move |command: IncomingMessage| {
            let reply = [b"handled ".as_slice(), &command.payload].concat();
            sink.record(command);
            async move { Ok(reply) }
        },
        stop.clone(),
    ));
    (seen, stop, task)
}

#[tokio::test]
async fn a_command_call_returns_the_service_reply() {
    let t = TestBus::start(|topology| topology.command_queue("members")).await;
    let (seen, stop, server) = spawn_server(&t, "members");
    let client = t.bus.command_client();

    let id = Uuid::new_v4();
    let outcome = client
        .call(
            "members",
            id,
            b"register".to_vec(),
            Some(TRACEPARENT),
            DEADLINE,
        )
        .await
        .unwrap();
    assert_eq!(outcome, RpcOutcome::Replied(b"handled register".to_vec()));

    let command = seen.all().remove(0);
    assert_eq!(command.message_id, Some(id.to_string()));
    assert_eq!(command.correlation_id, Some(id.to_string()));
    assert_eq!(command.traceparent.as_deref(), Some(TRACEPARENT));
    assert!(command.reply_to.unwrap().starts_with(DIRECT_REPLY_TO));

    stop.cancel();
    server.await.unwrap().unwrap();
    assert_eq!(t.depth(&t.names.command_queue("members")).await, 0, "acked");
    t.cleanup().await;
}

#[tokio::test]
async fn a_command_nobody_answers_in_time_is_accepted_and_stays_queued() {
    let t = TestBus::start(|topology| topology.command_queue("ratings")).await;
    let queue = t.names.command_queue("ratings");
    let id = Uuid::new_v4();
    let outcome = t
        .bus
        .command_client()
        .call(
            "ratings",
            id,
            b"rate".to_vec(),
            None,
            Duration::from_millis(200),
        )
        .await
        .unwrap();
    assert_eq!(outcome, RpcOutcome::Accepted);

    poll::until("the command to be queued", DEADLINE, || async {
        (t.depth(&queue).await == 1).then_some(())
    })
    .await;
    let queued = t.get(&queue).await.unwrap();
    let properties = &queued.delivery.properties;
    assert_eq!(queued.delivery.data, b"rate");
    assert_eq!(
        properties.message_id().as_ref().map(ToString::to_string),
        Some(id.to_string())
    );
    assert_eq!(
        properties
            .correlation_id()
            .as_ref()
            .map(ToString::to_string),
        Some(id.to_string())
    );
    assert_eq!(properties.delivery_mode(), &Some(2));
    assert_eq!(header(&queued, "message-id"), Some(id.to_string()));
    t.cleanup().await;
}

#[tokio::test]
async fn a_command_for_a_service_without_a_queue_is_unroutable() {
    let t = TestBus::start(|topology| topology).await;
    let error = t
        .bus
        .command_client()
        .call("nobody", Uuid::new_v4(), b"{}".to_vec(), None, DEADLINE)
        .await
        .unwrap_err();
    assert!(
        matches!(error, RpcError::Unroutable(ref service) if service == "nobody"),
        "{error}"
    );
    t.cleanup().await;
}

#[tokio::test]
async fn command_calls_work_again_after_the_connection_is_lost() {
    let t = TestBus::start(|topology| topology.command_queue("places")).await;
    let (_seen, stop, server) = spawn_server(&t, "places");
    let client = t.bus.command_client();
    let call = |payload: &'static [u8]| {
        client.call("places", Uuid::new_v4(), payload.to_vec(), None, DEADLINE)
    };
    assert_eq!(
        call(b"first").await.unwrap(),
        RpcOutcome::Replied(b"handled first".to_vec())
    );

    let generation = t.bus.wait_connected().await.unwrap();
    t.kill_connection().await;
    t.reconnected_after(generation).await;

    // The reply consumer and the server's consumer both come back by themselves.
    assert_eq!(
        call(b"second").await.unwrap(),
        RpcOutcome::Replied(b"handled second".to_vec())
    );
    stop.cancel();
    server.await.unwrap().unwrap();
    t.cleanup().await;
}
