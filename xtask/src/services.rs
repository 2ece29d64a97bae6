//! The local infrastructure the integration tests talk to, started when it is down.
//!
//! Each service is probed first, so a second run with everything up costs a few milliseconds.
//! The tests default to exactly these addresses, so nothing is exported through the environment.
//! The four services are checked in parallel: a cold RabbitMQ boot and an `s3s-fs` install are
//! the slow parts, and there is no reason for one to wait for the other.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use reqwest::Method;

use crate::cmd::{self, Cmd};
use crate::{http, wait};

const fn loopback(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

pub const POSTGRES: SocketAddr = loopback(5432);
pub const REDIS: SocketAddr = loopback(6379);
pub const AMQP: SocketAddr = loopback(5672);
pub const RABBITMQ_MANAGEMENT: SocketAddr = loopback(15672);
/// The local S3 server (`s3s-fs`). Tests default to `http://127.0.0.1:9000` with
/// [`S3_ACCESS_KEY`] and [`S3_SECRET_KEY`]; 9000 is the port S3-compatible servers customarily use.
pub const S3: SocketAddr = loopback(9000);
pub const S3_ACCESS_KEY: &str = "waypoint";
pub const S3_SECRET_KEY: &str = "waypoint-secret";

/// The `s3s-fs` release installed when none is found; pinned so every machine serves the same S3.
const S3S_FS_VERSION: &str = "0.14.1";

/// RabbitMQ's default user, which may log in only from loopback.
const RABBITMQ_GUEST: (&str, &str) = ("guest", "guest");

/// Where Debian keeps one folder per installed PostgreSQL major version.
const POSTGRES_CONFIG_DIR: &str = "/etc/postgresql";

// How long each service may take to come up. Generous, because CI runs on 2 busy cores; the
// polling returns as soon as the service answers.
const POSTGRES_DEADLINE: Duration = Duration::from_secs(60);
const REDIS_DEADLINE: Duration = Duration::from_secs(20);
const RABBITMQ_DEADLINE: Duration = Duration::from_secs(180);
const MANAGEMENT_DEADLINE: Duration = Duration::from_secs(90);
const S3_DEADLINE: Duration = Duration::from_secs(30);
/// How long a service whose start command failed may still take to show up.
const START_FAILED_DEADLINE: Duration = Duration::from_secs(10);

/// Makes sure every service is up, starting those that are down; fails naming each one that is
/// still down and how to start it.
pub fn ensure(root: &Path) -> Result<()> {
    let target = crate::target_dir(root);
    // What the start commands print goes here, one file per service.
    let logs = target.join("services");
    let results = thread::scope(|scope| {
        let checks = [
            ("PostgreSQL", POSTGRES, scope.spawn(|| postgres(&logs))),
            ("Redis", REDIS, scope.spawn(|| redis(&logs))),
            ("RabbitMQ", AMQP, scope.spawn(|| rabbitmq(&logs))),
            ("S3 (s3s-fs)", S3, scope.spawn(|| s3(&target, &logs))),
        ];
        checks.map(|(name, addr, check)| (name, addr, check.join()))
    });

    let mut failures = Vec::new();
    for (name, addr, result) in results {
        match result {
            Ok(Ok(how)) => eprintln!("{name:>12}: up on {addr} ({how})"),
            Ok(Err(error)) => failures.push(format!("{name} on {addr}: {error:#}")),
            Err(_) => failures.push(format!("{name} on {addr}: the check panicked")),
        }
    }
    if !failures.is_empty() {
        bail!("some services are down:\n- {}", failures.join("\n- "));
    }
    Ok(())
}

/// Runs `start` (when given), then waits for `ready`. A start command that fails isn't fatal by
/// itself: another shell may have started the service a moment earlier (pg_ctlcluster and
/// rabbitmq-server both refuse to start twice), so the wait decides, and its error carries the
/// start command's own complaint. That wait is short, though: most often the command failed
/// because the service can't start, and the full deadline would only delay saying so.
fn start_and_wait(
    what: &str,
    start: Option<(&Cmd, &Path)>,
    deadline: Duration,
    ready: impl FnMut() -> Result<bool>,
) -> Result<&'static str> {
    let start_failure = start.and_then(|(cmd, log)| cmd.run_logged(log).err());
    let deadline = match start_failure {
        Some(_) => deadline.min(START_FAILED_DEADLINE),
        None => deadline,
    };
    if let Err(error) = wait::until(what, deadline, ready) {
        match (start, start_failure) {
            (_, Some(failure)) => bail!("{error:#}; the start command failed: {failure:#}"),
            (Some((cmd, log)), None) => bail!(
                "{error:#} after `{cmd}`; its output is in {}",
                log.display()
            ),
            (None, None) => return Err(error),
        }
    }
    Ok(if start.is_some() {
        "started"
    } else {
        "was starting"
    })
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

fn postgres(logs: &Path) -> Result<&'static str> {
    if postgres_ready() {
        return Ok("already running");
    }
    // A port that accepts while pg_isready says no is a server still starting (or recovering):
    // starting it again would only fail, so just wait.
    let start = if wait::port_open(POSTGRES) {
        None
    } else {
        Some(postgres_start_command()?)
    };
    let log = logs.join("postgresql.log");
    start_and_wait(
        "PostgreSQL to accept connections",
        start.as_ref().map(|cmd| (cmd, log.as_path())),
        POSTGRES_DEADLINE,
        || Ok(postgres_ready()),
    )
}

/// TCP alone would call a server that is still recovering "up"; pg_isready asks the server
/// itself, where it is installed.
fn postgres_ready() -> bool {
    if !wait::port_open(POSTGRES) {
        return false;
    }
    if cmd::find_on_path("pg_isready").is_none() {
        return true;
    }
    Cmd::new("pg_isready")
        .args(["-q", "-h", &POSTGRES.ip().to_string()])
        .args(["-p", &POSTGRES.port().to_string()])
        .succeeds()
}

/// `pg_ctlcluster … <version> main start` for the newest cluster Debian has configured.
fn postgres_start_command() -> Result<Cmd> {
    let not_installed = || {
        format!(
            "PostgreSQL is not running and no cluster is configured under {POSTGRES_CONFIG_DIR}; \
             install it with `apt-get install postgresql`"
        )
    };
    if cmd::find_on_path("pg_ctlcluster").is_none() {
        bail!(not_installed());
    }
    let entries = fs::read_dir(POSTGRES_CONFIG_DIR).with_context(not_installed)?;
    let newest = entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().join("main").is_dir())
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            // Versions are compared as numbers so that 9.6 < 15 < 16.
            let key: Vec<u32> = name
                .split('.')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            Some((key, name))
        })
        .max()
        .map(|(_, name)| name)
        .with_context(not_installed)?;
    Ok(Cmd::new("pg_ctlcluster").args(["--skip-systemctl-redirect", &newest, "main", "start"]))
}

// ---------------------------------------------------------------------------------------------
// Redis

fn redis(logs: &Path) -> Result<&'static str> {
    if redis_ready() {
        return Ok("already running");
    }
    if cmd::find_on_path("redis-server").is_none() {
        bail!(
            "Redis is not running and not installed; install it with `apt-get install redis-server`"
        );
    }
    // The same flags the machine's own start-up uses: loopback only, nothing kept on disk.
    let start = Cmd::new("redis-server")
        .args(["--daemonize", "yes", "--bind", "127.0.0.1 -::1"])
        .args(["--port", &REDIS.port().to_string()])
        .args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
        ])
        .args(["--logfile", "/var/log/redis/ci.log"]);
    let log = logs.join("redis.log");
    start_and_wait(
        "Redis to answer PING",
        Some((&start, &log)),
        REDIS_DEADLINE,
        || Ok(redis_ready()),
    )
}

/// A PING rather than a bare connect: Redis accepts connections while it is still loading.
/// Runs one Redis command and returns its raw reply line (`:3`, `+OK`, `-ERR ...`), speaking
/// RESP directly: redis-cli is not always installed beside the server.
pub fn redis_command(args: &[&str]) -> Result<String> {
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    let mut stream = TcpStream::connect_timeout(&REDIS, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(request.as_bytes())?;
    let mut reply = Vec::new();
    let mut byte = [0_u8; 1];
    while !reply.ends_with(b"\r\n") {
        stream.read_exact(&mut byte)?;
        reply.push(byte[0]);
    }
    let reply = String::from_utf8_lossy(&reply).trim_end().to_owned();
    if reply.starts_with('-') {
        bail!("Redis refused `{}`: {reply}", args.join(" "));
    }
    Ok(reply)
}

/// Deletes every key matching `pattern` (such as `t_*`) in one server-side script, and returns
/// how many there were. `KEYS` is fine on the local server, which holds a handful of keys.
pub fn delete_redis_keys(pattern: &str) -> Result<u64> {
    const SCRIPT: &str = "local n = 0 \
        for _, key in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', key) n = n + 1 end \
        return n";
    let reply = redis_command(&["EVAL", SCRIPT, "0", pattern])?;
    reply
        .strip_prefix(':')
        .and_then(|count| count.parse().ok())
        .with_context(|| format!("Redis answered {reply:?} to a key count"))
}

fn redis_ready() -> bool {
    let ping = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect_timeout(&REDIS, Duration::from_millis(500))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(b"PING\r\n")?;
        let mut reply = [0_u8; 7];
        stream.read_exact(&mut reply)?;
        Ok(&reply == b"+PONG\r\n")
    };
    ping().unwrap_or(false)
}

// ---------------------------------------------------------------------------------------------
// RabbitMQ and its management API

/// Starts the broker with as many file descriptors as the hard limit allows.
const RABBITMQ_START: &str = "\
    broker=/usr/lib/rabbitmq/bin/rabbitmq-server; \
    if [ \"$(id -u)\" = 0 ] && [ -x \"$broker\" ] && id rabbitmq >/dev/null 2>&1; then \
      exec su rabbitmq -s /bin/sh -c \"ulimit -n \\$(ulimit -Hn); exec $broker -detached\"; \
    fi; \
    ulimit -n \"$(ulimit -Hn)\"; exec rabbitmq-server -detached";

fn rabbitmq(logs: &Path) -> Result<&'static str> {
    let broker = if wait::port_open(AMQP) {
        "already running"
    } else {
        if cmd::find_on_path("rabbitmq-server").is_none() {
            bail!(
                "RabbitMQ is not running and not installed; \
                 install it with `apt-get install rabbitmq-server`"
            );
        }
        // Every quorum queue and connection holds file descriptors: at a shell's usual 1024 the
        // broker stops completing handshakes under a parallel test suite, without an error.
        // Debian's wrapper switches to the `rabbitmq` user through `su`, whose PAM session
        // sets the limit back to 1024, so the limit is raised after the switch.
        let start = Cmd::new("sh").args(["-c", RABBITMQ_START]);
        let log = logs.join("rabbitmq.log");
        start_and_wait(
            "RabbitMQ to accept AMQP connections",
            Some((&start, &log)),
            RABBITMQ_DEADLINE,
            || Ok(wait::port_open(AMQP)),
        )?
    };

    if management_ready()? {
        return Ok(broker);
    }
    // The plugin may be enabled and merely still booting with the node; enabling it again would
    // cost an Erlang CLI start for nothing.
    let enabled = Cmd::new("rabbitmq-plugins")
        .args(["list", "--enabled", "--minimal", "--silent"])
        .output()
        .context("could not list RabbitMQ's enabled plugins")?;
    let enable = Cmd::new("rabbitmq-plugins").args(["enable", "rabbitmq_management"]);
    let needs_enabling = !enabled
        .lines()
        .any(|line| line.trim() == "rabbitmq_management");
    if needs_enabling {
        eprintln!("{:>12}: enabling the management plugin", "RabbitMQ");
        enable.output()?;
    }
    let what = format!("the RabbitMQ management API on {RABBITMQ_MANAGEMENT}");
    wait::until(&what, MANAGEMENT_DEADLINE, management_ready)
        .with_context(|| format!("is the plugin enabled? `{enable}`"))?;
    Ok(broker)
}

/// Whether the management API answers; an error when it answers but refuses the guest user,
/// since waiting longer cannot fix that.
fn management_ready() -> Result<bool> {
    match management(Method::GET, "/api/overview") {
        Ok(response) if response.status == 200 => Ok(true),
        Ok(response) if response.status == 401 => bail!(
            "the management API on {RABBITMQ_MANAGEMENT} refuses guest:guest; \
             the tests need RabbitMQ's default guest user"
        ),
        _ => Ok(false),
    }
}

/// One request to the management API as the guest user.
pub fn management(method: Method, path: &str) -> Result<http::Response> {
    http::request(method, RABBITMQ_MANAGEMENT, path, RABBITMQ_GUEST)
}

// ---------------------------------------------------------------------------------------------
// S3

fn s3(target: &Path, logs: &Path) -> Result<&'static str> {
    let binary = match find_s3s_fs() {
        Some(binary) => binary,
        None => {
            // `cargo install` is idempotent and takes a lock, so an install already running in
            // another shell only makes this one wait and then find it done.
            Cmd::cargo()
                .args(["install", "s3s-fs", "--version", S3S_FS_VERSION])
                .args(["--features", "binary", "--locked"])
                .run()
                .context("could not install the S3 server")?;
            find_s3s_fs().context("`cargo install s3s-fs` succeeded but s3s-fs is not found")?
        }
    };
    if wait::port_open(S3) {
        return Ok("already running");
    }

    let data = target.join("s3-data");
    fs::create_dir_all(&data).with_context(|| format!("could not create {}", data.display()))?;
    let log_path = logs.join("s3s-fs.log");
    let log = cmd::open_log(&log_path)?;
    let start = Cmd::new(&binary)
        .args([
            "--host",
            &S3.ip().to_string(),
            "--port",
            &S3.port().to_string(),
        ])
        .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
        .arg(&data);
    // Detached like nohup: no terminal, output to a log, and its own process group so that the
    // Ctrl-C that stops xtask or the test run doesn't stop the server with it. The child is never
    // waited for and outlives this process.
    let mut child = start
        .command()
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .with_context(|| format!("could not start `{start}`"))?;

    let what = format!("s3s-fs to listen on {S3}");
    wait::until(&what, S3_DEADLINE, || {
        if let Some(status) = child.try_wait()? {
            bail!(
                "s3s-fs exited ({status}) instead of listening; see {}",
                log_path.display()
            );
        }
        Ok(wait::port_open(S3))
    })
    .map_err(|error| anyhow!("{error:#}; start it by hand with `{start}`"))?;
    Ok("started")
}

/// `s3s-fs` on PATH, or where `cargo install` puts it when that folder isn't on PATH.
fn find_s3s_fs() -> Option<PathBuf> {
    const NAME: &str = "s3s-fs";
    cmd::find_on_path(NAME).or_else(|| {
        let cargo_home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))?;
        let candidate = cargo_home.join("bin").join(NAME);
        cmd::is_executable(&candidate).then_some(candidate)
    })
}
