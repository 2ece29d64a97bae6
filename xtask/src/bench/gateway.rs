//! `cargo xtask bench gateway`: what the gateway costs on the read path. One GET of a place's
//! detail, three ways, at the same concurrency in the same run:
//!
//! - `direct`: straight from the place-directory projection (`/places/{id}`);
//! - `gateway`: through the gateway (`/api/v1/places/{id}`) with a valid access token, so the
//!   JWT check, the session lookup in Redis and the rate limiter run on every request (the
//!   limits are raised so that the limiter runs but never refuses);
//! - `nginx`: through Debian's nginx as a plain reverse proxy to the projection, keep-alive
//!   upstream, no auth: the baseline a proxy is held to.
//!
//! The four command services, the projection and the gateway run as separate release
//! processes with the run's own databases, broker prefix and Redis prefix, all removed at the
//! end. The member and the place are made through the gateway, as a client would.
//!
//! Load comes from `wrk` with one thread pinned to the last core (`taskset`): the machine is
//! small, and one thread is plenty on loopback while leaving the rest to the processes under
//! measurement. Each round runs the three targets one after the other, starting one further
//! along each round, so drift on a shared machine hits all three alike; a figure is the median
//! of its rounds.
//!
//! Figures (`target/bench/gateway.json`):
//! - `direct_rps`, `gateway_rps`, `nginx_rps`: requests per second at [`CONNECTIONS`]
//!   connections;
//! - `gateway_added_p50_ms`, `gateway_added_p99_ms`: gateway minus direct at the same
//!   percentile, measured apart from the throughput runs at a moderate load (wrk2's fixed rate
//!   is not packaged in Debian, so [`LATENCY_CONNECTIONS`] connections that each pause
//!   [`LATENCY_PAUSE_MS`] ms between requests), median of the rounds' differences;
//! - `gateway_rss_mb_under_load`: the gateway's largest resident set, sampled every 100 ms
//!   through its throughput runs;
//! - `gateway_cpu_us_per_request`, `projection_cpu_us_per_request`: CPU time (user and
//!   system, from `/proc`) the gateway spent per request of its runs and the projection per
//!   request of the direct runs: what a request costs, whatever else the machine was doing;
//! - the targets as figures (`*_floor`, `*_limit`), and the run's context: connections,
//!   durations, rounds, wrk threads, the machine's cores.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use message_bus::{Bus, BusConfig, BusNames, Topology};
use place_directory::PlaceDirectory;
use projection::{ReadModel, live};
use reqwest::StatusCode;
use reqwest::blocking::Client;
use uuid::Uuid;

use super::Suite;
use super::commands::{
    SERVICES, database_name, remove_bucket, service_topology, spawn_service, wait_ready,
};
use super::harness::{
    AMQP_URL, BenchDatabase, MaxRss, cpu_s, delete_topology, median, rss_mb, spawn_release, stop,
};
use super::report::{self, Row};
use crate::cmd::{self, Cmd};
use crate::system::RunNames;
use crate::system::programs::{Program, free_ports, local_url};
use crate::{services, wait};

const CONNECTIONS: usize = 32;
const RUN_FOR: Duration = Duration::from_secs(10);
const LATENCY_CONNECTIONS: usize = 4;
const LATENCY_PAUSE_MS: u64 = 1;
const LATENCY_RUN_FOR: Duration = Duration::from_secs(10);
/// Before the first round, each target is loaded this long unmeasured: connection pools,
/// caches and the projection's query plans warm up.
const WARM_UP: Duration = Duration::from_secs(3);
const ROUNDS: usize = 3;
const WRK_THREADS: usize = 1;
const START_DEADLINE: Duration = Duration::from_secs(60);
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

// The targets' goals from the gateway's specification.
const SHARE_OF_DIRECT_FLOOR: f64 = 0.6;
const ADDED_P50_LIMIT_MS: f64 = 0.3;
const RSS_LIMIT_MB: f64 = 40.0;

const NGINX_TEMPLATE: &str = include_str!("gateway-nginx.conf");
const WRK_SCRIPT: &str = include_str!("gateway-wrk.lua");

pub fn run(root: &Path) -> Result<()> {
    let tools = Tools::find()?;
    services::ensure(root)?;
    eprintln!("building the services, the place directory and the gateway (release)…");
    let mut build = Cmd::cargo().args(["build", "--release", "--quiet"]);
    for package in SERVICES.iter().chain(&[PlaceDirectory::NAME, "gateway"]) {
        build = build.args(["--package", package]);
    }
    build.current_dir(root).run()?;

    let runtime = tokio::runtime::Runtime::new()?;
    let id = Uuid::new_v4().simple().to_string()[..8].to_owned();
    let mut run = Run {
        names: BusNames::with_prefix(format!("bench_{id}")),
        dir: crate::target_dir(root).join("bench").join("gateway"),
        processes: Vec::new(),
        id,
    };
    let measured = measure_on(root, &runtime, &tools, &mut run);
    let cleaned = clean_up(root, &runtime, run);
    let rows = measured?;
    cleaned?;
    report::publish(root, Suite::Gateway, &rows)?;
    Ok(())
}

/// The programs the bench drives, found before anything starts.
struct Tools {
    wrk: PathBuf,
    nginx: PathBuf,
    taskset: PathBuf,
}

impl Tools {
    fn find() -> Result<Self> {
        // Debian puts nginx in /usr/sbin, which is not on every user's PATH.
        let nginx = cmd::find_on_path("nginx")
            .or_else(|| Some(PathBuf::from("/usr/sbin/nginx")).filter(|p| cmd::is_executable(p)));
        match (
            cmd::find_on_path("wrk"),
            nginx,
            cmd::find_on_path("taskset"),
        ) {
            (Some(wrk), Some(nginx), Some(taskset)) => Ok(Self {
                wrk,
                nginx,
                taskset,
            }),
            _ => bail!(
                "the gateway bench needs wrk, nginx and taskset; install them with \
                 `apt-get install wrk nginx util-linux`"
            ),
        }
    }
}

/// Everything one bench run owns, removed at the end whatever happened.
struct Run {
    id: String,
    names: BusNames,
    /// Scripts, nginx's configuration and its logs.
    dir: PathBuf,
    /// Stopped in reverse order: load balancers before what they balance.
    processes: Vec<(&'static str, Child)>,
}

impl Run {
    /// The names the services were started with ([`spawn_service`]).
    fn run_names(&self) -> RunNames {
        RunNames::with_id("bench", &self.id)
    }

    /// Fails when a process the run started has exited, naming its log: waiting on would only
    /// end in a timeout that says less.
    fn check_alive(&mut self) -> Result<()> {
        for (name, child) in &mut self.processes {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "{name} exited ({status}); see target/bench/logs/ or {}",
                    self.dir.display()
                );
            }
        }
        Ok(())
    }
}

/// One way to the place's detail.
struct Target {
    name: &'static str,
    url: String,
    /// The `Authorization` header, for the gateway.
    authorization: Option<String>,
}

/// What one wrk run measured.
#[derive(Debug, Clone, Copy)]
struct WrkRun {
    requests: f64,
    per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// One throughput run, with what it cost the process behind its target.
#[derive(Debug, Clone, Copy)]
struct Loaded {
    run: WrkRun,
    cost: Option<Cost>,
}

#[derive(Debug, Clone, Copy)]
struct Cost {
    cpu_us_per_request: f64,
    max_rss_mb: f64,
}

/// The three targets, and the processes whose cost is read while each is loaded.
struct Setup {
    direct: Target,
    gateway: Target,
    nginx: Target,
    projection_pid: u32,
    gateway_pid: u32,
}

fn measure_on(
    root: &Path,
    runtime: &tokio::runtime::Runtime,
    tools: &Tools,
    run: &mut Run,
) -> Result<Vec<Row>> {
    let setup = start(root, runtime, tools, run)?;
    let wrk = Wrk::new(tools, &run.dir)?;
    eprintln!("warming up…");
    for target in [&setup.direct, &setup.gateway, &setup.nginx] {
        wrk.run(target, CONNECTIONS, WARM_UP, Script::Throughput)?;
    }
    let idle_rss_mb = rss_mb(setup.gateway_pid)?;

    let (mut direct, mut gateway, mut nginx) = (Vec::new(), Vec::new(), Vec::new());
    let (mut direct_latency, mut gateway_latency) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        eprintln!("round {}/{ROUNDS}: throughput, then latency…", round + 1);
        let mut order = [
            (&setup.direct, Some(setup.projection_pid), &mut direct),
            (&setup.gateway, Some(setup.gateway_pid), &mut gateway),
            (&setup.nginx, None, &mut nginx),
        ];
        order.rotate_left(round % 3);
        for (target, pid, runs) in order {
            let loaded = load(&wrk, target, pid)?;
            eprintln!("  {:>8}: {:.0} requests/s", target.name, loaded.run.per_s);
            runs.push(loaded);
        }
        // Which goes first alternates, for the same reason.
        let mut pair = [
            (&setup.direct, &mut direct_latency),
            (&setup.gateway, &mut gateway_latency),
        ];
        pair.rotate_left(round % 2);
        for (target, runs) in pair {
            let measured = wrk.run(
                target,
                LATENCY_CONNECTIONS,
                LATENCY_RUN_FOR,
                Script::Latency,
            )?;
            eprintln!(
                "  {:>8}: p50 {:.3} ms, p99 {:.3} ms at light load",
                target.name, measured.p50_ms, measured.p99_ms
            );
            runs.push(measured);
        }
    }

    let per_s = |runs: &[Loaded]| median(runs.iter().map(|loaded| loaded.run.per_s).collect());
    let (direct_rps, gateway_rps, nginx_rps) = (per_s(&direct), per_s(&gateway), per_s(&nginx));
    let costs = |runs: &[Loaded]| {
        runs.iter()
            .filter_map(|loaded| loaded.cost)
            .collect::<Vec<_>>()
    };
    let cpu = |runs: &[Loaded]| {
        median(
            costs(runs)
                .iter()
                .map(|cost| cost.cpu_us_per_request)
                .collect(),
        )
    };
    let max_rss = |runs: &[Loaded]| {
        costs(runs)
            .iter()
            .map(|cost| cost.max_rss_mb)
            .fold(0.0, f64::max)
    };
    // Rounds are paired so that drift between rounds cancels out.
    let added = |pick: fn(&WrkRun) -> f64| {
        median(
            gateway_latency
                .iter()
                .zip(&direct_latency)
                .map(|(gateway, direct)| pick(gateway) - pick(direct))
                .collect(),
        )
    };
    let latency =
        |runs: &[WrkRun], pick: fn(&WrkRun) -> f64| median(runs.iter().map(pick).collect());
    Ok(vec![
        Row::new("direct_rps", direct_rps),
        Row::limited("gateway_rps", gateway_rps, "nginx_rps"),
        Row::new("nginx_rps", nginx_rps),
        Row::limited(
            "gateway_added_p50_ms",
            added(|run| run.p50_ms),
            "gateway_added_p50_limit_ms",
        ),
        Row::new("gateway_added_p99_ms", added(|run| run.p99_ms)),
        Row::limited(
            "gateway_rss_mb_under_load",
            max_rss(&gateway),
            "gateway_rss_mb_limit",
        ),
        Row::limited(
            "gateway_share_of_direct",
            gateway_rps / direct_rps,
            "gateway_share_of_direct_floor",
        ),
        Row::new("gateway_share_of_direct_floor", SHARE_OF_DIRECT_FLOOR),
        Row::new("gateway_added_p50_limit_ms", ADDED_P50_LIMIT_MS),
        Row::new("gateway_rss_mb_limit", RSS_LIMIT_MB),
        Row::new("gateway_cpu_us_per_request", cpu(&gateway)),
        Row::new("projection_cpu_us_per_request", cpu(&direct)),
        Row::new("concurrency", CONNECTIONS as f64),
        Row::new("duration_s", RUN_FOR.as_secs_f64()),
        Row::new("latency_concurrency", LATENCY_CONNECTIONS as f64),
        Row::new("latency_pause_ms", LATENCY_PAUSE_MS as f64),
        Row::new("latency_duration_s", LATENCY_RUN_FOR.as_secs_f64()),
        Row::new("rounds", ROUNDS as f64),
        Row::new("wrk_threads", WRK_THREADS as f64),
        Row::new("machine_cores", wrk.cores as f64),
        Row::table_only("direct_p50_ms", latency(&direct_latency, |run| run.p50_ms)),
        Row::table_only(
            "gateway_p50_ms",
            latency(&gateway_latency, |run| run.p50_ms),
        ),
        Row::table_only("direct_p99_ms", latency(&direct_latency, |run| run.p99_ms)),
        Row::table_only(
            "gateway_p99_ms",
            latency(&gateway_latency, |run| run.p99_ms),
        ),
        Row::table_only("gateway_rss_mb_idle", idle_rss_mb),
        Row::table_only("projection_rss_mb_under_load", max_rss(&direct)),
    ])
}

/// Starts every process, makes the member and the place, and waits until the place answers
/// through all three targets.
fn start(
    root: &Path,
    runtime: &tokio::runtime::Runtime,
    tools: &Tools,
    run: &mut Run,
) -> Result<Setup> {
    fs::create_dir_all(&run.dir)?;
    for service in SERVICES {
        let child = spawn_service(root, &run.id, &run.names, service)?;
        run.processes.push((service, child));
    }
    runtime.block_on(wait_for_services(run))?;

    let projection_port = free_port()?;
    let child = spawn_release(
        root,
        PlaceDirectory::NAME,
        &projection_env(run, projection_port)?,
    )?;
    let projection_pid = child.id();
    run.processes.push((PlaceDirectory::NAME, child));
    let gateway_port = free_port()?;
    let env = Program::Gateway.env(&run.run_names(), gateway_port);
    let child = spawn_release(root, "gateway", &env)?;
    let gateway_pid = child.id();
    run.processes.push(("gateway", child));
    let (projection, gateway) = (local_url(projection_port), local_url(gateway_port));
    let client = Client::builder().timeout(HTTP_TIMEOUT).build()?;
    for (name, url) in [
        ("the place directory", &projection),
        ("the gateway", &gateway),
    ] {
        let ready = format!("{url}/health/ready");
        wait_until(run, &format!("{name} to be ready"), || {
            Ok(get(&client, &ready, None)? == StatusCode::OK)
        })?;
    }

    eprintln!("registering a member and adding a place through the gateway…");
    let authorization = format!("Bearer {}", register(&client, &gateway, &run.id)?);
    let place_id = add_place(run, &client, &gateway, &authorization)?;
    let nginx_port = free_port()?;
    let child = start_nginx(run, tools, nginx_port, projection_port)?;
    run.processes.push(("nginx", child));
    let setup = Setup {
        direct: Target {
            name: "direct",
            url: format!("{projection}/places/{place_id}"),
            authorization: None,
        },
        gateway: Target {
            name: "gateway",
            url: format!("{gateway}/api/v1/places/{place_id}"),
            authorization: Some(authorization),
        },
        nginx: Target {
            name: "nginx",
            url: format!("{}/places/{place_id}", local_url(nginx_port)),
            authorization: None,
        },
        projection_pid,
        gateway_pid,
    };
    for target in [&setup.direct, &setup.gateway, &setup.nginx] {
        wait_until(run, &format!("the place through {}", target.name), || {
            Ok(get(&client, &target.url, target.authorization.as_deref())? == StatusCode::OK)
        })?;
    }
    Ok(setup)
}

/// One throughput run; with `pid`, what that process spent on it: CPU time per request and
/// its largest resident set.
fn load(wrk: &Wrk, target: &Target, pid: Option<u32>) -> Result<Loaded> {
    let Some(pid) = pid else {
        let run = wrk.run(target, CONNECTIONS, RUN_FOR, Script::Throughput)?;
        return Ok(Loaded { run, cost: None });
    };
    let cpu_before = cpu_s(pid)?;
    let (run, max_rss_mb) = with_max_rss(pid, || {
        wrk.run(target, CONNECTIONS, RUN_FOR, Script::Throughput)
    })?;
    let spent_s = cpu_s(pid)? - cpu_before;
    Ok(Loaded {
        run,
        cost: Some(Cost {
            cpu_us_per_request: spent_s * 1e6 / run.requests,
            max_rss_mb,
        }),
    })
}

/// The command services answer on their queues: the gateway's commands will not wait for a
/// service still starting.
async fn wait_for_services(run: &Run) -> Result<()> {
    let bus = Bus::connect(BusConfig {
        url: AMQP_URL.to_owned(),
        connection_name: format!("waypoint-bench-{}", run.id),
        names: run.names.clone(),
        topology: Topology::new(run.names.clone()),
    })
    .await?;
    let client = bus.command_client();
    for service in SERVICES {
        wait_ready(&client, service).await?;
    }
    bus.shutdown().await;
    Ok(())
}

/// The projection with its own database, catching up from the run's service databases.
fn projection_env(run: &Run, port: u16) -> Result<Vec<(String, String)>> {
    let program = Program::projection::<PlaceDirectory>(place_directory::DEFAULT_SETTINGS)?;
    Ok(program.env(&run.run_names(), port))
}

/// The model's name as a database name: no dashes.
fn projection_database() -> String {
    PlaceDirectory::NAME.replace('-', "_")
}

/// A port nothing listens on now; see [`free_ports`].
fn free_port() -> Result<u16> {
    Ok(free_ports(1)?[0])
}

fn wait_until(run: &mut Run, what: &str, mut check: impl FnMut() -> Result<bool>) -> Result<()> {
    wait::until(what, START_DEADLINE, || {
        run.check_alive()?;
        check()
    })
}

/// The status of a GET; a connection refused counts as not ready yet.
fn get(client: &Client, url: &str, authorization: Option<&str>) -> Result<StatusCode> {
    let mut request = client.get(url);
    if let Some(authorization) = authorization {
        request = request.header("Authorization", authorization);
    }
    match request.send() {
        Ok(response) => Ok(response.status()),
        Err(error) if error.is_connect() => Ok(StatusCode::SERVICE_UNAVAILABLE),
        Err(error) => Err(error).with_context(|| format!("GET {url}")),
    }
}

/// Registers the run's member and returns its access token.
fn register(client: &Client, gateway: &str, id: &str) -> Result<String> {
    let response = client
        .post(format!("{gateway}/api/v1/auth/register"))
        .json(&serde_json::json!({
            "email": format!("bench-{id}@example.com"),
            "password": format!("bench-password-{id}"),
            "nickname": format!("bench {id}"),
        }))
        .send()
        .context("POST /api/v1/auth/register")?;
    let status = response.status();
    let body: serde_json::Value = response.json().unwrap_or_default();
    if status != StatusCode::CREATED {
        bail!("registering the bench member answered {status}: {body}");
    }
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("the registration answer has no access_token")
}

/// Adds the place and returns its id. The request is repeated with the same
/// `Idempotency-Key` while it is only accepted (202), so it runs once.
fn add_place(run: &mut Run, client: &Client, gateway: &str, authorization: &str) -> Result<String> {
    let key = format!("bench-place-{}", run.id);
    let mut place_id = None;
    wait_until(run, "the place to be added", || {
        let response = client
            .post(format!("{gateway}/api/v1/places"))
            .header("Authorization", authorization)
            .header("Idempotency-Key", &key)
            .json(&serde_json::json!({
                "name": "Bench Café",
                "category": "cafe",
                "address": "1 Loopback Lane",
                "description": "Where the load comes from.",
            }))
            .send()
            .context("POST /api/v1/places")?;
        let status = response.status();
        let body: serde_json::Value = response.json().unwrap_or_default();
        match status {
            StatusCode::CREATED => {
                place_id = body["place_id"].as_str().map(str::to_owned);
                Ok(true)
            }
            StatusCode::ACCEPTED => Ok(false),
            _ => bail!("adding the bench place answered {status}: {body}"),
        }
    })?;
    place_id.context("the answer to adding a place has no place_id")
}

/// nginx in the foreground with the run's configuration, answering once it listens.
fn start_nginx(run: &Run, tools: &Tools, port: u16, projection_port: u16) -> Result<Child> {
    let prefix = run.dir.join("nginx");
    fs::create_dir_all(prefix.join("temp"))?;
    let config = NGINX_TEMPLATE
        .replace("{{listen}}", &format!("127.0.0.1:{port}"))
        .replace("{{upstream}}", &format!("127.0.0.1:{projection_port}"));
    let config_path = prefix.join("nginx.conf");
    fs::write(&config_path, config)?;
    let log = cmd::open_log(&prefix.join("output.log"))?;
    let child = Cmd::new(&tools.nginx)
        // `-e` before the configuration is read: Debian's default error log is not ours to
        // write.
        .args(["-e", "error.log", "-p"])
        .arg(&prefix)
        .arg("-c")
        .arg(&config_path)
        .command()
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("could not start {}", tools.nginx.display()))?;
    Ok(child)
}

/// The two ways wrk loads a target.
#[derive(Debug, Clone, Copy)]
enum Script {
    /// As fast as the connections go.
    Throughput,
    /// Each connection pauses [`LATENCY_PAUSE_MS`] between requests.
    Latency,
}

/// wrk with one thread on the last core.
struct Wrk {
    wrk: PathBuf,
    taskset: PathBuf,
    cores: usize,
    throughput_script: PathBuf,
    latency_script: PathBuf,
}

impl Wrk {
    /// Writes the scripts into `dir`.
    fn new(tools: &Tools, dir: &Path) -> Result<Self> {
        let throughput_script = dir.join("throughput.lua");
        fs::write(&throughput_script, WRK_SCRIPT)?;
        let latency_script = dir.join("latency.lua");
        fs::write(
            &latency_script,
            format!("{WRK_SCRIPT}\nfunction delay()\n   return {LATENCY_PAUSE_MS}\nend\n"),
        )?;
        Ok(Self {
            wrk: tools.wrk.clone(),
            taskset: tools.taskset.clone(),
            cores: thread::available_parallelism()?.get(),
            throughput_script,
            latency_script,
        })
    }

    fn run(
        &self,
        target: &Target,
        connections: usize,
        period: Duration,
        script: Script,
    ) -> Result<WrkRun> {
        let script = match script {
            Script::Throughput => &self.throughput_script,
            Script::Latency => &self.latency_script,
        };
        let mut command = Cmd::new(&self.taskset)
            .args(["--cpu-list", &(self.cores - 1).to_string()])
            .arg(&self.wrk)
            .arg(format!("--threads={WRK_THREADS}"))
            .arg(format!("--connections={connections}"))
            .arg(format!("--duration={}s", period.as_secs()))
            .arg("--timeout=5s")
            .arg("--script")
            .arg(script);
        if let Some(authorization) = &target.authorization {
            command = command.args(["--header", &format!("Authorization: {authorization}")]);
        }
        let output = command.arg(&target.url).output()?;
        parse_wrk(&output).with_context(|| format!("wrk against {}", target.name))
    }
}

/// The line [`WRK_SCRIPT`] prints. Every request must have succeeded: an error means the
/// figures measure something else (a refusal, a failing upstream).
fn parse_wrk(output: &str) -> Result<WrkRun> {
    let line = output
        .lines()
        .find_map(|line| line.strip_prefix("waypoint-bench "))
        .with_context(|| format!("no figures in wrk's output: {output}"))?;
    let figures: HashMap<&str, f64> = line
        .split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .filter_map(|(key, value)| Some((key, value.parse().ok()?)))
        .collect();
    let figure = |key: &str| {
        figures
            .get(key)
            .copied()
            .with_context(|| format!("no {key} in wrk's figures: {line}"))
    };
    let errors: f64 = ["connect", "read", "write", "status", "timeout"]
        .iter()
        .map(|key| figure(key))
        .sum::<Result<f64>>()?;
    let requests = figure("requests")?;
    if errors > 0.0 || requests == 0.0 {
        bail!("requests failed ({line}); wrk said: {output}");
    }
    Ok(WrkRun {
        requests,
        per_s: requests / (figure("duration_us")? / 1e6),
        p50_ms: figure("p50_us")? / 1e3,
        p99_ms: figure("p99_us")? / 1e3,
    })
}

/// Runs `work` while sampling `pid`'s resident set; returns its result and the largest sample.
fn with_max_rss<T>(pid: u32, work: impl FnOnce() -> Result<T>) -> Result<(T, f64)> {
    let sampler = MaxRss::start(vec![pid]);
    let result = work();
    let max = sampler.stop()?.total;
    Ok((result?, max))
}

/// Stops the processes, then drops the run's databases, queues, exchanges, Redis keys and
/// photo bucket.
fn clean_up(root: &Path, runtime: &tokio::runtime::Runtime, mut run: Run) -> Result<()> {
    while let Some((name, mut child)) = run.processes.pop() {
        stop(name, &mut child);
    }
    runtime.block_on(async {
        for database in SERVICES
            .iter()
            .copied()
            .chain([projection_database().as_str()])
        {
            BenchDatabase::named(database_name(&run.id, database))
                .drop()
                .await?;
        }
        let bus = Bus::connect(BusConfig {
            url: AMQP_URL.to_owned(),
            connection_name: format!("waypoint-bench-{}-cleanup", run.id),
            names: run.names.clone(),
            topology: Topology::new(run.names.clone()),
        })
        .await?;
        let topology = live::topology::<PlaceDirectory>(service_topology(&run.names))
            .dead_letter_queue(&format!("projection.{}", PlaceDirectory::NAME));
        delete_topology(&bus, &topology).await?;
        bus.shutdown().await;
        anyhow::Ok(())
    })?;
    services::delete_redis_keys(&format!("bench_{}:*", run.id))?;
    remove_bucket(root, &run.id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "Running 10s test @ http://127.0.0.1:1/places/x\n\
        waypoint-bench requests=50000 duration_us=10000000 p50_us=250 p99_us=1200 \
        connect=0 read=0 write=0 status=0 timeout=0\n";

    #[test]
    fn wrk_figures_are_read_from_the_scripts_line() {
        let run = parse_wrk(OUTPUT).unwrap();
        assert_eq!(run.per_s, 5_000.0);
        assert_eq!(run.p50_ms, 0.25);
        assert_eq!(run.p99_ms, 1.2);
    }

    #[test]
    fn a_wrk_run_with_failed_requests_is_refused() {
        let refused = OUTPUT.replace("status=0", "status=12");
        let error = parse_wrk(&refused).unwrap_err();
        assert!(error.to_string().contains("requests failed"), "{error}");
        assert!(parse_wrk("no figures here").is_err());
    }

    #[test]
    fn the_nginx_template_has_both_addresses_to_fill_in() {
        assert!(NGINX_TEMPLATE.contains("listen {{listen}};"));
        assert!(NGINX_TEMPLATE.contains("server {{upstream}};"));
    }
}
