//! `cargo xtask bench projections`: the read models against this machine's own insert limit.
//!
//! Figures (`target/bench/projections.json`):
//! - `limit_batched_insert_events_per_s`: 1,000-row INSERTs into a copy of the events table,
//!   4 connections, in the same run;
//! - `rebuild_review_feed_events_per_s`, `rebuild_place_directory_events_per_s`: a full
//!   rebuild (catch-up from the four source stores) over 1,000,000 events of every type,
//!   counted over all the events read;
//! - `live_apply_events_per_s`: the review feed draining its queue, filled beforehand with
//!   200,000 events published as the relays publish them;
//! - `lag_p50_ms`, `lag_p99_ms`: from an event's commit in its store to the review feed's
//!   checkpoint covering it (what a query with that event's consistency token waits for), with
//!   relays running and 1,000 events/s offered for 10 s.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use event_store::{AppendRequest, EventMetadata, EventStore, ExpectedVersion, Relay, RelayConfig};
use events::Checkpoint;
use message_bus::{Bus, BusConfig, BusNames, CancellationToken, OutgoingMessage, Topology};
use place_directory::PlaceDirectory;
use projection::query::AppliedSignal;
use projection::{ReadModel, catchup, checkpoints, live};
use projection_testkit::{AnyEvent, Workload};
use review_feed::ReviewFeed;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::Mutex;
use uuid::Uuid;

use super::Suite;
use super::harness::{
    AMQP_URL, BenchDatabase, create_limit_table, delete_topology, limit_insert, quantile, rate,
};
use super::report::{self, Row};

const SOURCES: [&str; 4] = ["members", "places", "reviews", "ratings"];
const HISTORY: usize = 1_000_000;
const LIVE_EVENTS: usize = 200_000;
const LAG_RATE_PER_S: u64 = 1_000;
const LAG_FOR: Duration = Duration::from_secs(10);
const BATCH: u16 = 500;
const DEADLINE: Duration = Duration::from_secs(600);

pub fn run(root: &Path) -> Result<()> {
    crate::services::ensure(root)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let rows = runtime.block_on(measure())?;
    report::publish(root, Suite::Projections, &rows)?;
    Ok(())
}

/// Every database the run creates, dropped at the end whatever happened.
#[derive(Default)]
struct Databases(Vec<BenchDatabase>);

impl Databases {
    async fn create(&mut self) -> Result<PgPool> {
        let database = BenchDatabase::create().await?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect(&database.url)
            .await?;
        self.0.push(database);
        Ok(pool)
    }

    async fn drop_all(self) -> Result<()> {
        for database in self.0 {
            database.drop().await?;
        }
        Ok(())
    }
}

async fn measure() -> Result<Vec<Row>> {
    let mut databases = Databases::default();
    let measured = measure_on(&mut databases).await;
    databases.drop_all().await?;
    measured
}

async fn measure_on(databases: &mut Databases) -> Result<Vec<Row>> {
    let limit_pool = databases.create().await?;
    EventStore::new(limit_pool.clone(), "bench")
        .migrate()
        .await?;
    create_limit_table(&limit_pool).await?;
    eprintln!("measuring the batched-insert limit…");
    let limit = rate(Duration::from_secs(4), 4, move |_| {
        let pool = limit_pool.clone();
        async move { limit_insert(&pool, 1_000).await.map(|()| 1_000) }
    })
    .await?;

    let mut stores = Vec::new();
    for source in SOURCES {
        let store = EventStore::new(databases.create().await?, source);
        store.migrate().await?;
        stores.push(store);
    }
    eprintln!("generating and storing {HISTORY} events…");
    let history = Workload::generate(42, HISTORY);
    fill(&stores, &history).await?;

    eprintln!("rebuilding the review feed…");
    let review_feed = rebuild(databases, ReviewFeed, &stores).await?;
    eprintln!("rebuilding the place directory…");
    let place_directory = rebuild(databases, PlaceDirectory, &stores).await?;

    let prefix = format!("bench_{}", &Uuid::new_v4().simple().to_string()[..8]);
    let names = BusNames::with_prefix(prefix.clone());
    let topology = live::topology::<ReviewFeed>(Topology::new(names.clone()))
        .dead_letter_queue(&format!("projection.{}", ReviewFeed::NAME));
    let bus = Bus::connect(BusConfig {
        url: AMQP_URL.to_owned(),
        connection_name: format!("waypoint-bench-{prefix}"),
        names: names.clone(),
        topology: topology.clone(),
    })
    .await?;
    let measured = live_figures(databases, &stores, &bus, &names).await;
    delete_topology(&bus, &topology).await?;
    bus.shutdown().await;
    let (live_apply, lag) = measured?;

    Ok(vec![
        Row::new("limit_batched_insert_events_per_s", limit),
        Row::limited(
            "rebuild_review_feed_events_per_s",
            review_feed,
            "limit_batched_insert_events_per_s",
        ),
        Row::limited(
            "rebuild_place_directory_events_per_s",
            place_directory,
            "limit_batched_insert_events_per_s",
        ),
        Row::limited(
            "live_apply_events_per_s",
            live_apply,
            "limit_batched_insert_events_per_s",
        ),
        Row::new("lag_p50_ms", quantile(&lag, 0.5)),
        Row::new("lag_p99_ms", quantile(&lag, 0.99)),
    ])
}

/// Stores the history as the services would have, 1,000 rows per INSERT so that filling a
/// million events takes seconds, not minutes.
async fn fill(stores: &[EventStore], history: &Workload) -> Result<()> {
    let mut versions: HashMap<String, i64> = HashMap::new();
    let mut rows: BTreeMap<&str, Vec<(String, i64, event_store::NewEvent)>> = BTreeMap::new();
    for event in &history.events {
        let stream = event.stream_id();
        let version = versions.entry(stream.clone()).or_default();
        *version += 1;
        rows.entry(event.source())
            .or_default()
            .push((stream, *version, event.to_new_event()));
    }
    for store in stores {
        let Some(rows) = rows.get(store.source()) else {
            continue;
        };
        for chunk in rows.chunks(1_000) {
            let streams: Vec<&str> = chunk.iter().map(|(stream, _, _)| stream.as_str()).collect();
            let versions: Vec<i64> = chunk.iter().map(|(_, version, _)| *version).collect();
            let ids: Vec<Uuid> = chunk.iter().map(|(_, _, event)| event.event_id).collect();
            let types: Vec<&str> = chunk
                .iter()
                .map(|(_, _, event)| event.event_type.as_str())
                .collect();
            let payloads: Vec<&serde_json::Value> =
                chunk.iter().map(|(_, _, event)| &event.payload).collect();
            sqlx::query(
                "INSERT INTO events (stream_id, stream_version, event_id, event_type,
                                     schema_version, payload, correlation_id)
                 SELECT s, v, e, t, 1, p, e
                 FROM unnest($1::text[], $2::bigint[], $3::uuid[], $4::text[], $5::jsonb[])
                      AS r(s, v, e, t, p)",
            )
            .bind(&streams)
            .bind(&versions)
            .bind(&ids)
            .bind(&types)
            .bind(&payloads)
            .execute(store.pool())
            .await?;
        }
        // As after any bulk load: without statistics the planner takes the million-row table
        // for an empty one, and the relay's reads would scan it.
        sqlx::query("ANALYZE events").execute(store.pool()).await?;
    }
    Ok(())
}

/// A full rebuild into a fresh database; events read per second, over every source.
async fn rebuild<M: ReadModel>(
    databases: &mut Databases,
    model: M,
    stores: &[EventStore],
) -> Result<f64> {
    let pool = databases.create().await?;
    projection::migrate(&pool).await?;
    model.migrate(&pool).await?;
    let started = Instant::now();
    catchup::catch_up(&pool, &model, stores).await?;
    Ok(HISTORY as f64 / started.elapsed().as_secs_f64())
}

/// The review feed draining a full queue, then its lag under a steady offered load.
async fn live_figures(
    databases: &mut Databases,
    stores: &[EventStore],
    bus: &Bus,
    names: &BusNames,
) -> Result<(f64, Vec<f64>)> {
    eprintln!("filling the review feed's queue with {LIVE_EVENTS} events…");
    let mut last_wanted: HashMap<String, Checkpoint> = HashMap::new();
    let publisher = bus.publisher();
    let mut published = 0;
    for store in stores {
        let share = (LIVE_EVENTS / stores.len()) as i64;
        let events = store.read_all(Checkpoint::ORIGIN, share).await?;
        let mut confirms = Vec::with_capacity(events.len());
        for event in &events {
            if !ReviewFeed::EVENT_TYPES.contains(&event.event_type.as_str()) {
                continue;
            }
            last_wanted.insert(event.source.clone(), event.checkpoint);
            let message = OutgoingMessage::new(
                names.events_exchange(),
                event.event_type.clone(),
                serde_json::to_vec(event)?,
            )
            .with_message_id(event.event_id);
            confirms.push(publisher.send(message).await?);
            published += 1;
        }
        for confirm in confirms {
            confirm.await?;
        }
    }

    let pool = databases.create().await?;
    projection::migrate(&pool).await?;
    ReviewFeed.migrate(&pool).await?;
    eprintln!("draining {published} events through the review feed…");
    let stop = CancellationToken::new();
    let started = Instant::now();
    let consumer = tokio::spawn(live::run(
        bus.clone(),
        pool.clone(),
        Arc::new(ReviewFeed),
        AppliedSignal::default(),
        BATCH,
        stop.clone(),
    ));
    for (source, last) in &last_wanted {
        wait_covered(&pool, source, *last).await?;
    }
    let live_apply = f64::from(published) / started.elapsed().as_secs_f64();
    // The lag is a steady-state figure, and in a steady state autovacuum has long analyzed
    // the tables the drain just grew.
    sqlx::query("ANALYZE").execute(&pool).await?;

    eprintln!("offering {LAG_RATE_PER_S} events/s for {LAG_FOR:?} with the relays running…");
    let lag = lag(stores, bus, names, &pool).await;
    stop.cancel();
    consumer.await??;
    Ok((live_apply, lag?))
}

async fn wait_covered(pool: &PgPool, source: &str, checkpoint: Checkpoint) -> Result<()> {
    let token = events::ConsistencyToken::new(source, checkpoint);
    let started = Instant::now();
    while !checkpoints::covers(pool, &token).await? {
        if started.elapsed() > DEADLINE {
            bail!("the review feed never caught up with {source}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// Commit-to-covered latencies, in milliseconds, of every offered event the feed consumes.
async fn lag(
    stores: &[EventStore],
    bus: &Bus,
    names: &BusNames,
    pool: &PgPool,
) -> Result<Vec<f64>> {
    let stop = CancellationToken::new();
    let mut relays = Vec::new();
    for store in stores {
        // The history is not the point here: the relay starts at the store's head.
        let head = store.head().await?;
        sqlx::query(
            "INSERT INTO relay_checkpoints (relay, transaction_id, position)
             VALUES ($1, $2::text::xid8, $3)",
        )
        .bind(store.source())
        .bind(head.transaction_id.to_string())
        .bind(head.position)
        .execute(store.pool())
        .await?;
        let relay = Relay::new(
            store.clone(),
            bus.publisher(),
            RelayConfig::new(store.source(), names.events_exchange()),
        );
        relays.push(tokio::spawn(relay.run(stop.clone())));
    }
    // A fresh history of its own, so its streams start at version 1.
    let offered = Workload::generate(7, (LAG_RATE_PER_S * LAG_FOR.as_secs()) as usize);
    let pending: Arc<Mutex<Vec<(String, Checkpoint, Instant)>>> = Arc::default();
    let all_offered = CancellationToken::new();
    let watcher = tokio::spawn(watch(
        pool.clone(),
        Arc::clone(&pending),
        all_offered.clone(),
    ));
    let by_source: HashMap<&str, &EventStore> =
        stores.iter().map(|store| (store.source(), store)).collect();
    let interval = Duration::from_secs(1) / LAG_RATE_PER_S as u32;
    let mut ticker = tokio::time::interval(interval);
    let mut versions: HashMap<String, i64> = HashMap::new();
    for event in &offered.events {
        ticker.tick().await;
        let store = by_source[event.source()];
        let appended = append(store, event, &mut versions).await?;
        if ReviewFeed::EVENT_TYPES.contains(&event.wire_name()) {
            pending
                .lock()
                .await
                .push((event.source().to_owned(), appended, Instant::now()));
        }
    }
    all_offered.cancel();
    let latencies = tokio::time::timeout(DEADLINE, watcher)
        .await
        .context("the review feed never covered the offered events")???;
    stop.cancel();
    for relay in relays {
        relay.await?;
    }
    Ok(latencies)
}

async fn append(
    store: &EventStore,
    event: &AnyEvent,
    versions: &mut HashMap<String, i64>,
) -> Result<Checkpoint> {
    let stream_id = event.stream_id();
    let version = versions.entry(stream_id.clone()).or_default();
    let request = AppendRequest {
        stream_id,
        expected_version: ExpectedVersion(*version),
        events: vec![event.to_new_event()],
        metadata: EventMetadata::default(),
        command_id: None,
    };
    let appended = store.append(&request).await?;
    *version += 1;
    Ok(appended.checkpoint)
}

/// Resolves pending events as the feed's checkpoints cover them, reading all checkpoints
/// every millisecond; returns the latencies once `all_offered` is cancelled and every pending
/// event is covered.
async fn watch(
    pool: PgPool,
    pending: Arc<Mutex<Vec<(String, Checkpoint, Instant)>>>,
    all_offered: CancellationToken,
) -> Result<Vec<f64>> {
    let mut latencies = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    loop {
        ticker.tick().await;
        let mut conn = pool.acquire().await?;
        let covered = checkpoints::load(&mut conn).await?;
        drop(conn);
        let now = Instant::now();
        let mut waiting = pending.lock().await;
        waiting.retain(|(source, checkpoint, committed)| {
            let done = covered.get(source).is_some_and(|c| c >= checkpoint);
            if done {
                latencies.push(now.duration_since(*committed).as_secs_f64() * 1_000.0);
            }
            !done
        });
        if all_offered.is_cancelled() && waiting.is_empty() {
            latencies.sort_by(f64::total_cmp);
            return Ok(latencies);
        }
    }
}
