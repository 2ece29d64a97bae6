//! Failures that are not answers.

/// The service could not reach a decision: the command is retried (and dead-lettered after
/// the consumer's attempts run out), never answered with a guess.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Store(#[from] event_store::StoreError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// An event in the aggregate's stream cannot be read by this build.
    #[error("cannot read event {event_type} v{schema_version} of {stream_id}: {reason}")]
    UnreadableEvent {
        stream_id: String,
        event_type: String,
        schema_version: u16,
        reason: String,
    },
    #[error("cannot encode an event: {0}")]
    Encode(#[from] serde_json::Error),
    /// Anything else a service needs to report (object storage down, a hashing task failed).
    #[error("{0}")]
    Service(String),
}
