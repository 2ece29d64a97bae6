//! What standalone mode reads, and how it lays that over each part's own settings.
//!
//! Every part keeps its own embedded defaults as the lowest layer, then the same files and
//! `WAYPOINT__*` variables the standalone process was given. The servers, prefixes, databases,
//! ports and photo storage chosen here are then set above all of that, so the parts cannot
//! disagree about them: one variable such as `WAYPOINT__POSTGRES__URL` moves every part.

use photo_store::{PhotoBackend, PhotoSettings};
use serde::Deserialize;
use service_kit::settings::{ConfigSources, HttpSettings, SettingsError};
use service_kit::telemetry::TelemetrySettings;

use crate::parts::{Part, Role};

/// The embedded defaults (`config/default.toml`).
pub const DEFAULT_SETTINGS: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct StandaloneSettings {
    pub postgres: Postgres,
    pub rabbitmq: Broker,
    pub redis: Redis,
    pub databases: Databases,
    pub http: Http,
    /// Handed to every part that stores or checks photos (gateway, members, reviews) as is.
    pub photos: PhotoSettings,
    pub startup: Startup,
    /// One process, one tracer: the parts' own `[telemetry]` sections are not used.
    #[serde(default)]
    pub telemetry: TelemetrySettings,
}

/// A server every part connects to.
#[derive(Clone, Deserialize)]
pub struct Server {
    pub url: String,
}

impl std::fmt::Debug for Server {
    // The URL may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}

/// The one PostgreSQL server every part keeps its databases on.
#[derive(Debug, Clone, Deserialize)]
pub struct Postgres {
    #[serde(flatten)]
    pub server: Server,
    /// Each part's pool size: nine parts share the server's connections (100 by default), where
    /// each part's own default assumes a server of its own.
    pub max_connections: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Broker {
    #[serde(flatten)]
    pub server: Server,
    pub prefix: String,
    /// Where the broker's management UI is, to print it.
    pub management_url: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Redis {
    #[serde(flatten)]
    pub server: Server,
    pub key_prefix: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Databases {
    /// Each part's database is this and its name.
    pub prefix: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Http {
    pub host: String,
    /// The gateway's port: the only one a client needs.
    pub port: u16,
    pub internal_ports: InternalPorts,
}

/// Where the parts other than the gateway serve `/health` and `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InternalPorts {
    /// The port in each part's own defaults, as when it runs as a process of its own.
    Own,
    /// Any free port: for tests, or beside another Waypoint on the same machine.
    Any,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Startup {
    pub ready_timeout_ms: u64,
    /// How long a stopping part may take to finish its in-flight work before it is aborted.
    pub stop_grace_ms: u64,
}

impl StandaloneSettings {
    /// Loads standalone's own layers from `sources` (whose embedded default is
    /// [`DEFAULT_SETTINGS`]).
    pub fn load(sources: &ConfigSources) -> Result<Self, SettingsError> {
        service_kit::settings::load(sources)
    }

    /// The sources `part` loads its settings from: its own embedded defaults, the files and
    /// variables of `sources`, then this standalone's choices above everything.
    pub fn sources_for(
        &self,
        sources: &ConfigSources,
        part: Part,
    ) -> Result<ConfigSources, EmbeddedDefaultsError> {
        let mut layered = sources.clone();
        layered.embedded_default = part.default_settings();
        let port = self.port_of(part)?;
        let mut overrides: Vec<(String, String)> = [
            ("postgres.url", self.postgres.server.url.clone()),
            (
                "postgres.max_connections",
                self.postgres.max_connections.to_string(),
            ),
            ("rabbitmq.url", self.rabbitmq.server.url.clone()),
            ("rabbitmq.prefix", self.rabbitmq.prefix.clone()),
            ("redis.url", self.redis.server.url.clone()),
            ("redis.key_prefix", self.redis.key_prefix.clone()),
            ("http.host", self.http.host.clone()),
            ("http.port", port.to_string()),
            (
                "photos.backend",
                backend_name(self.photos.backend).to_owned(),
            ),
            (
                "photos.local_dir",
                self.photos.local_dir.to_string_lossy().into_owned(),
            ),
            ("photos.endpoint", self.photos.endpoint.clone()),
            ("photos.region", self.photos.region.clone()),
            ("photos.bucket", self.photos.bucket.clone()),
            ("photos.access_key", self.photos.access_key.clone()),
            ("photos.secret_key", self.photos.secret_key.clone()),
            ("photos.allow_http", self.photos.allow_http.to_string()),
            (
                "photos.presign_ttl_s",
                self.photos.presign_ttl_s.to_string(),
            ),
        ]
        .map(|(key, value)| (key.to_owned(), value))
        .into();
        let own_database = self.database_of(part.name());
        match part.role() {
            Role::Commands => overrides.push(("commands.database".to_owned(), own_database)),
            Role::Projection => {
                overrides.push(("projection.database".to_owned(), own_database));
                // A projection reads the command services' stores directly to catch up.
                for source in Part::COMMAND_SERVICES {
                    let key = format!("sources.{}", source.name());
                    overrides.push((key, self.database_of(source.name())));
                }
            }
            Role::Gateway => {}
        }
        for (key, value) in overrides {
            layered = layered.with_override(key, value);
        }
        Ok(layered)
    }

    /// `part`'s database: the prefix and its name, `-` read as `_` (`waypoint_review_feed`).
    pub fn database_of(&self, name: &str) -> String {
        format!("{}{}", self.databases.prefix, name.replace('-', "_"))
    }

    fn port_of(&self, part: Part) -> Result<u16, EmbeddedDefaultsError> {
        if part == Part::Gateway {
            return Ok(self.http.port);
        }
        match self.http.internal_ports {
            InternalPorts::Any => Ok(0),
            // The embedded text alone: files in the working directory are not the part's own.
            InternalPorts::Own => toml::from_str::<OwnHttp>(part.default_settings())
                .map(|own| own.http.port)
                .map_err(|error| EmbeddedDefaultsError {
                    part: part.name(),
                    error,
                }),
        }
    }
}

/// How `backend` is spelled in settings.
fn backend_name(backend: PhotoBackend) -> &'static str {
    match backend {
        PhotoBackend::S3 => "s3",
        PhotoBackend::Local => "local",
    }
}

/// A part's compiled-in defaults without a port to keep: a defect of the build, reported rather
/// than guessed around.
#[derive(Debug, thiserror::Error)]
#[error("the embedded defaults of {part} give no HTTP port: {error}")]
pub struct EmbeddedDefaultsError {
    pub part: &'static str,
    pub error: toml::de::Error,
}

/// Just the `[http]` section of a part's embedded defaults.
#[derive(Deserialize)]
struct OwnHttp {
    http: HttpSettings,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn settings() -> StandaloneSettings {
        StandaloneSettings::load(&ConfigSources::new(DEFAULT_SETTINGS)).unwrap()
    }

    #[derive(Deserialize)]
    struct Seen {
        http: HttpSettings,
        postgres: service_kit::settings::PostgresSettings,
        #[serde(default)]
        commands: Option<Database>,
        #[serde(default)]
        projection: Option<Database>,
        #[serde(default)]
        sources: std::collections::BTreeMap<String, String>,
    }

    #[derive(Deserialize)]
    struct Database {
        // The gateway's `[commands]` has none.
        #[serde(default)]
        database: String,
    }

    fn seen_by(settings: &StandaloneSettings, sources: &ConfigSources, part: Part) -> Seen {
        service_kit::settings::load(&settings.sources_for(sources, part).unwrap()).unwrap()
    }

    #[test]
    fn parts_keep_their_own_ports_and_get_their_own_databases() {
        let settings = settings();
        let sources = ConfigSources::new(DEFAULT_SETTINGS);
        let reviews = seen_by(&settings, &sources, Part::Reviews);
        assert_eq!(reviews.http.port, 8103);
        assert_eq!(reviews.commands.unwrap().database, "waypoint_reviews");
        let feed = seen_by(&settings, &sources, Part::ReviewFeed);
        assert_eq!(feed.http.port, 8201);
        assert_eq!(feed.projection.unwrap().database, "waypoint_review_feed");
        assert_eq!(feed.sources["ratings"], "waypoint_ratings");
        assert_eq!(seen_by(&settings, &sources, Part::Gateway).http.port, 8080);
    }

    #[test]
    fn every_part_takes_the_pool_size_that_lets_nine_share_one_server() {
        let settings = settings();
        let sources = ConfigSources::new(DEFAULT_SETTINGS);
        for part in Part::COMMAND_SERVICES.into_iter().chain(Part::PROJECTIONS) {
            let seen = seen_by(&settings, &sources, part);
            assert_eq!(seen.postgres.max_connections, 4, "{}", part.name());
        }
        let sources = sources.with_env_var("WAYPOINT__POSTGRES__MAX_CONNECTIONS", "6");
        let settings = StandaloneSettings::load(&sources).unwrap();
        assert_eq!(
            seen_by(&settings, &sources, Part::Ratings)
                .postgres
                .max_connections,
            6
        );
    }

    #[test]
    fn one_variable_moves_every_part_and_cannot_make_ports_clash() {
        let sources = ConfigSources::new(DEFAULT_SETTINGS)
            .with_env_var("WAYPOINT__POSTGRES__URL", "postgres://elsewhere:5432")
            .with_env_var("WAYPOINT__HTTP__PORT", "9090")
            .with_env_var("WAYPOINT__DATABASES__PREFIX", "wp_");
        let settings = StandaloneSettings::load(&sources).unwrap();
        let places = seen_by(&settings, &sources, Part::Places);
        assert_eq!(places.postgres.url, "postgres://elsewhere:5432");
        assert_eq!(
            places.http.port, 8102,
            "the public port is the gateway's only"
        );
        assert_eq!(places.commands.unwrap().database, "wp_places");
        assert_eq!(seen_by(&settings, &sources, Part::Gateway).http.port, 9090);
    }

    #[test]
    fn any_internal_port_means_port_zero() {
        let sources =
            ConfigSources::new(DEFAULT_SETTINGS).with_override("http.internal_ports", "any");
        let settings = StandaloneSettings::load(&sources).unwrap();
        assert_eq!(
            seen_by(&settings, &sources, Part::TopReviewers).http.port,
            0
        );
        assert_eq!(seen_by(&settings, &sources, Part::Gateway).http.port, 8080);
    }
}
