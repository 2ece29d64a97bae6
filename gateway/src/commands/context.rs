use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use events::{Actor, CommandId};
use uuid::Uuid;

use crate::auth::Identity;
use crate::error::ApiError;
use crate::layers::TRACEPARENT;

/// The header a client sets so that a retried request is the same command.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Names the derived command ids, so they never collide with ids made any other way.
const IDEMPOTENCY_NAMESPACE: Uuid = Uuid::from_u128(0x6a1d_3c1e_5b7f_4f0a_9c2e_8d41_77b0_c0de);

/// What a request brings to the command it sends.
#[derive(Debug, Clone)]
pub struct CommandContext {
    pub identity: Option<Identity>,
    pub command_id: CommandId,
    /// The request's `http.server` span, as [`crate::layers::trace_context`] set it: what the
    /// command continues when this process traces nothing.
    pub traceparent: Option<String>,
}

impl CommandContext {
    pub fn actor(&self) -> Actor {
        self.identity
            .as_ref()
            .map_or_else(Actor::anonymous, Identity::actor)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CommandContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let identity = parts.extensions.get::<Identity>().cloned();
        let command_id = match parts.headers.get(IDEMPOTENCY_KEY) {
            None => CommandId::from(Uuid::now_v7()),
            Some(value) => {
                let key = value
                    .to_str()
                    .ok()
                    .filter(|key| valid_key(key))
                    .ok_or_else(|| {
                        ApiError::invalid_parameter(
                            "Idempotency-Key",
                            "must be 1 to 255 visible ASCII characters",
                        )
                    })?;
                let scope = identity
                    .as_ref()
                    .map(|identity| identity.member_id.to_string())
                    .unwrap_or_default();
                idempotent_command_id(&scope, parts.method.as_str(), parts.uri.path(), key)
            }
        };
        let traceparent = parts
            .headers
            .get(&TRACEPARENT)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Ok(Self {
            identity,
            command_id,
            traceparent,
        })
    }
}

fn valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// The same key from the same member on the same route is the same command; the member and
/// the route are part of it so that two clients choosing the same key never share a command
/// (or see each other's result).
fn idempotent_command_id(member: &str, method: &str, path: &str, key: &str) -> CommandId {
    let name = format!("{member}\n{method} {path}\n{key}");
    CommandId::from(Uuid::new_v5(&IDEMPOTENCY_NAMESPACE, name.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_names_one_command_per_member_and_route() {
        let first = idempotent_command_id("m1", "POST", "/api/v1/places", "k");
        assert_eq!(
            first,
            idempotent_command_id("m1", "POST", "/api/v1/places", "k")
        );
        assert_ne!(
            first,
            idempotent_command_id("m2", "POST", "/api/v1/places", "k")
        );
        assert_ne!(
            first,
            idempotent_command_id("m1", "PUT", "/api/v1/places", "k")
        );
        assert_ne!(
            first,
            idempotent_command_id("m1", "POST", "/api/v1/places", "k2")
        );
    }

    #[test]
    fn keys_are_short_visible_ascii() {
        assert!(valid_key("order-42"));
        assert!(!valid_key(""));
        assert!(!valid_key("has space"));
        assert!(!valid_key(&"x".repeat(256)));
    }
}
