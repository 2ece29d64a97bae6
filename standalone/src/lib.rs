//! All of Waypoint in one process: the embedded default for running it on one machine.
//!
//! The gateway, the four command services (each with its relay) and every projection run as
//! tasks of one process, but nothing is short-circuited: commands still travel over RabbitMQ,
//! events are still relayed from each service's own event store, and every part keeps its own
//! database, created and migrated at start. What a test or a newcomer sees here is what a
//! deployment does.
//!
//! # Layout
//! - [`settings`]: standalone's own settings and how they are laid over each part's.
//! - [`parts`]: the nine parts and how each starts, as its own `main` would.
//! - [`Standalone`]: start in order, wait until every part is ready, stop in reverse order.
//! - `banner`: the URLs printed once the system is up.
//!
//! # Invariants
//! - Start order: command services (they create the stores), projections (they catch up from
//!   those stores), then the gateway, so the API never answers before what it routes to exists.
//! - Stop order is the reverse: the gateway stops taking requests first, commands in flight are
//!   finished by their services, then the projections stop. Nothing accepted is dropped: what a
//!   relay has not published yet is published by the next start.
//! - Starting again over an earlier run's state (databases, queues) is the same as a restart
//!   of every service: migrations and declarations are idempotent.

mod banner;
pub mod parts;
pub mod settings;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use message_bus::CancellationToken;
use service_kit::settings::ConfigSources;

use crate::parts::{Part, Role, RunningPart, StartError};
use crate::settings::StandaloneSettings;

pub use banner::banner;

#[derive(Debug, thiserror::Error)]
pub enum StandaloneError {
    #[error(transparent)]
    Settings(#[from] service_kit::settings::SettingsError),
    #[error(transparent)]
    Defaults(#[from] settings::EmbeddedDefaultsError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("{part} was not ready within {timeout:?}: is {url} answering?")]
    NotReady {
        part: &'static str,
        url: String,
        timeout: Duration,
    },
}

/// A running standalone Waypoint.
#[derive(Debug)]
pub struct Standalone {
    settings: StandaloneSettings,
    /// What the parts' settings are layered from, to start one again.
    sources: ConfigSources,
    /// In start order.
    parts: Vec<RunningPart>,
    /// One stop signal per role, so roles stop one after the other.
    stops: [(Role, CancellationToken); 3],
    crashed: CancellationToken,
    started_in: Duration,
}

impl Standalone {
    /// Starts every part with the settings `sources` gives (its embedded default must be
    /// [`settings::DEFAULT_SETTINGS`]) and returns once all of them are ready.
    pub async fn start(sources: ConfigSources) -> Result<Self, StandaloneError> {
        let began = Instant::now();
        let settings = StandaloneSettings::load(&sources)?;
        let stops = [Role::Gateway, Role::Commands, Role::Projection]
            .map(|role| (role, CancellationToken::new()));
        let mut system = Self {
            settings,
            sources: sources.clone(),
            parts: Vec::new(),
            stops,
            crashed: CancellationToken::new(),
            started_in: Duration::ZERO,
        };
        // Whatever fails half-way, the parts already running are stopped before returning.
        if let Err(error) = system.start_parts().await {
            system.stop().await;
            return Err(error);
        }
        system.started_in = began.elapsed();
        Ok(system)
    }

    async fn start_parts(&mut self) -> Result<(), StandaloneError> {
        for group in [
            &Part::COMMAND_SERVICES[..],
            &Part::PROJECTIONS[..],
            &[Part::Gateway][..],
        ] {
            // The parts of one group do not need each other: they start side by side.
            let mut starting = tokio::task::JoinSet::new();
            for &part in group {
                starting.spawn(self.starting(part)?);
            }
            let mut started = Vec::new();
            let mut first_error = None;
            while let Some(joined) = starting.join_next().await {
                match joined {
                    Ok(Ok(running)) => started.push(running),
                    Ok(Err(error)) => {
                        first_error.get_or_insert(StandaloneError::Start(error));
                    }
                    Err(panicked) => {
                        first_error.get_or_insert(StandaloneError::Start(StartError {
                            part: "a part",
                            reason: panicked.to_string(),
                        }));
                    }
                }
            }
            started.sort_by_key(|running| group.iter().position(|&part| part == running.part));
            self.parts.extend(started);
            if let Some(error) = first_error {
                return Err(error);
            }
            self.wait_until_ready(group).await?;
        }
        Ok(())
    }

    /// What starts `part` on its own stop signal, a child of its role's.
    fn starting(
        &self,
        part: Part,
    ) -> Result<impl Future<Output = Result<RunningPart, StartError>> + use<>, StandaloneError>
    {
        let sources = self.settings.sources_for(&self.sources, part)?;
        let stop = self.stop_of(part.role()).child_token();
        let crashed = self.crashed.clone();
        Ok(async move { parts::start(part, &sources, stop, crashed).await })
    }

    /// Stops one part as a deployment would lose one service, the rest running on: its
    /// queue keeps what is sent to it meanwhile.
    pub async fn stop_part(&mut self, part: Part) {
        let (stopping, running): (Vec<_>, Vec<_>) = std::mem::take(&mut self.parts)
            .into_iter()
            .partition(|running| running.part == part);
        self.parts = running;
        let grace = self.stop_grace();
        for running in stopping {
            running.stop.cancel();
            running.finish(grace).await;
        }
    }

    /// Starts a part again after [`Standalone::stop_part`], with the same settings, and waits
    /// until it is ready.
    pub async fn start_part(&mut self, part: Part) -> Result<(), StandaloneError> {
        let running = self.starting(part)?.await?;
        self.parts.push(running);
        self.wait_until_ready(&[part]).await
    }

    fn stop_grace(&self) -> Duration {
        Duration::from_millis(self.settings.startup.stop_grace_ms)
    }

    /// Polls each part's `/health/ready` until it answers 200.
    async fn wait_until_ready(&self, group: &[Part]) -> Result<(), StandaloneError> {
        let timeout = Duration::from_millis(self.settings.startup.ready_timeout_ms);
        let deadline = Instant::now() + timeout;
        let client = reqwest::Client::new();
        for running in self
            .parts
            .iter()
            .filter(|running| group.contains(&running.part))
        {
            let url = format!("http://{}/health/ready", reachable(running.http));
            loop {
                let ready = client
                    .get(&url)
                    .timeout(Duration::from_secs(1))
                    .send()
                    .await
                    .is_ok_and(|response| response.status().is_success());
                if ready {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(StandaloneError::NotReady {
                        part: running.part.name(),
                        url,
                        timeout,
                    });
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(())
    }

    fn stop_of(&self, role: Role) -> CancellationToken {
        self.stops
            .iter()
            .find(|(of, _)| *of == role)
            .map(|(_, stop)| stop.clone())
            .unwrap_or_default()
    }

    /// Where the API is.
    pub fn gateway(&self) -> SocketAddr {
        self.address_of(Part::Gateway)
            .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, self.settings.http.port)))
    }

    /// Where `part` serves `/health/*` and `/metrics`, reachable from this machine.
    pub fn address_of(&self, part: Part) -> Option<SocketAddr> {
        self.parts
            .iter()
            .find(|running| running.part == part)
            .map(|running| reachable(running.http))
    }

    /// Each running part's instance id: its name in discovery and on its broker connections.
    pub fn instance_ids(&self) -> impl Iterator<Item = (Part, &str)> {
        self.parts
            .iter()
            .map(|running| (running.part, running.instance_id.as_str()))
    }

    pub fn settings(&self) -> &StandaloneSettings {
        &self.settings
    }

    /// From [`Standalone::start`] being called to every part being ready.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Completes when a part stopped without being asked to.
    pub async fn crashed(&self) {
        self.crashed.cancelled().await;
    }

    /// Stops the gateway, then the command services, then the projections, each finishing
    /// the work it has in hand.
    pub async fn stop(self) {
        let grace = self.stop_grace();
        let Self { parts, stops, .. } = self;
        let mut parts = parts;
        for (role, stop) in stops {
            stop.cancel();
            let (stopping, rest): (Vec<_>, Vec<_>) = parts
                .into_iter()
                .partition(|running| running.part.role() == role);
            parts = rest;
            for running in stopping {
                running.finish(grace).await;
            }
        }
    }
}

/// `0.0.0.0` and `::` are where a part listens, not an address to call it at.
fn reachable(address: SocketAddr) -> SocketAddr {
    if address.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), address.port())
    } else {
        address
    }
}
