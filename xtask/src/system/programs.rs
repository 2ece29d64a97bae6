//! Which programs make up Waypoint and how each is configured for a run: its binary, its port,
//! and the `WAYPOINT__*` variables that give it the run's databases, broker prefix, Redis prefix
//! and bucket.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;

use anyhow::{Context, Result};
use member_profile::MemberProfile;
use place_directory::PlaceDirectory;
use projection::ReadModel;
use review_feed::ReviewFeed;
use top_reviewers::TopReviewers;

use super::RunNames;
use crate::cmd::Cmd;

/// The four command services, in the order they start.
pub const SERVICES: [&str; 4] = ["members", "places", "reviews", "ratings"];

/// The services whose photo checks need the bucket (avatars, review photos).
const PHOTO_SERVICES: [&str; 2] = ["members", "reviews"];

/// Per address and per member: far above anything one machine's loopback reaches, so the
/// limiter does all its work and never refuses.
const RATE_LIMIT_PER_S: &str = "1000000";
const RATE_LIMIT_BURST: &str = "1000000";
/// Connections per database pool. The embedded defaults (20 per command service, 10 per read
/// model, plus a model's pool per source store) suit a process with a server to itself; all
/// nine together held about 90 of a stock PostgreSQL's 100 connections once each had been busy,
/// and the next pool to grow waited seconds for a connection ("too many clients"). A command
/// holds its connection for a millisecond or two, so 8 serve a service's 16 workers.
const SERVICE_CONNECTIONS: &str = "8";
const PROJECTION_CONNECTIONS: &str = "4";
/// Longer than any run, so a token issued at the start is valid to the end.
const ACCESS_TTL_S: &str = "3600";

/// One of Waypoint's programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// A command service, by name (also its binary's).
    Service(&'static str),
    /// A read model: its name (its binary's), the services whose stores it reads, and the
    /// event types it applies.
    Projection {
        name: &'static str,
        sources: BTreeSet<String>,
        event_types: &'static [&'static str],
    },
    Gateway,
}

impl Program {
    /// A read model with the sources its embedded settings name: each of them is given the
    /// run's database, so none is left pointing at a database outside the run.
    pub fn projection<M: ReadModel>(default_settings: &str) -> Result<Self> {
        let settings: toml::Table = toml::from_str(default_settings)
            .with_context(|| format!("{}'s embedded settings", M::NAME))?;
        let sources = settings
            .get("sources")
            .and_then(toml::Value::as_table)
            .with_context(|| format!("{}'s embedded settings have no [sources]", M::NAME))?
            .keys()
            .cloned()
            .collect();
        Ok(Self::Projection {
            name: M::NAME,
            sources,
            event_types: M::EVENT_TYPES,
        })
    }

    pub fn binary(&self) -> &'static str {
        match self {
            Self::Service(name) | Self::Projection { name, .. } => name,
            Self::Gateway => "gateway",
        }
    }

    /// The run's variables for this program serving HTTP on `port`.
    pub fn env(&self, names: &RunNames, port: u16) -> Vec<(String, String)> {
        let mut env = vec![
            var("WAYPOINT__HTTP__PORT", port),
            // The broker the tests use, which `WAYPOINT_TEST_AMQP_URL` can point elsewhere.
            var("WAYPOINT__RABBITMQ__URL", testkit::rabbitmq::amqp_url()),
            var("WAYPOINT__RABBITMQ__PREFIX", names.run()),
            var("WAYPOINT__REDIS__KEY_PREFIX", names.redis_prefix()),
        ];
        match self {
            Self::Service(service) => {
                env.push(var("WAYPOINT__COMMANDS__DATABASE", names.database(service)));
                env.push(var(
                    "WAYPOINT__POSTGRES__MAX_CONNECTIONS",
                    SERVICE_CONNECTIONS,
                ));
                if PHOTO_SERVICES.contains(service) {
                    env.push(var("WAYPOINT__PHOTOS__BUCKET", names.bucket()));
                }
            }
            Self::Projection { name, sources, .. } => {
                env.push(var("WAYPOINT__PROJECTION__DATABASE", names.database(name)));
                for source in sources {
                    let key = format!("WAYPOINT__SOURCES__{}", source.to_uppercase());
                    env.push((key, names.database(source)));
                }
            }
            Self::Gateway => env.extend([
                var("WAYPOINT__PHOTOS__BUCKET", names.bucket()),
                var("WAYPOINT__AUTH__ACCESS_TTL_S", ACCESS_TTL_S),
                var("WAYPOINT__RATE_LIMIT__PER_IP_PER_S", RATE_LIMIT_PER_S),
                var("WAYPOINT__RATE_LIMIT__PER_IP_BURST", RATE_LIMIT_BURST),
                var("WAYPOINT__RATE_LIMIT__PER_MEMBER_PER_S", RATE_LIMIT_PER_S),
                var("WAYPOINT__RATE_LIMIT__PER_MEMBER_BURST", RATE_LIMIT_BURST),
            ]),
        }
        env
    }
}

impl Program {
    /// The size of its database pools when the whole system shares one server; see
    /// [`SERVICE_CONNECTIONS`].
    pub fn shared_server_env(&self) -> Option<(String, String)> {
        let connections = match self {
            Self::Service(_) => SERVICE_CONNECTIONS,
            Self::Projection { .. } => PROJECTION_CONNECTIONS,
            Self::Gateway => return None,
        };
        Some(var("WAYPOINT__POSTGRES__MAX_CONNECTIONS", connections))
    }
}

fn var(key: &str, value: impl ToString) -> (String, String) {
    (key.to_owned(), value.to_string())
}

/// One process to run: a name of its own (`reviews`, `reviews-standby`) and its program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    pub name: String,
    pub program: Program,
}

impl ProcessSpec {
    pub fn new(name: impl Into<String>, program: Program) -> Self {
        Self {
            name: name.into(),
            program,
        }
    }
}

/// The whole of Waypoint in start order: the command services, the read models, the gateway.
pub fn whole_system() -> Result<Vec<ProcessSpec>> {
    let services = SERVICES
        .into_iter()
        .map(|service| ProcessSpec::new(service, Program::Service(service)));
    let projections = [
        Program::projection::<ReviewFeed>(review_feed::DEFAULT_SETTINGS)?,
        Program::projection::<PlaceDirectory>(place_directory::DEFAULT_SETTINGS)?,
        Program::projection::<MemberProfile>(member_profile::DEFAULT_SETTINGS)?,
        Program::projection::<TopReviewers>(top_reviewers::DEFAULT_SETTINGS)?,
    ]
    .into_iter()
    .map(|program| ProcessSpec::new(program.binary(), program));
    Ok(services
        .chain(projections)
        .chain([ProcessSpec::new("gateway", Program::Gateway)])
        .collect())
}

/// Which build of the programs a run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Build {
    /// Optimised: what benchmarks measure.
    #[default]
    Release,
    /// The development build: where the test suite has just built every dependency, so CI
    /// pays only for linking the programs.
    Debug,
}

impl Build {
    /// The folder under `target/` the binaries land in.
    pub fn dir(self) -> &'static str {
        match self {
            Self::Release => "release",
            Self::Debug => "debug",
        }
    }
}

/// Builds the binaries of `specs` in `profile`, the way they will be started.
pub fn build(root: &Path, specs: &[ProcessSpec], profile: Build) -> Result<()> {
    eprintln!("building the programs ({})…", profile.dir());
    let mut build = Cmd::cargo().args(["build", "--quiet"]);
    if profile == Build::Release {
        build = build.arg("--release");
    }
    for binary in specs
        .iter()
        .map(|spec| spec.program.binary())
        .collect::<BTreeSet<_>>()
    {
        build = build.args(["--package", binary]);
    }
    build.current_dir(root).run()
}

/// `count` distinct ports nothing listens on now. They are all held until all are found, so
/// none is handed out twice; another program could still take one before its process binds,
/// which on a bench machine is unlikely enough, and a clash fails the start.
pub fn free_ports(count: usize) -> Result<Vec<u16>> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))))
        .collect::<std::io::Result<Vec<_>>>()?;
    Ok(listeners
        .iter()
        .map(|listener| listener.local_addr().map(|addr| addr.port()))
        .collect::<std::io::Result<Vec<_>>>()?)
}

pub fn local_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
        env.iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    #[test]
    fn the_whole_system_is_nine_programs_gateway_last() {
        let specs = whole_system().unwrap();
        let names: Vec<&str> = specs.iter().map(|spec| spec.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "members",
                "places",
                "reviews",
                "ratings",
                "review-feed",
                "place-directory",
                "member-profile",
                "top-reviewers",
                "gateway"
            ]
        );
    }

    #[test]
    fn every_source_a_model_reads_events_from_is_configured() {
        for spec in whole_system().unwrap() {
            if let Program::Projection {
                name,
                sources,
                event_types,
            } = spec.program
            {
                let read = projection::reads::sources_of(event_types);
                assert!(read.is_subset(&sources), "{name}: {read:?} ⊄ {sources:?}");
            }
        }
    }

    #[test]
    fn a_projection_reads_the_stores_its_settings_name() {
        let names = RunNames::with_id("system", "ab12cd34");
        let program = Program::projection::<MemberProfile>(member_profile::DEFAULT_SETTINGS);
        let env = program.unwrap().env(&names, 8203);
        assert_eq!(
            value(&env, "WAYPOINT__PROJECTION__DATABASE"),
            Some("waypoint_system_ab12cd34_member_profile")
        );
        assert_eq!(
            value(&env, "WAYPOINT__SOURCES__MEMBERS"),
            Some("waypoint_system_ab12cd34_members")
        );
        assert_eq!(value(&env, "WAYPOINT__SOURCES__PLACES"), None);
        assert_eq!(value(&env, "WAYPOINT__HTTP__PORT"), Some("8203"));
    }

    #[test]
    fn services_get_their_database_and_the_run_prefixes() {
        let names = RunNames::with_id("system", "ab12cd34");
        let env = Program::Service("reviews").env(&names, 1234);
        assert_eq!(
            value(&env, "WAYPOINT__COMMANDS__DATABASE"),
            Some("waypoint_system_ab12cd34_reviews")
        );
        assert_eq!(
            value(&env, "WAYPOINT__RABBITMQ__PREFIX"),
            Some("system_ab12cd34")
        );
        assert_eq!(
            value(&env, "WAYPOINT__REDIS__KEY_PREFIX"),
            Some("system_ab12cd34:")
        );
        assert_eq!(
            value(&env, "WAYPOINT__PHOTOS__BUCKET"),
            Some("system-ab12cd34")
        );
        let places = Program::Service("places").env(&names, 1234);
        assert_eq!(value(&places, "WAYPOINT__PHOTOS__BUCKET"), None);
    }

    #[test]
    fn free_ports_are_distinct() {
        let ports = free_ports(9).unwrap();
        let distinct: BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), 9);
    }
}
