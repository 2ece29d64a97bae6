//! A bus per test, consumers that record what they handle, and broker inspection.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use message_bus::lapin::message::BasicGetMessage;
use message_bus::lapin::options::{BasicGetOptions, QueueDeclareOptions};
use message_bus::lapin::types::{AMQPValue, FieldTable};
use message_bus::{
    Bus, BusConfig, BusNames, CancellationToken, ConnectOptions, ConsumerConfig, HandlingError,
    IncomingMessage, Topology, run_consumer,
};
use testkit::{poll, rabbitmq};
use tokio::task::JoinHandle;

pub const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A connected bus with names no other test uses.
pub struct TestBus {
    pub bus: Bus,
    pub names: BusNames,
    pub prefix: String,
    pub connection_name: String,
}

impl TestBus {
    /// Connects with `build` applied to the standard topology under a fresh prefix.
    pub async fn start(build: impl FnOnce(Topology) -> Topology) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let prefix = rabbitmq::unique_prefix();
        let names = BusNames::with_prefix(&prefix);
        let connection_name = format!("{prefix}-bus");
        let config = BusConfig {
            url: rabbitmq::amqp_url(),
            connection_name: connection_name.clone(),
            names: names.clone(),
            topology: build(Topology::new(names.clone())),
        };
        let options = ConnectOptions {
            first_connect_timeout: Duration::from_secs(10),
            reconnect_min_delay: Duration::from_millis(20),
            reconnect_max_delay: Duration::from_millis(500),
            ..ConnectOptions::default()
        };
        let bus = Bus::connect_with(config, options)
            .await
            .expect("connect to the test broker");
        Self {
            bus,
            names,
            prefix,
            connection_name,
        }
    }

    /// Closes the connection and deletes everything under this test's prefix.
    pub async fn cleanup(self) {
        self.bus.shutdown().await;
        rabbitmq::delete_prefixed(&self.prefix).await;
    }

    /// Ready messages in `queue`, straight from the broker (the management API lags).
    pub async fn depth(&self, queue: &str) -> u32 {
        let channel = self.bus.channel().await.unwrap().channel;
        let declared = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("queue exists");
        let _ = channel.close(200, "done".into()).await;
        declared.message_count()
    }

    /// Takes one message off `queue` (acked), if there is one.
    pub async fn get(&self, queue: &str) -> Option<BasicGetMessage> {
        let channel = self.bus.channel().await.unwrap().channel;
        let message = channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic.get");
        let _ = channel.close(200, "done".into()).await;
        message
    }

    /// The broker-side name of this bus's connection, waiting until the management API lists
    /// it (it learns about new connections with a delay) and skipping `except` (a closed one).
    pub async fn listed_connection(&self, except: Option<&str>) -> String {
        let (name, except) = (self.connection_name.clone(), except.map(str::to_owned));
        poll::until("the bus connection to be listed", DEADLINE, || {
            let (name, except) = (name.clone(), except.clone());
            async move {
                rabbitmq::connections_named(&name)
                    .await
                    .into_iter()
                    .find(|listed| Some(listed) != except.as_ref())
            }
        })
        .await
    }

    /// Force-closes this bus's connection through the management API, as a network cut would.
    pub async fn kill_connection(&self) {
        rabbitmq::close_connection(&self.listed_connection(None).await).await;
    }

    /// Waits until the bus is connected on a generation newer than `after`.
    pub async fn reconnected_after(&self, after: u64) -> u64 {
        tokio::time::timeout(DEADLINE, self.bus.wait_for_generation(after))
            .await
            .expect("the bus reconnects in time")
            .expect("the bus is not shut down")
    }
}

/// What a consumer handled, shared with the test.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<IncomingMessage>>>);

impl Recorder {
    pub fn record(&self, message: IncomingMessage) {
        self.0.lock().unwrap().push(message);
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    pub fn all(&self) -> Vec<IncomingMessage> {
        self.0.lock().unwrap().clone()
    }
}

/// A consumer runner in the background and the token that stops it.
pub struct Running {
    pub stop: CancellationToken,
    pub task: JoinHandle<Result<(), message_bus::ConsumerError>>,
}

impl Running {
    pub async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("the runner stops in time")
            .expect("the runner task does not panic")
            .expect("the runner ends cleanly on shutdown");
    }
}

pub fn spawn_consumer<H, Fut>(bus: &Bus, config: ConsumerConfig, handler: H) -> Running
where
    H: Fn(IncomingMessage) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlingError>> + Send + 'static,
{
    let stop = CancellationToken::new();
    let task = tokio::spawn(run_consumer(bus.clone(), config, handler, stop.clone()));
    Running { stop, task }
}

/// A consumer that records every message and succeeds.
pub fn spawn_recorder(bus: &Bus, config: ConsumerConfig) -> (Recorder, Running) {
    let recorder = Recorder::default();
    let sink = recorder.clone();
    let running = spawn_consumer(bus, config, move |message| {
        sink.record(message);
        async { Ok(()) }
    });
    (recorder, running)
}

/// Header text of a message fetched with `basic.get`.
pub fn header(message: &BasicGetMessage, name: &str) -> Option<String> {
    let table = message.delivery.properties.headers().clone()?;
    match table.inner().get(name)? {
        AMQPValue::LongString(value) => {
            Some(String::from_utf8_lossy(value.as_bytes()).into_owned())
        }
        AMQPValue::LongLongInt(value) => Some(value.to_string()),
        other => Some(format!("{other:?}")),
    }
}
