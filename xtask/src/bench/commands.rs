//! `cargo xtask bench commands`: the four command services as separate release processes,
//! driven over the bus exactly as the gateway drives them, against this machine's own limits.
//!
//! Figures (`target/bench/commands.json`):
//! - `limit_rpc_roundtrip_per_s`: a command round trip to a handler that does nothing, over
//!   the same bus, with the services' consumer shape (16 workers, prefetch 1), 32 in flight;
//! - `limit_single_insert_tx_per_s`: one-row INSERT transactions into a copy of the events
//!   table, 32 connections;
//! - `write_review_per_s`, `write_review_p50_ms`, `write_review_p99_ms`: `WriteReview` on
//!   fresh aggregates (a new member each time, one open place), 32 in flight;
//! - `rate_place_per_s`, `rate_place_p99_ms`: `RatePlace` changing the stars of existing
//!   ratings, 32 in flight;
//! - `idle_rss_mb_max`: the largest resident set of the four processes, idle after start-up.
//!
//! The limits and the service figures alternate over three rounds; each figure is the median
//! of its rounds, so drift on a shared machine hits both alike.

use std::fs;
use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use event_store::EventStore;
use events::places::{AddPlace, PlaceCommand};
use events::ratings::{RatePlace, RatingCommand};
use events::reviews::{ReviewCommand, WriteReview};
use events::{Actor, Command, CommandEnvelope, CommandId, CommandReply, MemberId, PlaceId, Role};
use message_bus::{
    Bus, BusConfig, BusNames, CancellationToken, CommandClient, ConsumerConfig, RpcOutcome,
    Topology, serve_commands,
};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use super::Suite;
use super::harness::{
    AMQP_URL, BenchDatabase, Measured, create_limit_table, delete_topology, limit_insert, measure,
    median, rss_mb, spawn_release, stop,
};
use super::report::{self, Row};
use crate::cmd::Cmd;

pub(super) const SERVICES: [&str; 4] = ["members", "places", "reviews", "ratings"];
pub(super) const IN_FLIGHT: usize = 32;
const ROUNDS: usize = 3;
const MEASURE_FOR: Duration = Duration::from_secs(5);
/// The ratings re-rated in turn; far more than [`IN_FLIGHT`], so two calls never race for one.
const RATINGS: usize = 2_000;
/// The services' own consumer shape, copied for the empty-handler limit.
const SERVICE_WORKERS: usize = 16;
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long the services sit idle before their memory is read.
const IDLE_SETTLE: Duration = Duration::from_secs(3);

pub fn run(root: &Path) -> Result<()> {
    crate::services::ensure(root)?;
    eprintln!("building the four services (release)…");
    let mut build = Cmd::cargo().args(["build", "--release", "--quiet"]);
    for service in SERVICES {
        build = build.args(["--package", service]);
    }
    build.current_dir(root).run()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let rows = runtime.block_on(measure_all(root))?;
    report::publish(root, Suite::Commands, &rows)?;
    Ok(())
}

/// Everything one bench run owns, removed at the end whatever happened.
struct Run {
    id: String,
    names: BusNames,
    processes: Vec<(&'static str, Child)>,
    limit_database: BenchDatabase,
}

async fn measure_all(root: &Path) -> Result<Vec<Row>> {
    let id = Uuid::new_v4().simple().to_string()[..8].to_owned();
    let mut run = Run {
        names: BusNames::with_prefix(format!("bench_{id}")),
        processes: Vec::new(),
        limit_database: BenchDatabase::create().await?,
        id,
    };
    let measured = measure_on(root, &mut run).await;
    let cleaned = clean_up(root, run).await;
    let rows = measured?;
    cleaned?;
    Ok(rows)
}

async fn measure_on(root: &Path, run: &mut Run) -> Result<Vec<Row>> {
    for service in SERVICES {
        let child = spawn_service(root, &run.id, &run.names, service)?;
        run.processes.push((service, child));
    }
    let bus = Bus::connect(BusConfig {
        url: AMQP_URL.to_owned(),
        connection_name: format!("waypoint-bench-{}", run.id),
        names: run.names.clone(),
        topology: Topology::new(run.names.clone()).command_queue("echo"),
    })
    .await?;
    let client = bus.command_client();
    for service in SERVICES {
        wait_ready(&client, service).await?;
    }
    tokio::time::sleep(IDLE_SETTLE).await;
    let idle_rss_mb = run
        .processes
        .iter()
        .map(|(service, child)| {
            let rss = rss_mb(child.id())?;
            eprintln!("{service:>8}: {rss:.1} MB resident, idle");
            Ok(rss)
        })
        .collect::<Result<Vec<f64>>>()?
        .into_iter()
        .fold(0.0, f64::max);

    let echo = CancellationToken::new();
    let echo_workers = serve_echo(&bus, &echo);
    let limit_pool = PgPoolOptions::new()
        .max_connections(IN_FLIGHT as u32)
        .connect(&run.limit_database.url)
        .await?;
    EventStore::new(limit_pool.clone(), "bench")
        .migrate()
        .await?;
    create_limit_table(&limit_pool).await?;

    let place_id = add_place(&client).await?;
    wait_for_place(run, "reviews", place_id).await?;
    wait_for_place(run, "ratings", place_id).await?;
    let ratings = Arc::new(prepare_ratings(&client, place_id).await?);

    let (mut rpc, mut insert, mut reviews, mut rates) = (vec![], vec![], vec![], vec![]);
    for round in 1..=ROUNDS {
        eprintln!("round {round}/{ROUNDS}: rpc limit, insert limit, WriteReview, RatePlace…");
        rpc.push(echo_rate(&client).await?);
        insert.push(insert_rate(&limit_pool).await?);
        reviews.push(write_reviews(&client, place_id).await?);
        rates.push(rate_places(&client, place_id, &ratings).await?);
    }
    echo.cancel();
    for worker in echo_workers {
        worker.await??;
    }
    limit_pool.close().await;
    bus.shutdown().await;

    let figure =
        |runs: &[Measured], pick: fn(&Measured) -> f64| median(runs.iter().map(pick).collect());
    Ok(vec![
        Row::new("limit_rpc_roundtrip_per_s", figure(&rpc, |m| m.per_s)),
        Row::new("limit_single_insert_tx_per_s", figure(&insert, |m| m.per_s)),
        Row::limited(
            "write_review_per_s",
            figure(&reviews, |m| m.per_s),
            "limit_rpc_roundtrip_per_s",
        ),
        Row::new(
            "write_review_p50_ms",
            figure(&reviews, |m| m.latency_ms(0.5)),
        ),
        Row::new(
            "write_review_p99_ms",
            figure(&reviews, |m| m.latency_ms(0.99)),
        ),
        Row::limited(
            "rate_place_per_s",
            figure(&rates, |m| m.per_s),
            "limit_rpc_roundtrip_per_s",
        ),
        Row::new("rate_place_p99_ms", figure(&rates, |m| m.latency_ms(0.99))),
        Row::new("idle_rss_mb_max", idle_rss_mb),
        Row::table_only("rpc_roundtrip_p99_ms", figure(&rpc, |m| m.latency_ms(0.99))),
    ])
}

/// Starts one service with the run's database, broker prefix and Redis prefix (`bench_<id>`);
/// its logs go to `target/bench/logs/<service>.log`.
pub(super) fn spawn_service(
    root: &Path,
    id: &str,
    names: &BusNames,
    service: &str,
) -> Result<Child> {
    spawn_release(
        root,
        service,
        &[
            (
                "WAYPOINT__RABBITMQ__PREFIX",
                names.prefix().unwrap_or_default().to_owned(),
            ),
            ("WAYPOINT__REDIS__KEY_PREFIX", format!("bench_{id}:")),
            ("WAYPOINT__COMMANDS__DATABASE", database_name(id, service)),
            ("WAYPOINT__HTTP__PORT", "0".to_owned()),
            ("WAYPOINT__PHOTOS__BUCKET", format!("bench-{id}")),
        ],
    )
}

pub(super) fn database_name(id: &str, service: &str) -> String {
    format!("waypoint_bench_{id}_{service}")
}

/// A service is ready once it answers: every service replies to a message that is not a
/// command envelope with a validation error, which takes its queue, its consumer and its reply
/// path, everything the bench is about to use, and changes nothing.
pub(super) async fn wait_ready(client: &CommandClient, service: &str) -> Result<()> {
    let started = std::time::Instant::now();
    loop {
        let id = Uuid::now_v7();
        let probe = serde_json::to_vec(&serde_json::json!({ "probe": id }))?;
        match client
            .call(service, id, probe, None, Duration::from_secs(1))
            .await
        {
            Ok(RpcOutcome::Replied(_)) => return Ok(()),
            // Unroutable until the service has declared its queue; no reply until it consumes.
            Ok(RpcOutcome::Accepted) | Err(_) if started.elapsed() < START_DEADLINE => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            outcome => bail!("{service} did not become ready in {START_DEADLINE:?}: {outcome:?}"),
        }
    }
}

/// The empty handler: the services' consumer shape with nothing behind it.
pub(super) fn serve_echo(
    bus: &Bus,
    stop: &CancellationToken,
) -> Vec<tokio::task::JoinHandle<Result<(), message_bus::ConsumerError>>> {
    let queue = bus.names().command_queue("echo");
    (0..SERVICE_WORKERS)
        .map(|_| {
            let config = ConsumerConfig::new(queue.clone(), "commands.echo").with_prefetch(1);
            tokio::spawn(serve_commands(
                bus.clone(),
                config,
                |_message| async { Ok(b"{}".to_vec()) },
                stop.clone(),
            ))
        })
        .collect()
}

pub(super) async fn echo_rate(client: &CommandClient) -> Result<Measured> {
    let client = client.clone();
    measure(MEASURE_FOR, IN_FLIGHT, move |_| {
        let client = client.clone();
        async move {
            let id = Uuid::now_v7();
            match client
                .call("echo", id, b"{}".to_vec(), None, REPLY_TIMEOUT)
                .await?
            {
                RpcOutcome::Replied(_) => Ok(1),
                RpcOutcome::Accepted => bail!("the echo handler did not reply"),
            }
        }
    })
    .await
}

pub(super) async fn insert_rate(pool: &PgPool) -> Result<Measured> {
    let pool = pool.clone();
    measure(MEASURE_FOR, IN_FLIGHT, move |_| {
        let pool = pool.clone();
        async move { limit_insert(&pool, 1).await.map(|()| 1) }
    })
    .await
}

fn member(member_id: MemberId) -> Actor {
    Actor::member(member_id, vec![Role::Member])
}

/// Sends a command as the gateway does; anything but a success is a failed bench.
async fn send<C: Command>(client: &CommandClient, command: C, actor: Actor) -> Result<String> {
    let id = Uuid::now_v7();
    let envelope = CommandEnvelope::new(CommandId::from(id), command, actor, id);
    let body = serde_json::to_vec(&envelope)?;
    let outcome = client
        .call(C::SERVICE, id, body, None, REPLY_TIMEOUT)
        .await?;
    let RpcOutcome::Replied(reply) = outcome else {
        bail!("{} did not reply within {REPLY_TIMEOUT:?}", C::SERVICE);
    };
    match serde_json::from_slice::<CommandReply>(&reply)? {
        CommandReply::Success(success) => Ok(success.stream_id),
        CommandReply::Rejection(rejection) => {
            bail!("{} refused a bench command: {rejection:?}", C::SERVICE)
        }
    }
}

async fn add_place(client: &CommandClient) -> Result<PlaceId> {
    let command = PlaceCommand::from(AddPlace {
        name: "Bench Café".to_owned(),
        category: "cafe".to_owned(),
        address: "1 Loopback Lane".to_owned(),
        description: "Where the load comes from.".to_owned(),
    });
    let stream = send(client, command, member(MemberId::from(Uuid::now_v7()))).await?;
    let id = stream
        .strip_prefix("place-")
        .context("AddPlace answered a stream that is not a place")?;
    Ok(PlaceId::from(Uuid::parse_str(id)?))
}

/// Waits until `service`'s local copy has the place, read from its own database.
async fn wait_for_place(run: &Run, service: &str, place_id: PlaceId) -> Result<()> {
    let database = BenchDatabase::named(database_name(&run.id, service));
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&database.url)
        .await?;
    let started = std::time::Instant::now();
    while local_place(&pool, place_id).await? != Some(true) {
        if started.elapsed() > START_DEADLINE {
            bail!("{service} never learned of the bench place");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pool.close().await;
    Ok(())
}

async fn local_place(pool: &PgPool, place_id: PlaceId) -> Result<Option<bool>> {
    Ok(
        sqlx::query_scalar("SELECT open FROM known_places WHERE place_id = $1")
            .bind(Uuid::from(place_id))
            .fetch_optional(pool)
            .await?,
    )
}

/// [`RATINGS`] members who rated the place 1 star; each slot holds the current stars.
struct Ratings {
    members: Vec<MemberId>,
    stars: Vec<AtomicU8>,
    next: AtomicUsize,
}

async fn prepare_ratings(client: &CommandClient, place_id: PlaceId) -> Result<Ratings> {
    eprintln!("preparing {RATINGS} ratings to re-rate…");
    let members: Vec<MemberId> = (0..RATINGS)
        .map(|_| MemberId::from(Uuid::now_v7()))
        .collect();
    for chunk in members.chunks(IN_FLIGHT) {
        let sends = chunk.iter().map(|member_id| {
            let command = RatingCommand::from(RatePlace { place_id, stars: 1 });
            send(client, command, member(*member_id))
        });
        for sent in futures::future::join_all(sends).await {
            sent?;
        }
    }
    Ok(Ratings {
        stars: members.iter().map(|_| AtomicU8::new(1)).collect(),
        members,
        next: AtomicUsize::new(0),
    })
}

async fn write_reviews(client: &CommandClient, place_id: PlaceId) -> Result<Measured> {
    let client = client.clone();
    measure(MEASURE_FOR, IN_FLIGHT, move |_| {
        let client = client.clone();
        async move {
            let command = ReviewCommand::from(WriteReview {
                place_id,
                title: "Quiet mornings, loud evenings".to_owned(),
                body: "The espresso is excellent and the staff remember your order.".to_owned(),
                photo_ids: Vec::new(),
            });
            send(&client, command, member(MemberId::from(Uuid::now_v7()))).await?;
            Ok(1)
        }
    })
    .await
}

async fn rate_places(
    client: &CommandClient,
    place_id: PlaceId,
    ratings: &Arc<Ratings>,
) -> Result<Measured> {
    let (client, ratings) = (client.clone(), Arc::clone(ratings));
    measure(MEASURE_FOR, IN_FLIGHT, move |_| {
        let (client, ratings) = (client.clone(), Arc::clone(&ratings));
        async move {
            let slot = ratings.next.fetch_add(1, Ordering::Relaxed) % RATINGS;
            // Always a different value, so every call appends a `RatingChanged`.
            let stars = ratings.stars[slot].load(Ordering::Relaxed) % 5 + 1;
            let command = RatingCommand::from(RatePlace { place_id, stars });
            send(&client, command, member(ratings.members[slot])).await?;
            ratings.stars[slot].store(stars, Ordering::Relaxed);
            Ok(1)
        }
    })
    .await
}

/// Stops the services (SIGTERM, so they deregister), then drops their databases, the run's
/// queues and exchanges, and its Redis keys.
async fn clean_up(root: &Path, run: Run) -> Result<()> {
    for (service, mut child) in run.processes {
        stop(service, &mut child);
    }
    for service in SERVICES {
        BenchDatabase::named(database_name(&run.id, service))
            .drop()
            .await?;
    }
    run.limit_database.drop().await?;
    let bus = Bus::connect(BusConfig {
        url: AMQP_URL.to_owned(),
        connection_name: format!("waypoint-bench-{}-cleanup", run.id),
        names: run.names.clone(),
        topology: Topology::new(run.names.clone()),
    })
    .await?;
    delete_topology(&bus, &service_topology(&run.names)).await?;
    bus.shutdown().await;
    // The services deregister, but the discovery index outlives them.
    crate::services::delete_redis_keys(&format!("bench_{}:*", run.id))?;
    remove_bucket(root, &run.id);
    Ok(())
}

/// Every queue the services and the bench declared.
pub(super) fn service_topology(names: &BusNames) -> Topology {
    SERVICES.iter().fold(
        Topology::new(names.clone())
            .command_queue("echo")
            .dead_letter_queue("commands.echo"),
        |topology, service| {
            let topology = topology
                .command_queue(service)
                .dead_letter_queue(&format!("commands.{service}"));
            if *service == "members" {
                topology
            } else {
                topology
                    .events_queue(service, [])
                    .dead_letter_queue(&format!("local-copies.{service}"))
            }
        },
    )
}

/// The photo bucket the services created lives in the local S3 server's folder.
pub(super) fn remove_bucket(root: &Path, id: &str) {
    let bucket = crate::target_dir(root)
        .join("s3-data")
        .join(format!("bench-{id}"));
    let _ = fs::remove_dir_all(bucket);
}
