//! The store's typed failures.

use events::CommandReply;

/// Why an append did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Another writer got there first: the stream is not at the expected version.
    #[error("stream {stream_id} is at version {actual}, not the expected {expected}")]
    Conflict {
        stream_id: String,
        expected: i64,
        actual: i64,
    },
    /// The command was already processed; this is its first reply and nothing was appended.
    #[error("command already processed")]
    AlreadyProcessed(Box<CommandReply>),
    #[error("an append needs at least one event")]
    NoEvents,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The database failed or returned something the store cannot read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("event store database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("event store migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}
