//! Accepted commands are remembered in Redis (`P commands:<id>`: which service, whose), so
//! `GET /api/v1/commands/{id}` knows where to look. The outcome itself lives where the
//! command ran: the service's store of replies, asked over its HTTP port. Until it has one,
//! the command is pending.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use events::{CommandId, CommandReply, MemberId};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::MaybeMember;
use crate::error::{ApiError, Problem};
use crate::path::ApiPath;
use crate::state::AppState;

/// An accepted command, as remembered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Accepted {
    pub service: String,
    /// Who sent it; only they see its status. `None` for anonymous commands (registration).
    pub member_id: Option<MemberId>,
}

/// Accepted commands in Redis.
#[derive(Debug, Clone)]
pub struct StatusStore {
    redis: ConnectionManager,
    key_prefix: String,
    ttl: Duration,
}

impl StatusStore {
    pub fn new(redis: ConnectionManager, key_prefix: &str, ttl: Duration) -> Self {
        Self {
            redis,
            key_prefix: key_prefix.to_owned(),
            ttl,
        }
    }

    fn key(&self, command_id: CommandId) -> String {
        format!("{}commands:{command_id}", self.key_prefix)
    }

    pub(crate) async fn remember(
        &self,
        command_id: CommandId,
        accepted: &Accepted,
    ) -> Result<(), ApiError> {
        let json = serde_json::to_string(accepted).map_err(anyhow::Error::new)?;
        let mut redis = self.redis.clone();
        let ttl = self.ttl.as_secs().max(1);
        let stored: Result<(), _> = redis.set_ex(self.key(command_id), json, ttl).await;
        // The command is queued whatever happens here; only following it needs the record.
        if let Err(error) = stored {
            tracing::warn!(%error, %command_id, "an accepted command could not be remembered");
        }
        Ok(())
    }

    async fn recall(&self, command_id: CommandId) -> Result<Option<Accepted>, ApiError> {
        let mut redis = self.redis.clone();
        let json: Option<String> = redis
            .get(self.key(command_id))
            .await
            .map_err(|error| ApiError::Unavailable(format!("command status: {error}")))?;
        Ok(json.and_then(|json| serde_json::from_str(&json).ok()))
    }
}

/// Where an accepted command is.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommandStatus {
    #[schema(value_type = String, format = Uuid)]
    pub command_id: CommandId,
    /// `pending`, `succeeded` or `rejected`.
    pub status: &'static str,
    /// The stream the command wrote (`succeeded`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<String>,
    /// For read-your-writes, as in `X-Consistency-Token` (`succeeded`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency_token: Option<String>,
    /// Why it was refused (`rejected`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(command_status))
}

/// The status of a command that was answered 202 Accepted.
#[utoipa::path(
    get,
    path = "/commands/{command_id}",
    tag = "commands",
    params(("command_id" = String, Path, format = Uuid, description = "From the 202's Location")),
    responses(
        (status = 200, description = "Pending, or the outcome", body = CommandStatus),
        (status = 400, description = "Not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such accepted command (or not yours)", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub async fn command_status(
    State(state): State<AppState>,
    MaybeMember(identity): MaybeMember,
    ApiPath(command_id): ApiPath<CommandId>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound(format!("no accepted command {command_id}"));
    let accepted = state
        .commands
        .statuses()
        .recall(command_id)
        .await?
        .ok_or_else(not_found)?;
    if let Some(owner) = accepted.member_id {
        // Someone else's command does not exist, as far as this caller can tell.
        if identity.as_ref().map(|identity| identity.member_id) != Some(owner) {
            return Err(not_found());
        }
    }
    let path = format!("/commands/{command_id}");
    let reply = match state.proxy.fetch(&accepted.service, &path).await {
        Ok((StatusCode::OK, body)) => serde_json::from_slice::<CommandReply>(&body).ok(),
        // Not run yet, or its service cannot say now: either way, still pending.
        Ok(_) | Err(_) => None,
    };
    let status = match reply {
        None => CommandStatus {
            command_id,
            status: "pending",
            stream_id: None,
            consistency_token: None,
            problem: None,
        },
        Some(CommandReply::Success(success)) => CommandStatus {
            command_id,
            status: "succeeded",
            stream_id: Some(success.stream_id),
            consistency_token: Some(success.consistency_token.to_string()),
            problem: None,
        },
        Some(CommandReply::Rejection(rejection)) => CommandStatus {
            command_id,
            status: "rejected",
            stream_id: None,
            consistency_token: None,
            problem: Some(ApiError::from(rejection).problem()),
        },
    };
    Ok(axum::Json(status).into_response())
}
