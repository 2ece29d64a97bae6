//! What every read model runs on.
//!
//! # Layout
//! - [`ReadModel`]: what a read model supplies: its name, the event types it needs, its
//!   tables, how one event changes them, how to empty them, and a canonical checksum.
//! - [`apply`]: [`apply_batch`], the one way events reach a model, live or in a rebuild: one
//!   transaction per batch, the per-source checkpoint in the same transaction, already-applied
//!   events skipped, poison events set aside and recorded.
//! - [`catchup`]: a new or reset model reads its history from the source stores directly.
//! - [`live`]: then its own queue on `waypoint.events`, in batches.
//! - [`host`]: the process around a model: database, queue, catch-up, live, health, lag,
//!   discovery, `main`; it follows switches of generation (`follower`, `serving`).
//! - [`generations`]: each version of a model in a schema of its own, one of them active.
//! - [`rebuild`]: blue/green rebuilds: build the next generation beside the active one, switch,
//!   roll back, drop retired ones.
//! - [`checkpoints`]: the per-source checkpoints, what a consistency token is compared with.
//! - [`query`]: what the query APIs share: limits, opaque cursors, ETags, read-your-writes.
//! - [`reads`]: what a model reads, so what a consistency token can ask of it.
//! - [`tables`]: emptying a model's tables and digesting them, the same way for every model.
//! - [`fixtures`]: events as a source would record them, for tests and benchmarks.
//!
//! # Invariants
//! - An event is applied at most once per model: it is skipped when its source's checkpoint
//!   already covers it, and the checkpoint moves in the transaction that applied it.
//! - Within a source, events are applied in commit order; sources are independent.
//! - An event that cannot be applied never blocks the others and is never lost: it is
//!   recorded in `projection_poisoned` (and dead-lettered by the live runner), and the model
//!   reports itself degraded until an operator resolves it.
//! - A host serves one generation at a time, for queries and the live consumer alike, and
//!   switches without a gap: its consumer pauses between batches while the new generation
//!   catches up to the commit horizon, then both move to it in one step.

pub mod apply;
pub mod catchup;
pub mod checkpoints;
pub mod fixtures;
mod follower;
pub mod generations;
pub mod host;
pub mod live;
pub mod query;
pub mod reads;
pub mod rebuild;
mod serving;
pub mod tables;

pub use apply::{BatchOutcome, apply_batch};

use std::future::Future;

use events::{Event, RecordedEvent};
use serde_json::value::RawValue;
use sqlx::{PgConnection, PgPool};

/// An event as it arrives from the bus or from a source store, payload still raw.
pub type IncomingEvent = RecordedEvent<Box<RawValue>>;

/// One read model.
pub trait ReadModel: Send + Sync + 'static {
    /// `review-feed`: its queue is `waypoint.events.<NAME>`.
    const NAME: &'static str;
    /// The wire names of the events it needs; its queue is bound to exactly these.
    const EVENT_TYPES: &'static [&'static str];
    /// Its tables, in a fixed order, each with the key its rows are digested in: what
    /// [`ReadModel::reset`] empties and [`ReadModel::checksum`] digests.
    const TABLES: &'static [tables::Table];

    /// Creates or upgrades the model's own tables. (The checkpoint tables are the runner's.)
    fn migrate(
        &self,
        pool: &PgPool,
    ) -> impl Future<Output = Result<(), sqlx::migrate::MigrateError>> + Send;

    /// Applies one event inside the batch's transaction. Events of a source arrive in commit
    /// order, each at most once.
    fn apply(
        &self,
        conn: &mut PgConnection,
        event: &IncomingEvent,
    ) -> impl Future<Output = Result<(), ApplyError>> + Send;

    /// Empties the model's tables, for a rebuild from the stores.
    fn reset(
        &self,
        conn: &mut PgConnection,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send {
        tables::truncate(conn, Self::TABLES)
    }

    /// A canonical digest of everything the model holds: two models with the same content give
    /// the same string, whatever order the rows were written in.
    fn checksum(
        &self,
        conn: &mut PgConnection,
    ) -> impl Future<Output = Result<String, sqlx::Error>> + Send {
        tables::checksum(conn, Self::TABLES)
    }
}

/// Why an event was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// This build cannot apply it: an unknown type or schema version, a payload that does not
    /// decode, a broken invariant. It is set aside and the model turns degraded.
    #[error("cannot apply: {0}")]
    Poison(String),
    /// The database failed; the batch is tried again.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl ApplyError {
    pub fn poison(reason: impl std::fmt::Display) -> Self {
        Self::Poison(reason.to_string())
    }
}

/// Decodes an incoming event with its service's contract enum; anything unreadable is poison.
pub fn decode<E: Event>(event: &IncomingEvent) -> Result<E, ApplyError> {
    let mut payload = serde_json::Deserializer::from_str(event.payload.get());
    E::decode(&event.event_type, event.schema_version, &mut payload).map_err(|error| {
        ApplyError::poison(format!(
            "{} v{} ({}): {error}",
            event.event_type, event.schema_version, event.event_id
        ))
    })
}

/// Creates or upgrades the runner's tables in a model's database.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    let mut migrator = sqlx::migrate!("./migrations");
    // The read model keeps its own migrations in the same database.
    migrator.set_ignore_missing(true);
    migrator.run(pool).await
}
