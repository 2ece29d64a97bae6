//! `cargo xtask bench system`: the whole of Waypoint as nine release processes on this machine,
//! driven end to end through the gateway over HTTP, as clients would.
//!
//! Figures (`target/bench/system.json`):
//! - `limit_rpc_roundtrip_per_s`, `limit_single_insert_tx_per_s`: the bus's round trip to an
//!   empty handler and one-row INSERT transactions, 32 in flight, in the same run (see
//!   `bench commands`);
//! - `write_review_per_s`: reviews answered 201 per second, in a closed loop at doubling
//!   concurrency until the rate stops growing (each level [`LEVEL_FOR`], the read models caught
//!   up before the next); the best level's rate and concurrency, the CPU each process used
//!   meanwhile (`write_review_cpu_cores_*`, in cores), and how long the read models then took
//!   to catch up;
//! - `write_review_p50_ms`, `write_review_p99_ms`: an open loop at half that rate, latency
//!   counted from when each request was due;
//! - `rate_place_per_s`: `PUT /places/{id}/rating` at the best level's concurrency;
//! - `writes_accepted_202`: writes the gateway only accepted because their service did not
//!   answer within its reply timeout; they are left out of the rates (another write takes each
//!   one's place) while the time they took still counts;
//! - `write_to_read_p50_ms`, `write_to_read_p99_ms`: from a review's 201 to its
//!   `GET /reviews/{id}` answering 200, polled without a consistency token, [`WRITE_TO_READ_CLIENTS`]
//!   clients writing one review after another;
//! - `query_place_detail_rps`: `GET /places/{id}` with a member's token, 32 in flight;
//! - `rss_mb_total_idle`, `rss_mb_total_load`: the nine processes' resident sets summed, after
//!   start-up and at most during the write loads;
//! - `startup_ms_max`: the slowest process from spawn to ready (each started alone);
//! - the targets as figures (`*_floor`, `*_limit`).
//!
//! Reviews are one per member and place, so the run registers [`MEMBERS`] members and adds
//! [`PLACES`] places first ([`Load::seed`]), and every review takes a pair of its own. The
//! processes' database pools are sized so that all nine fit one PostgreSQL's 100 connections
//! (see `system::programs`).
//!
//! [`MEMBERS`]: super::load::MEMBERS
//! [`PLACES`]: super::load::PLACES

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use message_bus::{Bus, BusConfig, CancellationToken, Topology};
use sqlx::postgres::PgPoolOptions;

use super::Suite;
use super::commands::{IN_FLIGHT, echo_rate, insert_rate, serve_echo};
use super::harness::{
    BenchDatabase, MaxRss, Measured, create_limit_table, measure, paced, quantile,
};
use super::load::{Load, Written};
use super::report::{self, Row};
use crate::system::{Build, Options, RunNames, System, build, settle, whole_system};

const LEVELS: [usize; 5] = [8, 16, 32, 64, 128];
/// A level that does not beat the best so far by this much ends the climb.
const PLATEAU_GAIN: f64 = 1.05;
const LEVEL_FOR: Duration = Duration::from_secs(5);
const PACED_FOR: Duration = Duration::from_secs(10);
const MEASURE_FOR: Duration = Duration::from_secs(5);
const WRITE_TO_READ_CLIENTS: usize = 4;
/// How long the processes sit idle after start-up before their memory is read.
const IDLE_SETTLE: Duration = Duration::from_secs(3);
const CATCH_UP_DEADLINE: Duration = Duration::from_secs(120);

// The targets of issue 8.
const WRITE_REVIEW_FLOOR_PER_S: f64 = 1_500.0;
const WRITE_REVIEW_P99_LIMIT_MS: f64 = 25.0;
const WRITE_TO_READ_P99_LIMIT_MS: f64 = 50.0;
const RSS_TOTAL_LIMIT_MB: f64 = 200.0;
const STARTUP_LIMIT_MS: f64 = 500.0;

pub fn run(root: &Path) -> Result<()> {
    crate::services::ensure(root)?;
    let specs = whole_system()?;
    build(root, &specs, Build::Release)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let options = Options {
        build: Build::Release,
        log_filter: "warn",
    };
    let rows = runtime.block_on(System::run(
        root,
        RunNames::new("system"),
        options,
        specs,
        async |system| measure_on(system).await,
    ))?;
    report::publish(root, Suite::System, &rows)?;
    Ok(())
}

async fn measure_on(system: &mut System) -> Result<Vec<Row>> {
    let startups = system.startup_times();
    for (name, took) in &startups {
        eprintln!("{name:>16}: ready {:.0} ms after spawn", ms(*took));
    }
    tokio::time::sleep(IDLE_SETTLE).await;
    let rss_idle = system.rss_mb_total()?;
    eprintln!("idle: {rss_idle:.1} MB resident, all processes together");

    let (rpc, insert) = limits(system.names()).await?;
    eprintln!(
        "limits: {:.0} RPC round trips/s, {:.0} single-row INSERT transactions/s",
        rpc.per_s, insert.per_s
    );

    let api = format!("{}/api/v1", system.gateway_url()?);
    let load = Arc::new(Load::seed(api, system.names()).await?);
    let (processes, pids): (Vec<String>, Vec<u32>) = system.pids().into_iter().unzip();
    let rss = MaxRss::start(pids);
    let climb = climb(system, &load).await;
    let best = climb?;
    let half = best.measured.per_s / 2.0;
    eprintln!("writing reviews at {half:.0}/s, paced…");
    let at_half = paced(PACED_FOR, half, {
        let load = Arc::clone(&load);
        move || {
            let load = Arc::clone(&load);
            async move {
                match load.post_review().await? {
                    Written::Created(_) | Written::Accepted => Ok(()),
                    Written::Exhausted => bail!("the (member, place) pairs ran out"),
                }
            }
        }
    })
    .await;
    let rss_load = rss.stop()?;
    let at_half = at_half?;
    settle::projections_caught_up(system, CATCH_UP_DEADLINE).await?;

    eprintln!("rating places at {} in flight…", best.concurrency);
    let ratings = measure(MEASURE_FOR, best.concurrency, {
        let load = Arc::clone(&load);
        move |_| {
            let load = Arc::clone(&load);
            async move { load.rate_place().await }
        }
    })
    .await?;
    settle::projections_caught_up(system, CATCH_UP_DEADLINE).await?;

    eprintln!("from write to read…");
    measure(MEASURE_FOR, WRITE_TO_READ_CLIENTS, {
        let load = Arc::clone(&load);
        move |_| {
            let load = Arc::clone(&load);
            async move { load.write_then_read().await }
        }
    })
    .await?;
    let visible = load.visible_ms()?;
    settle::projections_caught_up(system, CATCH_UP_DEADLINE).await?;

    eprintln!("querying a place's detail…");
    let queries = measure(MEASURE_FOR, IN_FLIGHT, {
        let load = Arc::clone(&load);
        move |worker| {
            let load = Arc::clone(&load);
            async move { load.place_detail(worker).await }
        }
    })
    .await?;

    let startup_ms_max = startups
        .iter()
        .map(|(_, took)| ms(*took))
        .fold(0.0, f64::max);
    let mut rows = vec![
        Row::new("limit_rpc_roundtrip_per_s", rpc.per_s),
        Row::new("limit_single_insert_tx_per_s", insert.per_s),
        Row::limited(
            "write_review_per_s",
            best.measured.per_s,
            "write_review_per_s_floor",
        ),
        Row::new("write_review_concurrency", best.concurrency as f64),
        Row::new(
            "write_review_catch_up_ms",
            ms(best.projections_caught_up_after),
        ),
        Row::new("write_review_p50_ms", at_half.latency_ms(0.5)),
        Row::limited(
            "write_review_p99_ms",
            at_half.latency_ms(0.99),
            "write_review_p99_limit_ms",
        ),
        Row::new("write_review_paced_per_s", at_half.per_s),
        Row::new("rate_place_per_s", ratings.per_s),
        Row::new("writes_accepted_202", load.accepted_writes() as f64),
        Row::new("write_to_read_p50_ms", quantile(&visible, 0.5)),
        Row::limited(
            "write_to_read_p99_ms",
            quantile(&visible, 0.99),
            "write_to_read_p99_limit_ms",
        ),
        Row::new("query_place_detail_rps", queries.per_s),
        Row::new("rss_mb_total_idle", rss_idle),
        Row::limited("rss_mb_total_load", rss_load.total, "rss_mb_total_limit"),
        Row::limited("startup_ms_max", startup_ms_max, "startup_ms_limit"),
        Row::new("write_review_per_s_floor", WRITE_REVIEW_FLOOR_PER_S),
        Row::new("write_review_p99_limit_ms", WRITE_REVIEW_P99_LIMIT_MS),
        Row::new("write_to_read_p99_limit_ms", WRITE_TO_READ_P99_LIMIT_MS),
        Row::new("rss_mb_total_limit", RSS_TOTAL_LIMIT_MB),
        Row::new("startup_ms_limit", STARTUP_LIMIT_MS),
        Row::new(
            "machine_cores",
            std::thread::available_parallelism()?.get() as f64,
        ),
        Row::table_only(
            "write_review_share_of_rpc_limit",
            best.measured.per_s / rpc.per_s,
        ),
        Row::table_only("write_review_climb_p99_ms", best.measured.latency_ms(0.99)),
    ];
    for (name, cores) in &best.cpu_cores {
        rows.push(Row::new(format!("write_review_cpu_cores_{name}"), *cores));
    }
    for (name, peak) in processes.iter().zip(&rss_load.each) {
        rows.push(Row::new(
            format!("rss_mb_load_{}", name.replace('-', "_")),
            *peak,
        ));
    }
    for (name, took) in &startups {
        rows.push(Row::table_only(format!("startup_ms_{name}"), ms(*took)));
    }
    Ok(rows)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

/// The bus's and the database's limits, on the run's broker prefix and a database of the run.
async fn limits(names: &RunNames) -> Result<(Measured, Measured)> {
    let bus = Bus::connect(BusConfig {
        url: testkit::rabbitmq::amqp_url(),
        connection_name: format!("waypoint-bench-{}", names.run()),
        names: names.bus(),
        topology: Topology::new(names.bus()).command_queue("echo"),
    })
    .await?;
    let echo = CancellationToken::new();
    let workers = serve_echo(&bus, &echo);
    let rpc = echo_rate(&bus.command_client()).await;
    echo.cancel();
    for worker in workers {
        worker.await??;
    }
    bus.shutdown().await;

    let database = BenchDatabase::create_named(names.database("limits")).await?;
    let pool = PgPoolOptions::new()
        .max_connections(IN_FLIGHT as u32)
        .connect(&database.url)
        .await?;
    event_store::EventStore::new(pool.clone(), "bench")
        .migrate()
        .await?;
    create_limit_table(&pool).await?;
    let insert = insert_rate(&pool).await;
    pool.close().await;
    database.drop().await?;
    Ok((rpc?, insert?))
}

/// The best level of the closed-loop climb.
struct Best {
    concurrency: usize,
    measured: Measured,
    /// What each process (and the infrastructure and this load generator) used meanwhile, in
    /// cores: CPU seconds over wall seconds.
    cpu_cores: Vec<(String, f64)>,
    /// How long the read models needed after the level to have applied all of it.
    projections_caught_up_after: Duration,
}

async fn climb(system: &System, load: &Arc<Load>) -> Result<Best> {
    let mut best: Option<Best> = None;
    for concurrency in LEVELS {
        let cpu_before = cpu_now(system)?;
        let wall = Instant::now();
        let measured = measure(LEVEL_FOR, concurrency, {
            let load = Arc::clone(load);
            move |_| {
                let load = Arc::clone(&load);
                async move { load.write_review().await }
            }
        })
        .await?;
        let cpu_cores = cpu_spent(&cpu_before, &cpu_now(system)?, wall.elapsed());
        let caught_up = Instant::now();
        settle::projections_caught_up(system, CATCH_UP_DEADLINE).await?;
        let level = Best {
            concurrency,
            measured,
            cpu_cores,
            projections_caught_up_after: caught_up.elapsed(),
        };
        eprintln!(
            "{concurrency:>4} in flight: {:.0} reviews/s, p99 {:.1} ms; read models caught up {:.0} ms later",
            level.measured.per_s,
            level.measured.latency_ms(0.99),
            ms(level.projections_caught_up_after)
        );
        match &best {
            Some(so_far) if level.measured.per_s < so_far.measured.per_s * PLATEAU_GAIN => {
                if level.measured.per_s > so_far.measured.per_s {
                    best = Some(level);
                }
                break;
            }
            _ => best = Some(level),
        }
    }
    best.context("no level was measured")
}

/// CPU seconds so far of every process of the run, of the servers beside it (all of
/// PostgreSQL's processes, RabbitMQ, Redis) and of this load generator.
fn cpu_now(system: &System) -> Result<Vec<(String, f64)>> {
    let mut spent = system.cpu_s()?;
    for (name, command) in INFRASTRUCTURE {
        spent.push(((*name).to_owned(), cpu_of_command(command)?));
    }
    spent.push((
        "load_generator".to_owned(),
        super::harness::cpu_s(std::process::id())?,
    ));
    Ok(spent)
}

/// The servers, by the process name `/proc/<pid>/comm` gives them.
const INFRASTRUCTURE: &[(&str, &str)] = &[
    ("postgres", "postgres"),
    ("rabbitmq", "beam.smp"),
    ("redis", "redis-server"),
];

/// The CPU seconds of every process called `command`, summed.
fn cpu_of_command(command: &str) -> Result<f64> {
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.trim() == command {
            // It may have exited since the listing.
            total += super::harness::cpu_s(pid).unwrap_or(0.0);
        }
    }
    Ok(total)
}

fn cpu_spent(
    before: &[(String, f64)],
    after: &[(String, f64)],
    wall: Duration,
) -> Vec<(String, f64)> {
    after
        .iter()
        .filter_map(|(name, seconds)| {
            let (_, earlier) = before.iter().find(|(other, _)| other == name)?;
            Some((
                name.replace('-', "_"),
                (seconds - earlier) / wall.as_secs_f64(),
            ))
        })
        .collect()
}
