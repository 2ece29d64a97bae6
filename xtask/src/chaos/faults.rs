//! The faults, injected in turn while the load runs: a command service, the relay of a store
//! (the instance holding its leadership lock, with a second instance standing by), a read
//! model and the gateway are each killed with SIGKILL and started again after a while; the
//! broker is stopped and started again.

use std::collections::HashSet;
use std::fs;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sqlx::{Connection, PgConnection};

use crate::bench::harness::POSTGRES_ADMIN_URL;
use crate::cmd::Cmd;
use crate::system::System;

/// The service run twice, so that one instance's relay stands by for the other's.
pub const RELAY_SERVICE: &str = "reviews";
pub const RELAY_STANDBY: &str = "reviews-standby";
const KILLED_SERVICE: &str = "ratings";
const KILLED_PROJECTION: &str = "review-feed";
const KILLED_GATEWAY: &str = "gateway";
const TAKEOVER_DEADLINE: Duration = Duration::from_secs(30);
/// Stopping or starting the broker's application, queues recovered included.
const BROKER_DEADLINE: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    KillCommandService,
    KillRelay,
    KillProjection,
    KillGateway,
    RestartBroker,
}

impl Fault {
    /// One round: each fault once, in this order.
    pub const ROUND: [Self; 5] = [
        Self::KillCommandService,
        Self::KillRelay,
        Self::KillProjection,
        Self::KillGateway,
        Self::RestartBroker,
    ];
}

/// What one fault did.
#[derive(Debug, Clone)]
pub struct Injected {
    pub what: String,
    /// From the start of the load.
    pub at: Duration,
    /// For a killed relay: how long until the standby held the lock.
    pub takeover: Option<Duration>,
    /// From the restart to every process being ready again.
    pub recovered_after: Duration,
}

/// Injects `fault`, keeps it for `down_for`, then restores what it broke.
pub async fn inject(
    system: &mut System,
    fault: Fault,
    down_for: Duration,
    at: Duration,
) -> Result<Injected> {
    let mut takeover = None;
    let what = match fault {
        Fault::KillCommandService => {
            kill(system, KILLED_SERVICE, "command service", down_for).await?
        }
        Fault::KillProjection => kill(system, KILLED_PROJECTION, "read model", down_for).await?,
        Fault::KillGateway => kill(system, KILLED_GATEWAY, "gateway", down_for).await?,
        Fault::KillRelay => {
            let holder = relay_holder(system).await?;
            let killed = Instant::now();
            system.kill(&holder)?;
            let standby = wait_for_takeover(system, &holder).await?;
            takeover = Some(killed.elapsed());
            tokio::time::sleep(down_for.saturating_sub(killed.elapsed())).await;
            format!("kill {holder}, the active relay of {RELAY_SERVICE} ({standby} took over)")
        }
        Fault::RestartBroker => {
            broker("stop_app").await?;
            tokio::time::sleep(down_for).await;
            broker("start_app").await?;
            "stop and start RabbitMQ".to_owned()
        }
    };
    let restarted = Instant::now();
    for name in stopped(system) {
        system.restart(&name).await?;
    }
    system.wait_all_ready().await?;
    Ok(Injected {
        what,
        at,
        takeover,
        recovered_after: restarted.elapsed(),
    })
}

async fn kill(system: &mut System, name: &str, role: &str, down_for: Duration) -> Result<String> {
    system.kill(name)?;
    tokio::time::sleep(down_for).await;
    Ok(format!("kill {name} ({role})"))
}

/// The processes killed and not started yet.
fn stopped(system: &System) -> Vec<String> {
    let running: HashSet<String> = system.pids().into_iter().map(|(name, _)| name).collect();
    system
        .specs()
        .map(|spec| spec.name.clone())
        .filter(|name| !running.contains(name))
        .collect()
}

/// `rabbitmqctl stop_app` or `start_app`: the node stays up, the broker in it stops, every
/// connection drops and the durable queues come back with their messages. A node that does
/// not answer must fail the run rather than hang it, so the command (and the Erlang VM it
/// starts, in its process group) is killed after [`BROKER_DEADLINE`].
async fn broker(action: &'static str) -> Result<()> {
    let mut child = std::process::Command::new("rabbitmqctl")
        .arg(action)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("could not run rabbitmqctl")?;
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            if !status.success() {
                bail!("`rabbitmqctl {action}` failed ({status})");
            }
            return Ok(());
        }
        if started.elapsed() > BROKER_DEADLINE {
            let group = format!("-{}", child.id());
            let _ = Cmd::new("kill").args(["-KILL", "--", &group]).run();
            let _ = child.wait();
            bail!("`rabbitmqctl {action}` did not finish in {BROKER_DEADLINE:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Which of the relay service's instances holds its store's leadership lock: the PostgreSQL
/// session holding it, by its client port, is one of that instance's sockets.
async fn relay_holder(system: &System) -> Result<String> {
    running_holder(system)
        .await?
        .with_context(|| format!("no running {RELAY_SERVICE} instance holds the relay lock"))
}

/// The running instance holding the lock; none while nobody holds it, or while it is still held
/// by the session of an instance just killed (until the server notices the closed socket).
async fn running_holder(system: &System) -> Result<Option<String>> {
    let Some(port) = lock_holder_port(system).await? else {
        return Ok(None);
    };
    let instances = system
        .pids()
        .into_iter()
        .filter(|(name, _)| [RELAY_SERVICE, RELAY_STANDBY].contains(&name.as_str()));
    for (name, pid) in instances {
        if local_ports(pid)?.contains(&port) {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

/// Waits until an instance other than the killed one holds the lock; its name.
async fn wait_for_takeover(system: &System, killed: &str) -> Result<String> {
    let started = Instant::now();
    loop {
        if let Some(holder) = running_holder(system).await?
            && holder != killed
        {
            return Ok(holder);
        }
        if started.elapsed() > TAKEOVER_DEADLINE {
            bail!("no relay took over from {killed} in {TAKEOVER_DEADLINE:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The client port of the session holding the relay's advisory lock on the run's store.
async fn lock_holder_port(system: &System) -> Result<Option<u16>> {
    let mut admin = PgConnection::connect(POSTGRES_ADMIN_URL).await?;
    let port: Option<i32> = sqlx::query_scalar(
        "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.granted
            AND a.datname = $1 AND a.application_name = $2",
    )
    .bind(system.names().database(RELAY_SERVICE))
    .bind(format!("waypoint-relay {RELAY_SERVICE}"))
    .fetch_optional(&mut admin)
    .await?;
    admin.close().await?;
    port.map(u16::try_from).transpose().map_err(Into::into)
}

/// The local ports of `pid`'s TCP sockets: its descriptors' socket inodes, looked up in its
/// network namespace's socket tables.
fn local_ports(pid: u32) -> Result<HashSet<u16>> {
    let mut inodes = HashSet::new();
    for fd in fs::read_dir(format!("/proc/{pid}/fd"))?.flatten() {
        let target = fs::read_link(fd.path()).unwrap_or_default();
        if let Some(inode) = target
            .to_str()
            .and_then(|target| target.strip_prefix("socket:["))
            .and_then(|target| target.strip_suffix(']'))
        {
            inodes.insert(inode.to_owned());
        }
    }
    let mut ports = HashSet::new();
    for table in ["tcp", "tcp6"] {
        let text = fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        ports.extend(sockets_of(&text, &inodes));
    }
    Ok(ports)
}

/// The local ports of the rows of a `/proc/net/tcp` table whose inode is one of `inodes`.
fn sockets_of(table: &str, inodes: &HashSet<String>) -> Vec<u16> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, inode) = (fields.get(1)?, fields.get(9)?);
            if !inodes.contains(*inode) {
                return None;
            }
            let (_, port) = local.rsplit_once(':')?;
            u16::from_str_radix(port, 16).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1538 0100007F:D2C4 01 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 20 4 30 10 -1
   1: 0100007F:D2C4 0100007F:1538 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1
";

    #[test]
    fn a_socket_is_found_by_its_inode() {
        let inodes: HashSet<String> = ["4343".to_owned()].into();
        assert_eq!(sockets_of(TABLE, &inodes), vec![0xD2C4]);
        assert!(sockets_of(TABLE, &HashSet::new()).is_empty());
    }

    #[test]
    fn the_sockets_of_this_process_are_found() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(local_ports(std::process::id()).unwrap().contains(&port));
    }
}
