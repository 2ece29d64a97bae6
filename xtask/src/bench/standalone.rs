//! `cargo xtask bench standalone`: all of Waypoint in one release process
//! (`waypoint-standalone`, the README's run command) on names of its own on the local servers:
//! how soon it is ready, and how much memory it holds idle and under a mixed load sent through
//! the gateway over HTTP.
//!
//! Figures (`target/bench/standalone.json`):
//! - `standalone_ready_ms`: from spawn to the banner on its stdout, which it prints once every
//!   part answers `/health/ready`; its databases are new, so this is a first start (create and
//!   migrate eight databases, declare the broker objects);
//! - `standalone_started_in_ms`: the "ready in" the banner gives (from its settings being read
//!   to every part being ready, so without the process's own start);
//! - `standalone_rss_mb_idle`: its resident set (`VmRSS`) after [`IDLE_FOR`] idle once ready;
//! - `standalone_rss_mb_seeded`: after the load's seed ([`MEMBERS`] registrations, each an
//!   argon2id hash, and [`PLACES`] places), before the load;
//! - `standalone_rss_mb_load_peak`: the largest resident set sampled (every 100 ms) during
//!   [`LOAD_FOR`] of load; `standalone_rss_mb_after_load`: right after the load stops;
//! - `standalone_load_requests`, `standalone_load_requests_per_s`: the requests answered during
//!   the load, [`LOAD_WORKERS`] clients in a closed loop, each sending the next request of the
//!   [`MIX`] as soon as the last was answered; `standalone_load_<kind>_per_s`: each kind's share;
//!   `standalone_load_p50_ms`, `standalone_load_p99_ms`: a request's latency, any kind;
//! - `standalone_load_writes_accepted_202`: reviews and ratings only accepted because their
//!   service did not answer within the gateway's reply timeout (another one was written in
//!   each one's place);
//! - `standalone_load_cpu_cores`: the CPU time it used during the load over the load's wall
//!   time (the machine's cores are `machine_cores`, shared with the servers and this load);
//! - `standalone_stop_ms`: from SIGTERM to its exit, every part finishing its work;
//! - the targets as figures (`*_limit`).
//!
//! The run's databases, broker objects and Redis keys carry the run's names ([`RunNames`]),
//! photos go to a folder of the run's own, and all of them are removed afterwards. It runs on
//! standalone's own defaults otherwise, pool sizes included. Its log (stderr) is
//! `target/bench/logs/waypoint-standalone.log`.
//!
//! [`MEMBERS`]: super::load::MEMBERS
//! [`PLACES`]: super::load::PLACES

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::Suite;
use super::harness::{MaxRss, cpu_s, measure, release_command, rss_mb, stop};
use super::load::Load;
use super::report::{self, Row};
use crate::cmd::Cmd;
use crate::system::{Program, RunNames, teardown};

/// The README's run command builds and starts this binary.
const BINARY: &str = "waypoint-standalone";
/// From spawn to the banner, at most: the target is 10 s, a cold first start on a busy machine
/// gets more before the run counts as failed.
const READY_DEADLINE: Duration = Duration::from_secs(60);
/// How long it sits idle once ready before its memory is read.
const IDLE_FOR: Duration = Duration::from_secs(5);
/// "RSS after one minute of load".
const LOAD_FOR: Duration = Duration::from_secs(60);
const LOAD_WORKERS: usize = 16;

/// One round of the load: each kind of request and how many of it in every round. One request
/// in twenty is a registration, whose argon2id hash is the heaviest work a request can ask for.
const MIX: [(Kind, usize); 6] = [
    (Kind::Register, 1),
    (Kind::AddPlace, 1),
    (Kind::WriteReview, 6),
    (Kind::RatePlace, 4),
    (Kind::PlaceDetail, 5),
    (Kind::PlaceReviews, 3),
];

// The targets of standalone mode.
const READY_LIMIT_MS: f64 = 10_000.0;
const RSS_IDLE_LIMIT_MB: f64 = 80.0;
const RSS_LOAD_LIMIT_MB: f64 = 150.0;

pub fn run(root: &Path) -> Result<()> {
    crate::services::ensure(root)?;
    eprintln!("building {BINARY} (release)…");
    Cmd::cargo()
        .args(["build", "--release", "--quiet", "--package", "standalone"])
        .current_dir(root)
        .run()?;
    let names = RunNames::new("standalone");
    let dir = std::env::temp_dir().join(format!("waypoint-{}", names.run()));
    let runtime = tokio::runtime::Runtime::new()?;
    let measured = measure_run(root, &names, &dir, &runtime);
    let removed = runtime.block_on(remove(root, &names, &dir));
    let mut rows = measured?;
    removed?;
    rows.extend([
        Row::new("standalone_ready_ms_limit", READY_LIMIT_MS),
        Row::new("standalone_rss_mb_idle_limit", RSS_IDLE_LIMIT_MB),
        Row::new("standalone_rss_mb_load_limit", RSS_LOAD_LIMIT_MB),
    ]);
    report::publish(root, Suite::Standalone, &rows)?;
    Ok(())
}

/// Starts the process, measures it, and stops it, whether the measuring failed or not.
fn measure_run(
    root: &Path,
    names: &RunNames,
    dir: &Path,
    runtime: &tokio::runtime::Runtime,
) -> Result<Vec<Row>> {
    let mut process = Process::start(root, names, dir)?;
    eprintln!(
        "ready {:.0} ms after spawn; the gateway is {}",
        ms(process.banner.ready_after),
        process.banner.api
    );
    let measured = runtime.block_on(measure_on(&process, names));
    let stopping = Instant::now();
    stop(BINARY, &mut process.child);
    let stop_ms = ms(stopping.elapsed());
    let mut rows = measured?;
    rows.push(Row::new("standalone_stop_ms", stop_ms));
    Ok(rows)
}

async fn measure_on(process: &Process, names: &RunNames) -> Result<Vec<Row>> {
    let pid = process.child.id();
    tokio::time::sleep(IDLE_FOR).await;
    let rss_idle = rss_mb(pid)?;
    eprintln!("idle: {rss_idle:.1} MB resident");

    let load = Load::seed(process.banner.api.clone(), names).await?;
    let rss_seeded = rss_mb(pid)?;
    eprintln!("seeded: {rss_seeded:.1} MB resident");

    eprintln!("{LOAD_WORKERS} clients sending the mix for {LOAD_FOR:?}…");
    let mixed = Arc::new(Mixed::new(load));
    let cpu_before = cpu_s(pid)?;
    let rss = MaxRss::start(vec![pid]);
    let started = Instant::now();
    let measured = measure(LOAD_FOR, LOAD_WORKERS, {
        let mixed = Arc::clone(&mixed);
        move |_| {
            let mixed = Arc::clone(&mixed);
            async move { mixed.send_next().await }
        }
    })
    .await;
    let wall = started.elapsed();
    let peaks = rss.stop()?;
    let rss_after = rss_mb(pid)?;
    let cpu_cores = (cpu_s(pid)? - cpu_before) / wall.as_secs_f64();
    let measured = measured?;
    eprintln!(
        "load: {:.0} requests/s; {:.1} MB resident at most, {rss_after:.1} MB after",
        measured.per_s, peaks.total
    );

    let mut rows = vec![
        Row::limited(
            "standalone_ready_ms",
            ms(process.banner.ready_after),
            "standalone_ready_ms_limit",
        ),
        Row::new("standalone_started_in_ms", process.banner.started_in_ms),
        Row::limited(
            "standalone_rss_mb_idle",
            rss_idle,
            "standalone_rss_mb_idle_limit",
        ),
        Row::new("standalone_rss_mb_seeded", rss_seeded),
        Row::limited(
            "standalone_rss_mb_load_peak",
            peaks.total,
            "standalone_rss_mb_load_limit",
        ),
        Row::limited(
            "standalone_rss_mb_after_load",
            rss_after,
            "standalone_rss_mb_load_limit",
        ),
        Row::new("standalone_load_workers", LOAD_WORKERS as f64),
        Row::new(
            "standalone_load_requests",
            measured.latencies_ms.len() as f64,
        ),
        Row::new("standalone_load_requests_per_s", measured.per_s),
    ];
    for ((kind, _), answered) in MIX.iter().zip(&mixed.answered) {
        rows.push(Row::new(
            format!("standalone_load_{}_per_s", kind.name()),
            answered.load(Ordering::Relaxed) as f64 / wall.as_secs_f64(),
        ));
    }
    rows.extend([
        Row::new("standalone_load_p50_ms", measured.latency_ms(0.5)),
        Row::new("standalone_load_p99_ms", measured.latency_ms(0.99)),
        Row::new(
            "standalone_load_writes_accepted_202",
            mixed.load.accepted_writes() as f64,
        ),
        Row::new("standalone_load_cpu_cores", cpu_cores),
        Row::new(
            "machine_cores",
            std::thread::available_parallelism()?.get() as f64,
        ),
    ]);
    Ok(rows)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

/// A kind of request of the load.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Register,
    AddPlace,
    WriteReview,
    RatePlace,
    PlaceDetail,
    PlaceReviews,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Register => "register",
            Kind::AddPlace => "add_place",
            Kind::WriteReview => "write_review",
            Kind::RatePlace => "rate_place",
            Kind::PlaceDetail => "place_detail",
            Kind::PlaceReviews => "place_reviews",
        }
    }
}

/// The load's requests in [`MIX`]'s proportions, and how many of each were answered.
#[derive(Debug)]
struct Mixed {
    load: Load,
    /// One round of the mix, as indexes into [`MIX`], sent in turn.
    round: Vec<usize>,
    next: AtomicUsize,
    /// Per entry of [`MIX`].
    answered: [AtomicU64; MIX.len()],
}

impl Mixed {
    fn new(load: Load) -> Self {
        Self {
            load,
            round: one_round(),
            next: AtomicUsize::new(0),
            answered: Default::default(),
        }
    }

    /// Sends the next request of the mix: 1 when it was answered as it should be, 0 when the
    /// load ran out of (member, place) pairs.
    async fn send_next(&self) -> Result<u64> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let index = self.round[n % self.round.len()];
        let load = &self.load;
        let answered = match MIX[index].0 {
            Kind::Register => load.register_another(n).await?,
            Kind::AddPlace => load.add_another_place(n).await?,
            Kind::WriteReview => load.write_review().await?,
            Kind::RatePlace => load.rate_place().await?,
            Kind::PlaceDetail => load.place_detail(n).await?,
            Kind::PlaceReviews => load.place_reviews(n).await?,
        };
        self.answered[index].fetch_add(answered, Ordering::Relaxed);
        Ok(answered)
    }
}

/// Every entry of [`MIX`] as often as it asks, by index.
fn one_round() -> Vec<usize> {
    MIX.iter()
        .enumerate()
        .flat_map(|(index, (_, count))| std::iter::repeat_n(index, *count))
        .collect()
}

/// The running `waypoint-standalone`; killed if the bench ends without stopping it.
#[derive(Debug)]
struct Process {
    child: Child,
    banner: Banner,
}

/// What its banner said, and when.
#[derive(Debug)]
struct Banner {
    /// `http://127.0.0.1:<port>/api/v1`.
    api: String,
    /// The "ready in" it gives.
    started_in_ms: f64,
    /// From spawn to the banner.
    ready_after: Duration,
}

impl Process {
    /// Spawns it in `dir` on the run's names and waits for its banner.
    fn start(root: &Path, names: &RunNames, dir: &Path) -> Result<Self> {
        let photos = dir.join("photos");
        std::fs::create_dir_all(&photos)
            .with_context(|| format!("could not create {}", photos.display()))?;
        let log = log_path(root);
        let mut command = release_command(root, BINARY, new_log(&log)?)?;
        // Nothing from the caller's environment may point it outside the run.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("WAYPOINT") {
                command.env_remove(key);
            }
        }
        // A multi-process run's gateway variables (broker, Redis prefix, HTTP port 0, rate
        // limits out of the way): every part reads them, so the broker and Redis ones move all
        // of them, and the gateway's own reach its gateway.
        command
            .envs(Program::Gateway.env(names, 0))
            .env("WAYPOINT__DATABASES__PREFIX", names.database_prefix())
            .env("WAYPOINT__HTTP__INTERNAL_PORTS", "any")
            .env("WAYPOINT__PHOTOS__LOCAL_DIR", &photos)
            .env("RUST_LOG", "warn")
            // No settings files: the working directory is the run's own folder.
            .current_dir(dir)
            .stdout(Stdio::piped());
        let spawned = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("could not start {BINARY}"))?;
        let stdout = child.stdout.take().context("no stdout to read")?;
        match read_banner(stdout, spawned) {
            Ok(banner) => Ok(Self { child, banner }),
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(error.context(format!("see {}", log.display())))
            }
        }
    }
}

impl Drop for Process {
    /// After [`stop`] this does nothing; after a failure or a panic it must not outlive xtask.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_path(root: &Path) -> PathBuf {
    crate::target_dir(root)
        .join("bench")
        .join("logs")
        .join(format!("{BINARY}.log"))
}

/// The log of this run only.
fn new_log(path: &Path) -> Result<std::fs::File> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(error).with_context(|| format!("could not remove {}", path.display()))
        }
        _ => crate::cmd::open_log(path),
    }
}

/// Reads stdout until the banner's API line. A thread goes on reading until the process
/// exits, so nothing it writes later meets a closed pipe.
fn read_banner(stdout: impl Read + Send + 'static, spawned: Instant) -> Result<Banner> {
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = sender.send(line);
        }
    });
    // The first line, "Waypoint is up: ready in <n> ms", tells when; the API line, where.
    let mut ready = None;
    loop {
        let remaining = READY_DEADLINE.saturating_sub(spawned.elapsed());
        let line = match lines.recv_timeout(remaining) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                bail!("{BINARY} was not ready after {READY_DEADLINE:?}")
            }
            Err(RecvTimeoutError::Disconnected) => bail!("{BINARY} exited before it was ready"),
        };
        if let Some(started_in_ms) = line
            .strip_prefix("Waypoint is up: ready in ")
            .and_then(|rest| rest.strip_suffix(" ms"))
        {
            ready = Some((started_in_ms.parse::<f64>()?, spawned.elapsed()));
        } else if let Some(api) = line.trim_start().strip_prefix("API") {
            let (started_in_ms, ready_after) =
                ready.context("the banner gave its API before saying it was up")?;
            return Ok(Banner {
                api: api.trim().to_owned(),
                started_in_ms,
                ready_after,
            });
        }
    }
}

/// Removes what the run made on the shared servers (as every multi-process run's teardown
/// does) and its photo folder.
async fn remove(root: &Path, names: &RunNames, dir: &Path) -> Result<()> {
    teardown::remove(root, names).await?;
    match std::fs::remove_dir_all(dir) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(error).with_context(|| format!("could not remove {}", dir.display()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BANNER: &str = "Waypoint is up: ready in 642 ms

  API          http://127.0.0.1:41234/api/v1
  OpenAPI      http://127.0.0.1:41234/api/v1/openapi.json
";

    #[test]
    fn the_banner_tells_when_it_was_ready_and_where_the_api_is() {
        let banner = read_banner(BANNER.as_bytes(), Instant::now()).unwrap();
        assert_eq!(banner.api, "http://127.0.0.1:41234/api/v1");
        assert_eq!(banner.started_in_ms, 642.0);
        assert!(banner.ready_after < READY_DEADLINE);
    }

    #[test]
    fn output_that_ends_before_the_banner_is_an_exit() {
        let error = read_banner(&b"starting\n"[..], Instant::now()).unwrap_err();
        assert!(error.to_string().contains("exited"), "{error}");
    }

    #[test]
    fn one_request_in_twenty_is_a_registration() {
        let round = one_round();
        assert_eq!(round.len(), 20);
        let registrations = round
            .iter()
            .filter(|index| matches!(MIX[**index].0, Kind::Register))
            .count();
        assert_eq!(registrations, 1);
    }
}
