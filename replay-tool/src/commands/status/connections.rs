//! The connections `status` reads through. The stores' and discovery's are kept from one
//! `--watch` round to the next (and retried when they failed); the projections' are not.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use event_store::EventStore;
use message_bus::{Bus, Topology};
use service_kit::discovery::Registry;
use sqlx::PgPool;

use crate::Context;

/// No single part may hold up the whole picture: past this it is reported as unreachable.
pub(crate) const PART_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub(crate) struct Connections {
    /// Each configured command service's store, or why it could not be opened.
    pub stores: BTreeMap<String, Result<EventStore, String>>,
    /// Each configured projection's database (its active generation), or why it could not be
    /// opened.
    pub projections: BTreeMap<String, Result<PgPool, String>>,
    /// Discovery, or why Redis could not be reached.
    pub registry: Option<Result<Registry, String>>,
    /// The broker over AMQP, for exact queue depths, or why it could not be reached.
    pub bus: Option<Result<Bus, String>>,
}

impl Connections {
    /// Opens whatever is not open yet (all of it the first time).
    pub async fn refresh(&mut self, context: &Context) {
        let stores = context
            .settings
            .stores
            .keys()
            .filter(|name| !matches!(self.stores.get(name.as_str()), Some(Ok(_))));
        let opened = futures::future::join_all(stores.map(|service| async move {
            let store =
                bounded(async { context.store(service).await.map_err(|e| e.problem) }).await;
            (service.clone(), store)
        }))
        .await;
        self.stores.extend(opened);

        // Opened afresh every round: a blue/green switch makes another schema the database's
        // default `search_path`, which only new connections see.
        for pool in std::mem::take(&mut self.projections)
            .into_values()
            .flatten()
        {
            pool.close().await;
        }
        let projections = context.settings.projections.keys();
        let opened = futures::future::join_all(projections.map(|projection| async move {
            let pool = match context.projection_database(projection) {
                Ok(database) => {
                    bounded(async { context.pool(database).await.map_err(|e| e.problem) }).await
                }
                Err(error) => Err(error.problem),
            };
            (projection.clone(), pool)
        }))
        .await;
        self.projections.extend(opened);

        if !matches!(self.registry, Some(Ok(_))) {
            self.registry = Some(bounded(Registry::connect(&context.settings.redis)).await);
        }
        if !matches!(self.bus, Some(Ok(_))) {
            let topology = Topology::new(context.names());
            let bus = bounded(async { context.bus(topology).await.map_err(|e| e.problem) });
            self.bus = Some(bus.await);
        }
    }

    /// The broker connection, if it could be opened.
    pub fn bus(&self) -> Option<&Bus> {
        match &self.bus {
            Some(Ok(bus)) => Some(bus),
            _ => None,
        }
    }

    /// Disconnects from the broker (the pools close as they are dropped).
    pub async fn close(self) {
        if let Some(Ok(bus)) = self.bus {
            bus.shutdown().await;
        }
    }

    pub fn registry(&self) -> Result<&Registry, String> {
        match &self.registry {
            Some(Ok(registry)) => Ok(registry),
            Some(Err(error)) => Err(format!("discovery (Redis): {error}")),
            None => Err("discovery (Redis): not connected".to_owned()),
        }
    }
}

/// `work` within [`PART_TIMEOUT`], its error as text.
pub(crate) async fn bounded<T, E: Display>(
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(PART_TIMEOUT, work).await {
        Ok(outcome) => outcome.map_err(|error| error.to_string()),
        Err(_) => Err(format!("no answer within {} s", PART_TIMEOUT.as_secs())),
    }
}
