use serde::{Deserialize, Serialize};

use crate::{ConsistencyToken, MemberId, Role};

/// What a command service answers to a command, and stores as the command's deduplication
/// record so that a redelivered command gets the same answer.
///
/// On the wire: `{"status":"ok",...}` or `{"status":"error","code":...,...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status")]
pub enum CommandReply {
    #[serde(rename = "ok")]
    Success(Success),
    #[serde(rename = "error")]
    Rejection(Rejection),
}

impl CommandReply {
    pub fn rejected(code: ErrorCode, message: impl Into<String>) -> Self {
        Rejection::new(code, message).into()
    }

    pub fn into_result(self) -> Result<Success, Rejection> {
        match self {
            Self::Success(success) => Ok(success),
            Self::Rejection(rejection) => Err(rejection),
        }
    }
}

impl From<Success> for CommandReply {
    fn from(success: Success) -> Self {
        Self::Success(success)
    }
}

impl From<Rejection> for CommandReply {
    fn from(rejection: Rejection) -> Self {
        Self::Rejection(rejection)
    }
}

/// The command was applied (or, for `Authenticate`, checked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Success {
    /// The stream the command wrote to; for a create, it names the new aggregate.
    pub stream_id: String,
    /// The stream's version after the command.
    pub version: i64,
    /// Lets the client's next query wait until projections have seen this command's events.
    pub consistency_token: ConsistencyToken,
    /// Set only by `members.Authenticate`: who the credentials belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<AuthenticatedMember>,
}

impl Success {
    pub fn new(
        stream_id: impl Into<String>,
        version: i64,
        consistency_token: ConsistencyToken,
    ) -> Self {
        Self {
            stream_id: stream_id.into(),
            version,
            consistency_token,
            member: None,
        }
    }

    pub fn with_member(self, member: AuthenticatedMember) -> Self {
        Self {
            member: Some(member),
            ..self
        }
    }
}

/// The member whose credentials `members.Authenticate` accepted; the gateway issues the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthenticatedMember {
    pub member_id: MemberId,
    pub roles: Vec<Role>,
}

/// The command was refused and changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub code: ErrorCode,
    /// Safe to show to the client.
    pub message: String,
    /// Per-field details, mostly for `validation`; empty otherwise.
    #[serde(default)]
    pub errors: Vec<FieldError>,
}

impl Rejection {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            errors: Vec::new(),
        }
    }

    pub fn with_field_error(
        mut self,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
        self
    }
}

/// Why a command was rejected; the gateway maps each code to one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The input is malformed or breaks a rule; see the field errors.
    Validation,
    /// The command contradicts the current state (duplicate email, stale version, closed place).
    Conflict,
    NotFound,
    /// The actor may not do this (not the author, deactivated).
    Forbidden,
    /// The command needs a member and has none, or the credentials are wrong.
    Unauthenticated,
    /// The service cannot decide now; retrying later may succeed.
    Unavailable,
}

/// One invalid input field, named as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}
