use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::{Command, CommandDecodeError, CommandId, MemberId};

/// A command on its way from the gateway to the service that handles it.
///
/// `payload` is generic so that a service can first read the envelope with a raw payload
/// (`serde_json::Value`, `&RawValue`) and then [`decode`](Self::decode) it by `command_type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandEnvelope<C> {
    /// Deduplication key: a redelivered command with the same id returns its first result.
    pub command_id: CommandId,
    /// The payload's wire name, e.g. `reviews.WriteReview`.
    pub command_type: String,
    pub payload: C,
    /// Who sent the command; only the gateway, which verified the session, fills it in.
    pub actor: Actor,
    /// Ties together everything one client request caused, across services.
    pub correlation_id: Uuid,
    /// W3C trace context of the sending span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl<C: Command> CommandEnvelope<C> {
    /// Wraps a command, taking `command_type` from the command itself so the two cannot differ.
    pub fn new(command_id: CommandId, payload: C, actor: Actor, correlation_id: Uuid) -> Self {
        Self {
            command_id,
            command_type: payload.wire_name().to_owned(),
            payload,
            actor,
            correlation_id,
            traceparent: None,
        }
    }

    pub fn with_traceparent(self, traceparent: impl Into<String>) -> Self {
        Self {
            traceparent: Some(traceparent.into()),
            ..self
        }
    }
}

impl<P> CommandEnvelope<P> {
    /// Replaces the payload, given the command type: how a raw payload becomes a command.
    pub fn try_map_payload<Q, E>(
        self,
        map: impl FnOnce(&str, P) -> Result<Q, E>,
    ) -> Result<CommandEnvelope<Q>, E> {
        let Self {
            command_id,
            command_type,
            payload,
            actor,
            correlation_id,
            traceparent,
        } = self;
        let payload = map(&command_type, payload)?;
        Ok(CommandEnvelope {
            command_id,
            command_type,
            payload,
            actor,
            correlation_id,
            traceparent,
        })
    }

    /// Decodes a raw payload into the service's command enum, by `command_type`.
    pub fn decode<'de, C: Command>(self) -> Result<CommandEnvelope<C>, CommandDecodeError<P::Error>>
    where
        P: Deserializer<'de>,
    {
        self.try_map_payload(|command_type, payload| C::decode(command_type, payload))
    }
}

/// Who issued a command, as verified by the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// `None` for anonymous commands (register, authenticate).
    pub member_id: Option<MemberId>,
    pub roles: Vec<Role>,
}

impl Actor {
    pub fn anonymous() -> Self {
        Self {
            member_id: None,
            roles: Vec::new(),
        }
    }

    pub fn member(member_id: MemberId, roles: Vec<Role>) -> Self {
        Self {
            member_id: Some(member_id),
            roles,
        }
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Member,
    /// May delete any review and manage any place.
    Admin,
}
