//! The member's own account: nickname, password, avatar, deactivation. Registration and
//! login are in `auth`; profiles are queries.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use events::members::{ChangeNickname, ChangePassword, Deactivate, MemberCommand, SetAvatar};
use events::{PhotoId, Secret};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::send;
use crate::auth::Member;
use crate::commands::CommandContext;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::openapi::CommandResponses;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(change_nickname, deactivate))
        .routes(routes!(change_password))
        .routes(routes!(set_avatar))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NicknameChange {
    pub nickname: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    #[schema(value_type = String, format = Password)]
    pub current_password: Secret,
    #[schema(value_type = String, format = Password)]
    pub new_password: Secret,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AvatarChange {
    #[schema(value_type = String, format = Uuid)]
    pub photo_id: PhotoId,
}

/// Change your nickname; every review of yours shows the new one.
#[utoipa::path(patch, path = "/members/me", tag = "members",
    request_body = NicknameChange,
    responses((status = 204, description = "Changed"), CommandResponses),
    security(("bearer" = [])))]
pub async fn change_nickname(
    State(state): State<AppState>,
    _: Member,
    context: CommandContext,
    ApiJson(body): ApiJson<NicknameChange>,
) -> Result<Response, ApiError> {
    let command = ChangeNickname {
        nickname: body.nickname,
    };
    let dispatched = send(&state, &context, MemberCommand::from(command)).await?;
    Ok(dispatched.respond(StatusCode::NO_CONTENT, |_| None::<()>))
}

/// Change your password; every other session of yours ends.
#[utoipa::path(put, path = "/members/me/password", tag = "members",
    request_body = PasswordChange,
    responses((status = 204, description = "Changed; other sessions ended"), CommandResponses),
    security(("bearer" = [])))]
pub async fn change_password(
    State(state): State<AppState>,
    Member(identity): Member,
    context: CommandContext,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<Response, ApiError> {
    let command = ChangePassword {
        current_password: body.current_password,
        new_password: body.new_password,
    };
    let dispatched = send(&state, &context, MemberCommand::from(command)).await?;
    if dispatched.success().is_some() {
        state
            .auth
            .end_sessions(identity.member_id, Some(identity.session_id))
            .await?;
    }
    Ok(dispatched.respond(StatusCode::NO_CONTENT, |_| None::<()>))
}

/// Use one of your uploaded photos as your avatar.
#[utoipa::path(put, path = "/members/me/avatar", tag = "members",
    request_body = AvatarChange,
    responses((status = 204, description = "Changed"), CommandResponses),
    security(("bearer" = [])))]
pub async fn set_avatar(
    State(state): State<AppState>,
    _: Member,
    context: CommandContext,
    ApiJson(body): ApiJson<AvatarChange>,
) -> Result<Response, ApiError> {
    let command = SetAvatar {
        photo_id: body.photo_id,
    };
    let dispatched = send(&state, &context, MemberCommand::from(command)).await?;
    Ok(dispatched.respond(StatusCode::NO_CONTENT, |_| None::<()>))
}

/// Deactivate your account: every session ends, and you show as "deleted member".
#[utoipa::path(delete, path = "/members/me", tag = "members",
    responses((status = 204, description = "Deactivated; all sessions ended"), CommandResponses),
    security(("bearer" = [])))]
pub async fn deactivate(
    State(state): State<AppState>,
    Member(identity): Member,
    context: CommandContext,
) -> Result<Response, ApiError> {
    let dispatched = send(&state, &context, MemberCommand::from(Deactivate {})).await?;
    if dispatched.success().is_some() {
        state.auth.end_sessions(identity.member_id, None).await?;
    }
    Ok(dispatched.respond(StatusCode::NO_CONTENT, |_| None::<()>))
}
