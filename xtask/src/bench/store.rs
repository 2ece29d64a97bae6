//! `cargo xtask bench store`: the event store and relay against this machine's own limits.
//!
//! Limits and store figures come from the same run on the same fresh database, so their ratio
//! means something on a shared, noisy machine:
//! - `limit_single_insert_tx_per_s`: 16 connections, one-row INSERT transactions into a copy
//!   of the events table (same columns, constraints and indexes);
//! - `limit_batched_insert_events_per_s`: the same rows, 1,000 per INSERT;
//! - `append_new_stream_events_per_s`: `EventStore::append`, 1 event, fresh streams, 16 writers
//!   (it and the single-insert limit alternate over three rounds; each is the median);
//! - `append_existing_stream_events_per_s`: load a 20-event stream, append 1, 16 writers;
//! - `relay_events_per_s`: the relay publishing the filled store (≥ 200,000 events), confirms;
//! - `catchup_read_events_per_s`: `read_all` over the same store, pages of 5,000.
//!
//! Two more limits are measured for the table only (the JSON keeps the figures above):
//! - `limit_confirmed_publish_per_s`: the broker's rate for the relay's own messages (same
//!   sizes, same exchange and queue, batches with confirms), without the database;
//! - `limit_raw_read_events_per_s`: the same commit-order query, rows fetched but not decoded.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use event_store::RelayConfig;
use event_store::{AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, Relay};
use events::Checkpoint;
use message_bus::lapin::options::QueuePurgeOptions;
use message_bus::{Bus, BusConfig, BusNames, OutgoingMessage, Topology};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Executor, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Suite;
use super::harness::{
    AMQP_URL, BenchDatabase, create_limit_table, delete_topology, limit_insert, median, payload,
    rate,
};
use super::report::{self, Row};

const WRITERS: usize = 16;
const MEASURE_FOR: Duration = Duration::from_secs(4);
/// Rounds of the single-insert limit alternating with the append it is compared with.
const ROUNDS: usize = 3;
const EXISTING_STREAM_LENGTH: i64 = 20;
/// Streams prepared for the existing-stream append: one append each, so every load reads 20.
/// If the writers use them all up before the period ends, the rate covers the time they took.
const EXISTING_STREAMS: usize = 24_000;
const MIN_RELAY_EVENTS: i64 = 200_000;

pub fn run(root: &Path) -> Result<()> {
    crate::services::ensure(root)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let rows = runtime.block_on(measure())?;
    report::publish(root, Suite::Store, &rows)?;
    Ok(())
}

async fn measure() -> Result<Vec<Row>> {
    let database = BenchDatabase::create().await?;
    let result = measure_on(&database).await;
    database.drop().await?;
    result
}

async fn measure_on(database: &BenchDatabase) -> Result<Vec<Row>> {
    let pool = PgPoolOptions::new()
        .max_connections(WRITERS as u32 + 2)
        .connect(&database.url)
        .await?;
    let store = EventStore::new(pool.clone(), "bench");
    store.migrate().await?;
    create_limit_table(&pool).await?;

    // The single-insert limit and the append it is compared with alternate, and each figure is
    // the median of its rounds: drift on a shared machine then hits both alike.
    let mut single = Vec::new();
    let mut append_new = Vec::new();
    for round in 1..=ROUNDS {
        eprintln!("round {round}/{ROUNDS}: single-insert limit, then appends to new streams…");
        let limit_pool = pool.clone();
        single.push(
            timed(&pool, move |_| {
                let pool = limit_pool.clone();
                async move { limit_insert(&pool, 1).await.map(|()| 1) }
            })
            .await?,
        );
        let writer_store = store.clone();
        append_new.push(
            timed(&pool, move |_| {
                let store = writer_store.clone();
                async move {
                    let stream = format!("new-{}", Uuid::now_v7());
                    store.append(&request(stream, 0, 1)).await?;
                    Ok(1)
                }
            })
            .await?,
        );
    }
    let (single, append_new) = (median(single), median(append_new));

    eprintln!("measuring the batched-insert limit…");
    let limit_pool = pool.clone();
    let batched = timed(&pool, move |_| {
        let pool = limit_pool.clone();
        async move { limit_insert(&pool, 1_000).await.map(|()| 1_000) }
    })
    .await?;

    eprintln!("preparing {EXISTING_STREAMS} streams of {EXISTING_STREAM_LENGTH} events…");
    let streams = prepare_streams(&store).await?;
    eprintln!("measuring load-then-append on existing streams…");
    let next = Arc::new(AtomicU64::new(0));
    let writer_store = store.clone();
    let append_existing = timed(&pool, move |_| {
        let store = writer_store.clone();
        let streams = streams.clone();
        let next = next.clone();
        async move {
            let index = next.fetch_add(1, Ordering::Relaxed) as usize;
            let Some(stream) = streams.get(index) else {
                return Ok(0);
            };
            let loaded = store.load(stream, 1).await?;
            let version = loaded.last().map_or(0, |e| e.stream_version);
            store.append(&request(stream.clone(), version, 1)).await?;
            Ok(1)
        }
    })
    .await?;

    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await?;
    if total < MIN_RELAY_EVENTS {
        fill(&store, MIN_RELAY_EVENTS - total).await?;
    }
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await?;

    eprintln!("measuring raw reads over {total} events…");
    let raw_read = raw_read_rate(&pool, total).await?;
    eprintln!("measuring catch-up reads over {total} events…");
    let catchup = catchup_rate(&store, total).await?;
    eprintln!("measuring the broker's confirmed publish rate and the relay over {total} events…");
    let (broker, relay) = relay_rate(&store, total).await?;

    Ok(vec![
        Row::new("limit_single_insert_tx_per_s", single),
        Row::new("limit_batched_insert_events_per_s", batched),
        Row::limited(
            "append_new_stream_events_per_s",
            append_new,
            "limit_single_insert_tx_per_s",
        ),
        Row::limited(
            "append_existing_stream_events_per_s",
            append_existing,
            "limit_single_insert_tx_per_s",
        ),
        Row::limited("relay_events_per_s", relay, "limit_confirmed_publish_per_s"),
        Row::limited(
            "catchup_read_events_per_s",
            catchup,
            "limit_raw_read_events_per_s",
        ),
        Row::table_only("limit_confirmed_publish_per_s", broker),
        Row::table_only("limit_raw_read_events_per_s", raw_read),
    ])
}

/// [`rate`] for [`MEASURE_FOR`], from a fresh checkpoint, so no phase pays for the WAL an
/// earlier one wrote.
async fn timed<F, Fut>(pool: &PgPool, op: F) -> Result<f64>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<u64>> + Send,
{
    pool.execute("CHECKPOINT").await?;
    rate(MEASURE_FOR, WRITERS, op).await
}

fn request(stream_id: String, expected: i64, events: usize) -> AppendRequest {
    AppendRequest {
        stream_id,
        expected_version: ExpectedVersion(expected),
        events: (0..events)
            .map(|n| NewEvent {
                event_id: Uuid::now_v7(),
                event_type: "bench.Happened".to_owned(),
                schema_version: 1,
                payload: payload(n),
            })
            .collect(),
        metadata: EventMetadata {
            correlation_id: Uuid::now_v7(),
            ..EventMetadata::default()
        },
        command_id: None,
    }
}

async fn prepare_streams(store: &EventStore) -> Result<Arc<Vec<String>>> {
    let streams: Vec<String> = (0..EXISTING_STREAMS)
        .map(|_| format!("existing-{}", Uuid::now_v7()))
        .collect();
    for chunk in streams.chunks(500) {
        let appends = chunk.iter().map(|stream| async move {
            let request = request(stream.clone(), 0, EXISTING_STREAM_LENGTH as usize);
            store.append(&request).await
        });
        for outcome in futures::future::join_all(appends).await {
            outcome?;
        }
    }
    Ok(Arc::new(streams))
}

async fn fill(store: &EventStore, mut missing: i64) -> Result<()> {
    eprintln!("filling the store with {missing} more events…");
    while missing > 0 {
        let appends = (0..100).map(|_| async {
            let request = request(format!("fill-{}", Uuid::now_v7()), 0, 100);
            store.append(&request).await
        });
        for outcome in futures::future::join_all(appends).await {
            outcome?;
        }
        missing -= 100 * 100;
    }
    Ok(())
}

/// The commit-order query with rows fetched and dropped: what the driver and server can do.
async fn raw_read_rate(pool: &PgPool, total: i64) -> Result<f64> {
    let started = Instant::now();
    let (mut xid, mut position) = ("0".to_owned(), 0_i64);
    let mut read = 0_i64;
    while read < total {
        let page: Vec<(String, i64, serde_json::Value)> = sqlx::query_as(
            "SELECT transaction_id::text AS xid_text, position, payload FROM events
             WHERE (transaction_id, position) > ($1::text::xid8, $2)
               AND transaction_id < (SELECT pg_snapshot_xmin(pg_current_snapshot()))
             ORDER BY transaction_id, position LIMIT 5000",
        )
        .bind(&xid)
        .bind(position)
        .fetch_all(pool)
        .await?;
        let Some(last) = page.last() else { continue };
        (xid, position) = (last.0.clone(), last.1);
        read += page.len() as i64;
    }
    Ok(read as f64 / started.elapsed().as_secs_f64())
}

async fn catchup_rate(store: &EventStore, total: i64) -> Result<f64> {
    let started = Instant::now();
    let mut after = Checkpoint::ORIGIN;
    let mut read = 0_i64;
    while read < total {
        let page = store.read_all(after, 5_000).await?;
        let Some(last) = page.last() else { continue };
        after = last.checkpoint;
        read += page.len() as i64;
    }
    Ok(read as f64 / started.elapsed().as_secs_f64())
}

/// First the broker's own limit: as many messages as the store holds, made of its first events
/// as the relay would send them, in batches with confirms. Then the whole store through a real
/// relay, timed until its checkpoint reaches the head. Both go to the same durable events
/// queue, emptied in between.
async fn relay_rate(store: &EventStore, total: i64) -> Result<(f64, f64)> {
    let prefix = format!("bench_{}", &Uuid::new_v4().simple().to_string()[..8]);
    let names = BusNames::with_prefix(prefix);
    let topology = Topology::new(names.clone()).events_queue("sink", ["#"]);
    let bus = Bus::connect(BusConfig {
        url: AMQP_URL.to_owned(),
        connection_name: "waypoint-bench-relay".to_owned(),
        names: names.clone(),
        topology: topology.clone(),
    })
    .await?;
    let sink = names.events_queue("sink");
    let broker = broker_rate(store, &bus, &names.events_exchange(), total as usize).await?;
    purge(&bus, &sink).await?;

    let head = store.head().await?;
    let shutdown = CancellationToken::new();
    let config = RelayConfig {
        batch_size: 2_000,
        ..RelayConfig::new("bench", names.events_exchange())
    };
    let relay = Relay::new(store.clone(), bus.publisher(), config);
    let started = Instant::now();
    let running = tokio::spawn(relay.run(shutdown.clone()));
    let target = format!("{}:{}", head.transaction_id, head.position);
    loop {
        let checkpoint: Option<String> = sqlx::query_scalar(
            "SELECT transaction_id::text || ':' || position FROM relay_checkpoints
             WHERE relay = 'bench'",
        )
        .fetch_optional(store.pool())
        .await?;
        if checkpoint.as_ref() == Some(&target) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    shutdown.cancel();
    running.await?;
    delete_topology(&bus, &topology).await?;
    bus.shutdown().await;
    Ok((broker, total as f64 / elapsed.as_secs_f64()))
}

/// As many messages as the relay will publish, cycling through the store's first events.
async fn broker_rate(
    store: &EventStore,
    bus: &Bus,
    exchange: &str,
    messages: usize,
) -> Result<f64> {
    const BATCH: usize = 2_000;
    let events = store.read_all(Checkpoint::ORIGIN, BATCH as i64).await?;
    let bodies: Vec<(String, Vec<u8>)> = events
        .iter()
        .map(|event| Ok((event.event_type.clone(), serde_json::to_vec(event)?)))
        .collect::<Result<_>>()?;
    anyhow::ensure!(!bodies.is_empty(), "the store is empty; nothing to publish");
    let publisher = bus.publisher();
    let started = Instant::now();
    let mut sent = 0;
    // Like the relay, one batch's confirms are awaited while the next batch is sent.
    let mut previous = Vec::new();
    while sent < messages {
        let mut confirms = Vec::with_capacity(bodies.len());
        for (routing_key, body) in &bodies {
            let message =
                OutgoingMessage::new(exchange, routing_key.as_str(), body.clone()).mandatory(true);
            confirms.push(publisher.send(message).await?);
        }
        sent += confirms.len();
        for confirm in std::mem::replace(&mut previous, confirms) {
            confirm.await?;
        }
    }
    for confirm in previous {
        confirm.await?;
    }
    Ok(sent as f64 / started.elapsed().as_secs_f64())
}

/// Empties the sink between the two measurements, so both start from the same broker state.
async fn purge(bus: &Bus, queue: &str) -> Result<()> {
    let channel = bus.channel().await?.channel;
    channel
        .queue_purge(queue.into(), QueuePurgeOptions::default())
        .await?;
    Ok(())
}
