//! What the bench suites share: the local servers' addresses, a throwaway database, the
//! machine's single-insert limit, a rate loop with a fixed number of concurrent workers, a
//! paced loop at a fixed rate, the workspace's release binaries as processes of their own, and
//! what those processes cost (resident set, CPU time).

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use message_bus::lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use message_bus::{Bus, Topology};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, PgPool};
use uuid::Uuid;

use crate::cmd::Cmd;
use crate::system::Build;

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

/// Starts `op` `per_s` times a second for `period`, each call on a task of its own, however
/// long earlier calls take: an open loop, as independent clients would send. A call's latency
/// counts from when it was due, so a system that falls behind shows it in the figures instead
/// of slowing the load down (no coordinated omission).
pub async fn paced<F, Fut>(period: Duration, per_s: f64, op: F) -> Result<Measured>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let calls = (period.as_secs_f64() * per_s).round() as u32;
    let interval = Duration::from_secs_f64(1.0 / per_s);
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(calls as usize);
    for call in 0..calls {
        let due = started + interval * call;
        tokio::time::sleep_until(due).await;
        let done = op();
        tasks.push(tokio::spawn(async move {
            done.await?;
            anyhow::Ok(due.elapsed().as_secs_f64() * 1_000.0)
        }));
    }
    let mut latencies_ms = Vec::with_capacity(tasks.len());
    for task in tasks {
        latencies_ms.push(task.await??);
    }
    let per_s = latencies_ms.len() as f64 / started.elapsed().as_secs_f64();
    latencies_ms.sort_by(f64::total_cmp);
    Ok(Measured {
        per_s,
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
        Self::create_named(format!(
            "waypoint_bench_{}",
            &Uuid::new_v4().simple().to_string()[..12]
        ))
        .await
    }

    pub async fn create_named(name: String) -> Result<Self> {
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
pub fn spawn_release<K, V>(root: &Path, binary: &str, env: &[(K, V)]) -> Result<Child>
where
    K: AsRef<OsStr>,
    V: AsRef<OsStr>,
{
    let logs = crate::target_dir(root).join("bench").join("logs");
    fs::create_dir_all(&logs).with_context(|| format!("could not create {}", logs.display()))?;
    let log_path = logs.join(format!("{binary}.log"));
    let log = fs::File::create(&log_path)
        .with_context(|| format!("could not create {}", log_path.display()))?;
    let mut command = release_command(root, binary, log)?;
    command.envs(env.iter().map(|(key, value)| (key, value)));
    command.env("RUST_LOG", "warn");
    command
        .spawn()
        .with_context(|| format!("could not start {binary}"))
}

/// `target/release/<binary>` with no input and its output going to `log`, ready to be given
/// its environment and spawned.
pub fn release_command(root: &Path, binary: &str, log: fs::File) -> Result<std::process::Command> {
    program_command(root, Build::Release, binary, log)
}

/// `binary` of `build`, with its output to `log`.
pub fn program_command(
    root: &Path,
    build: Build,
    binary: &str,
    log: fs::File,
) -> Result<std::process::Command> {
    let path = crate::target_dir(root).join(build.dir()).join(binary);
    let mut command = std::process::Command::new(path);
    command
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    Ok(command)
}

/// How long a process may take to finish its work after SIGTERM before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(10);

/// Stops a bench process with SIGTERM, so a service deregisters and finishes its work, and
/// waits for it; one that does not end in [`STOP_DEADLINE`] is killed.
pub fn stop(name: &str, child: &mut Child) {
    let _ = Cmd::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .run();
    let stopped = crate::wait::until(&format!("{name} to stop"), STOP_DEADLINE, || {
        Ok(child.try_wait()?.is_some())
    });
    if stopped.is_err() {
        eprintln!("warning: {name} did not stop in {STOP_DEADLINE:?} after SIGTERM; killing it");
        let _ = child.kill();
    }
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

/// The CPU time (user and system) `pid` has used so far, in seconds.
pub fn cpu_s(pid: u32) -> Result<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The name in parentheses may hold anything; the fields after it are fixed: utime and
    // stime are the 14th and 15th of the line, the 12th and 13th after the name.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |index: usize| -> Result<f64> {
        fields
            .get(index)
            .and_then(|field| field.parse().ok())
            .with_context(|| format!("unreadable /proc/{pid}/stat: {stat}"))
    };
    Ok((ticks(11)? + ticks(12)?) / clock_ticks_per_s()?)
}

/// The unit of `/proc/<pid>/stat`'s CPU times, asked of the system once.
fn clock_ticks_per_s() -> Result<f64> {
    static TICKS: OnceLock<f64> = OnceLock::new();
    if let Some(ticks) = TICKS.get() {
        return Ok(*ticks);
    }
    let said = Cmd::new("getconf").arg("CLK_TCK").output()?;
    let ticks: f64 = said
        .trim()
        .parse()
        .with_context(|| format!("getconf CLK_TCK said {said:?}"))?;
    Ok(*TICKS.get_or_init(|| ticks))
}

/// The largest resident sets of some processes, summed and each, sampled every
/// [`RSS_SAMPLE_EVERY`] on a thread of its own from [`MaxRss::start`] until [`MaxRss::stop`]. A
/// process that has exited counts as nothing.
pub struct MaxRss {
    done: Arc<AtomicBool>,
    sampler: thread::JoinHandle<RssPeaks>,
}

/// What [`MaxRss`] saw.
#[derive(Debug, Clone, PartialEq)]
pub struct RssPeaks {
    /// The largest sum of one sample, in MB.
    pub total: f64,
    /// Each process's largest, in the order the pids were given.
    pub each: Vec<f64>,
}

const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(100);

impl MaxRss {
    pub fn start(pids: Vec<u32>) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let sampler = thread::spawn({
            let done = Arc::clone(&done);
            move || {
                let mut peaks = RssPeaks {
                    total: 0.0,
                    each: vec![0.0; pids.len()],
                };
                loop {
                    let sample: Vec<f64> =
                        pids.iter().map(|pid| rss_mb(*pid).unwrap_or(0.0)).collect();
                    peaks.total = peaks.total.max(sample.iter().sum());
                    for (peak, rss) in peaks.each.iter_mut().zip(sample) {
                        *peak = peak.max(rss);
                    }
                    if done.load(Ordering::Relaxed) {
                        return peaks;
                    }
                    thread::sleep(RSS_SAMPLE_EVERY);
                }
            }
        });
        Self { done, sampler }
    }

    /// The peaks seen, one last sample included.
    pub fn stop(self) -> Result<RssPeaks> {
        self.done.store(true, Ordering::Relaxed);
        self.sampler
            .join()
            .map_err(|_| anyhow::anyhow!("the memory sampler panicked"))
    }
}
