//! Local copies: the little a command service must know about places and members it does not
//! own, so that it validates a command without calling another service.
//!
//! # Layout
//! - [`apply`]: how one place or member event changes the copy.
//! - [`lookup`]: what the service's command handlers read ([`place_status`], [`member_active`]).
//! - [`consumer`]: the service's events queue and the runner that feeds [`apply`].
//!
//! # Invariants
//! - Every row remembers the checkpoint of the event that set it and is only overwritten by a
//!   later one, so duplicates and out-of-order retries are harmless (the bus delivers at least
//!   once and retries at the queue's tail).
//! - The row and the per-source checkpoint are written in one transaction.
//! - A copy that is behind is stale, never wrong for long: a place that is not yet known is
//!   refused as unknown, and the client can retry once the event has arrived.

mod apply;
mod consumer;
mod lookup;

pub use apply::{Applied, ApplyError, apply};
pub use consumer::{SERVICES_WITH_COPIES, SUBSCRIBED_EVENTS, run, topology};
pub use lookup::{Facts, KnownPlace, facts, member_active, place_status};

/// Creates or upgrades the local-copy tables in the service's database.
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    let mut migrator = sqlx::migrate!("./migrations");
    // The event store and the service keep their own migrations in the same database.
    migrator.set_ignore_missing(true);
    migrator.run(pool).await
}
