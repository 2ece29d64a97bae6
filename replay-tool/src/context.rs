//! The settings, and the connections commands open when they need them.

use event_store::EventStore;
use message_bus::{Bus, BusConfig, BusNames, Topology};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::error::CliError;
use crate::settings::CliSettings;

#[derive(Debug, Clone)]
pub struct Context {
    pub settings: CliSettings,
}

impl Context {
    pub fn new(settings: CliSettings) -> Self {
        Self { settings }
    }

    /// A small pool on `database` of the configured server.
    pub async fn pool(&self, database: &str) -> Result<PgPool, CliError> {
        let url = self.settings.postgres.database_url(database);
        PgPoolOptions::new()
            .max_connections(self.settings.postgres.max_connections)
            .connect(&url)
            .await
            .map_err(|error| CliError::database(&format!("database {database}"), error))
    }

    /// The event store of a command service, by its name.
    pub async fn store(&self, service: &str) -> Result<EventStore, CliError> {
        let database = self.settings.stores.get(service).ok_or_else(|| {
            let known: Vec<&str> = self.settings.stores.keys().map(String::as_str).collect();
            CliError::new(format!("no service named `{service}`"))
                .with_hint(format!("one of: {}", known.join(", ")))
        })?;
        Ok(EventStore::new(
            self.pool(database).await?,
            service.to_owned(),
        ))
    }

    /// The database of a projection, by its name.
    pub fn projection_database(&self, projection: &str) -> Result<&str, CliError> {
        self.settings
            .projections
            .get(projection)
            .map(String::as_str)
            .ok_or_else(|| {
                let known: Vec<&str> = self
                    .settings
                    .projections
                    .keys()
                    .map(String::as_str)
                    .collect();
                CliError::new(format!("no projection named `{projection}`"))
                    .with_hint(format!("one of: {}", known.join(", ")))
            })
    }

    /// The broker's names, with the configured prefix.
    pub fn names(&self) -> BusNames {
        BusNames::with_prefix(self.settings.rabbitmq.prefix.clone())
    }

    /// A broker connection declaring `topology`, named so it is recognisable in the UI.
    pub async fn bus(&self, topology: Topology) -> Result<Bus, CliError> {
        Bus::connect(BusConfig {
            url: self.settings.rabbitmq.url.clone(),
            connection_name: format!("waypoint-cli-{}", std::process::id()),
            names: self.names(),
            topology,
        })
        .await
        .map_err(CliError::broker)
    }
}
