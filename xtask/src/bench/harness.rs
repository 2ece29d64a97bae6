//! What the bench suites share: the local servers' addresses, a throwaway database, the
//! machine's single-insert limit, a rate loop with a fixed number of concurrent workers, and
//! the workspace's release binaries as processes of their own.

use std::fs;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use message_bus::lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use message_bus::{Bus, Topology};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, PgPool};
use uuid::Uuid;

use crate::cmd::Cmd;

pub const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// What a timed run did: units per second and how long each call took.
#[derive(Debug, Clone)]
pub struct Measured {
    pub per_s: f64,
    /// Milliseconds per call, sorted.
    pub latencies_ms: Vec<f64>,
}

impl Measured {
    /// The latency below which `quantile` (0–1) of the calls finished.
    pub fn latency_ms(&self, quantile: f64) -> f64 {
        self::quantile(&self.latencies_ms, quantile)
    }
}

/// The value below which `quantile` (0–1) of `sorted` lies; NaN for no values.
pub fn quantile(sorted: &[f64], quantile: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let last = sorted.len() - 1;
    let index = ((last as f64) * quantile).round() as usize;
    sorted[index.min(last)]
}

/// Runs `op` on `workers` concurrent tasks for `period`, or until it returns 0 units (it ran
/// out of work); returns the summed units per second.
pub async fn rate<F, Fut>(period: Duration, workers: usize, op: F) -> Result<f64>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<u64>> + Send,
{
    Ok(measure(period, workers, op).await?.per_s)
}

/// [`rate`], keeping every call's latency.
pub async fn measure<F, Fut>(period: Duration, workers: usize, op: F) -> Result<Measured>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<u64>> + Send,
{
    let started = Instant::now();
    let deadline = started + period;
    let tasks: Vec<_> = (0..workers)
        .map(|writer| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut units = 0_u64;
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let call = Instant::now();
                    let done = op(writer).await?;
                    if done == 0 {
                        break;
                    }
                    latencies.push(call.elapsed().as_secs_f64() * 1_000.0);
                    units += done;
                }
                anyhow::Ok((units, latencies))
            })
        })
        .collect();
    let mut units = 0;
    let mut latencies_ms = Vec::new();
    for task in tasks {
        let (done, latencies) = task.await??;
        units += done;
        latencies_ms.extend(latencies);
    }
    latencies_ms.sort_by(f64::total_cmp);
    Ok(Measured {
        per_s: units as f64 / started.elapsed().as_secs_f64(),
        latencies_ms,
    })
}

/// The table the single-insert limit writes to: a copy of the event store's `events` (same
/// columns, constraints and indexes), in a database where the event store is migrated.
pub async fn create_limit_table(pool: &PgPool) -> Result<()> {
    pool.execute("CREATE TABLE limit_events (LIKE events INCLUDING ALL)")
        .await?;
    Ok(())
}

/// One INSERT of `rows` events-shaped rows into the limit table, in its own transaction.
pub async fn limit_insert(pool: &PgPool, rows: usize) -> Result<()> {
    let ids: Vec<Uuid> = (0..rows).map(|_| Uuid::now_v7()).collect();
    let streams: Vec<String> = ids.iter().map(|id| format!("limit-{id}")).collect();
    let payloads: Vec<serde_json::Value> = (0..rows).map(payload).collect();
    sqlx::query(
        "INSERT INTO limit_events (stream_id, stream_version, event_id, event_type,
                                   schema_version, payload, correlation_id, metadata)
         SELECT s, 1, e, 'bench.Happened', 1, p, e, '{}'
         FROM unnest($1::text[], $2::uuid[], $3::jsonb[]) AS r(s, e, p)",
    )
    .bind(&streams)
    .bind(&ids)
    .bind(&payloads)
    .execute(pool)
    .await?;
    Ok(())
}

pub fn payload(n: usize) -> serde_json::Value {
    serde_json::json!({
        "review_id": Uuid::now_v7(),
        "place_id": Uuid::now_v7(),
        "title": "A quiet corner with good coffee",
        "stars": n % 5 + 1,
    })
}

/// Deletes a bench's queues and its four exchanges when it ends.
pub async fn delete_topology(bus: &Bus, topology: &Topology) -> Result<()> {
    let channel = bus.channel().await?.channel;
    for queue in topology.queues() {
        channel
            .queue_delete(queue.name.as_str().into(), QueueDeleteOptions::default())
            .await?;
    }
    for exchange in [
        topology.names().commands_exchange(),
        topology.names().events_exchange(),
        topology.names().config_exchange(),
        topology.names().dead_letters_exchange(),
    ] {
        channel
            .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
            .await?;
    }
    Ok(())
}

/// A database of the bench's own, dropped afterwards.
pub struct BenchDatabase {
    pub name: String,
    pub url: String,
}

impl BenchDatabase {
    pub async fn create() -> Result<Self> {
        let name = format!(
            "waypoint_bench_{}",
            &Uuid::new_v4().simple().to_string()[..12]
        );
        let mut admin = PgConnection::connect(POSTGRES_ADMIN_URL).await?;
        admin
            .execute(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
            .await?;
        Ok(Self::named(name))
    }

    /// A database someone else created, to be dropped by [`BenchDatabase::drop`].
    pub fn named(name: String) -> Self {
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        Self { name, url }
    }

    pub async fn drop(&self) -> Result<()> {
        let mut admin = PgConnection::connect(POSTGRES_ADMIN_URL).await?;
        admin
            .execute(AssertSqlSafe(format!(
                r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#,
                self.name
            )))
            .await?;
        Ok(())
    }
}

/// Starts `target/release/<binary>` with `env` and `RUST_LOG=warn`; its output goes to
/// `target/bench/logs/<binary>.log`, so a failed run can be read afterwards.
pub fn spawn_release(root: &Path, binary: &str, env: &[(&str, String)]) -> Result<Child> {
    let path = crate::target_dir(root).join("release").join(binary);
    let logs = crate::target_dir(root).join("bench").join("logs");
    fs::create_dir_all(&logs).with_context(|| format!("could not create {}", logs.display()))?;
    let log_path = logs.join(format!("{binary}.log"));
    let log = fs::File::create(&log_path)
        .with_context(|| format!("could not create {}", log_path.display()))?;
    std::process::Command::new(&path)
        .envs(env.iter().map(|(key, value)| (key, value)))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("could not start {}", path.display()))
}

/// Stops a bench process with SIGTERM, so a service deregisters and finishes its work, and
/// waits for it.
pub fn stop(name: &str, child: &mut Child) {
    let _ = Cmd::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .run();
    if child.wait().is_err() {
        eprintln!("warning: {name} could not be waited for");
    }
}

/// Resident set size from `/proc`, in MB.
pub fn rss_mb(pid: u32) -> Result<f64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/<pid>/status")?;
    Ok(kib / 1024.0)
}
