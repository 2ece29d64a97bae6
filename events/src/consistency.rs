use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Checkpoint;

/// A read-your-writes token: "the store of `source` had reached `checkpoint` when I wrote".
///
/// A query presenting it waits until the projection has applied `source`'s events up to
/// `checkpoint`. In HTTP headers it travels as `<source>.<transaction_id>.<position>`, which
/// clients must treat as opaque.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConsistencyToken {
    /// The service whose event store wrote the events.
    pub source: String,
    pub checkpoint: Checkpoint,
}

impl ConsistencyToken {
    pub fn new(source: impl Into<String>, checkpoint: Checkpoint) -> Self {
        Self {
            source: source.into(),
            checkpoint,
        }
    }
}

impl fmt::Display for ConsistencyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Checkpoint {
            transaction_id,
            position,
        } = self.checkpoint;
        write!(f, "{}.{transaction_id}.{position}", self.source)
    }
}

impl FromStr for ConsistencyToken {
    type Err = ParseConsistencyTokenError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split('.');
        let (Some(source), Some(transaction_id), Some(position), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ParseConsistencyTokenError);
        };
        // Service names are short kebab-case words; anything else is a forged or mangled header.
        let valid_source = !source.is_empty()
            && source
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid_source {
            return Err(ParseConsistencyTokenError);
        }
        let transaction_id = transaction_id
            .parse()
            .map_err(|_| ParseConsistencyTokenError)?;
        let position = position.parse().map_err(|_| ParseConsistencyTokenError)?;
        Ok(Self::new(source, Checkpoint::new(transaction_id, position)))
    }
}

/// The string is not a consistency token this system issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseConsistencyTokenError;

impl fmt::Display for ParseConsistencyTokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed consistency token")
    }
}

impl std::error::Error for ParseConsistencyTokenError {}
