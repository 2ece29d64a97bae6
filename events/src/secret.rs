use std::fmt;

use serde::{Deserialize, Serialize};

/// A plaintext secret (a password) inside a command.
///
/// It must reach the members service intact, so it serializes as the plain string; its `Debug`
/// is redacted so that logging a command or an envelope never prints it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The plaintext; call it only where the secret is hashed or verified.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}
