//! The crate's error types, one per job, and how lapin's errors map onto them.

/// Failures of the connection itself.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The first connection (and topology declaration) did not succeed in time.
    #[error("could not connect to the broker within {timeout:?}: {last_error}")]
    FirstConnectTimeout {
        timeout: std::time::Duration,
        last_error: String,
    },
    /// No healthy connection came up within the caller's deadline.
    #[error("no connection to the broker within {0:?}")]
    NotConnected(std::time::Duration),
    /// [`crate::Bus::shutdown`] was called (or every handle was dropped).
    #[error("the bus is shut down")]
    Shutdown,
    /// The broker refused a channel-level operation on a healthy connection.
    #[error("broker operation failed: {0}")]
    Broker(String),
}

/// Why a publish has no positive confirm.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PublishError {
    /// The broker refused to take responsibility for the message.
    #[error("the broker nacked the message")]
    Nacked,
    /// The connection (or the channel with it) went away before the broker confirmed. The message
    /// may or may not have been stored: publish it again, consumers deduplicate by message id.
    #[error("connection to the broker lost before the confirm: {0}")]
    ConnectionLost(String),
    /// The broker closed the channel because of a channel-level error (for example a missing
    /// exchange). Every message in flight on that channel fails with it, so it is retryable too.
    #[error("the broker closed the publishing channel: {0}")]
    ChannelClosed(String),
    /// The message cannot be encoded as AMQP (for example a routing key over 255 bytes).
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// The bus is shut down.
    #[error("the bus is shut down")]
    Shutdown,
}

impl PublishError {
    /// Whether publishing the same message again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Nacked | Self::ConnectionLost(_) | Self::ChannelClosed(_)
        )
    }

    pub(crate) fn from_lapin(error: &lapin::Error) -> Self {
        // Soft (channel-level) protocol errors leave the connection usable; everything else means
        // the connection is gone or going.
        if error.is_amqp_soft_error() {
            Self::ChannelClosed(error.to_string())
        } else {
            Self::ConnectionLost(error.to_string())
        }
    }
}

impl From<BusError> for PublishError {
    fn from(error: BusError) -> Self {
        match error {
            BusError::Shutdown => Self::Shutdown,
            other => Self::ConnectionLost(other.to_string()),
        }
    }
}

/// Why a command call did not produce an outcome.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RpcError {
    /// No queue is bound for the service: the command was not accepted by anyone.
    #[error("no command queue is bound for service `{0}`")]
    Unroutable(String),
    /// The command could not be published with a positive confirm. It may or may not have been
    /// queued: retry with the same command id (services deduplicate by it).
    #[error(transparent)]
    Publish(#[from] PublishError),
}

/// A consumer runner stopped for a reason other than its shutdown token.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error("invalid consumer configuration: {0}")]
    InvalidConfig(String),
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// A handler could not process a message; the runner retries it and finally dead-letters it.
///
/// Business rejections (a conflict, a validation error) are not handling errors: they are
/// results the handler records and replies with. This is for "try again later" failures.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}")]
pub struct HandlingError {
    reason: String,
}

impl HandlingError {
    pub fn new(reason: impl std::fmt::Display) -> Self {
        Self {
            reason: reason.to_string(),
        }
    }

    /// Keeps the whole cause chain, which is what an operator reading a dead letter needs.
    pub fn from_error(error: &(dyn std::error::Error + 'static)) -> Self {
        let mut reason = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            reason.push_str(": ");
            reason.push_str(&cause.to_string());
            source = cause.source();
        }
        Self { reason }
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl From<String> for HandlingError {
    fn from(reason: String) -> Self {
        Self { reason }
    }
}

impl From<&str> for HandlingError {
    fn from(reason: &str) -> Self {
        Self::new(reason)
    }
}
