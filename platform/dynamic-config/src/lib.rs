//! Waypoint's hot-reloadable configuration: the log filter, the gateway's rate limits, breaker
//! thresholds and command reply timeout, and feature flags, changed while everything runs.
//!
//! # Layout
//! - [`document`]: [`DynamicConfig`], the one typed document (`deny_unknown_fields`), its
//!   defaults and its validation into per-field errors ([`Refused`]).
//! - [`keys`]: dotted keys: read one, set one from what an operator typed, diff two documents.
//! - [`store`]: [`ConfigStore`], the versions in PostgreSQL (database `waypoint_config` by
//!   default), and [`current_version`].
//! - [`broadcast`]: a stored version made current in Redis (`<key prefix>config:current`) and
//!   published on the `waypoint.config` fanout exchange.
//! - [`follow`]: [`Follower`], which every instance runs: read Redis, apply each broadcast,
//!   report the version through discovery.
//!
//! # Invariants
//! - Nothing invalid is stored: a change is validated whole before its version is written, and
//!   a refused change leaves the current version as it was.
//! - Versions only grow, and a stored version is never changed; an instance ignores a version
//!   not newer than one it has seen.
//! - An instance reports a version only once it has applied all of it; one it cannot apply is
//!   logged and not reported, so `waypoint status` shows it has not converged.

pub mod broadcast;
pub mod document;
pub mod follow;
pub mod keys;
pub mod store;

pub use broadcast::Announcement;
pub use document::{DynamicConfig, FieldError, Refused};
pub use follow::{Applied, Apply, ApplyError, Follower, ReportVersion};
pub use keys::Change;
pub use store::{Changed, ConfigStore, StoredVersion, current_version};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("refused, nothing changed: {0}")]
    Refused(#[from] Refused),
    #[error("there is no configuration version {0}")]
    NoSuchVersion(i64),
    #[error("configuration version {version} is stored but cannot be read: {problem}")]
    Corrupt { version: i64, problem: String },
    #[error(transparent)]
    Database(#[from] service_kit::database::DatabaseError),
    #[error("the configuration database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("migrating the configuration database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("publishing on the config exchange: {0}")]
    Publish(#[from] message_bus::PublishError),
    #[error("a configuration that is not valid JSON: {0}")]
    Encoding(String),
}
