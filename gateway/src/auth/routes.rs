//! `/auth/*`: register, login, refresh, logout, logout-all.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use events::members::{Authenticate, MemberCommand, Register};
use events::{MemberId, Role, Secret};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::Member;
use super::sessions::Owner;
use super::throttle::{Attempt, ClientAddress};
use crate::commands::{CommandContext, Dispatched};
use crate::error::{ApiError, Problem};
use crate::json::ApiJson;
use crate::openapi::CommandResponses;
use crate::state::AppState;

/// Every failed login gets this, whatever failed, so the answer never tells whether an
/// address belongs to a member.
const FAILED_LOGIN: &str = "invalid email or password";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    pub email: String,
    #[schema(value_type = String, format = Password)]
    pub password: Secret,
    pub nickname: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub email: String,
    #[schema(value_type = String, format = Password)]
    pub password: Secret,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// A signed-in session's tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    #[schema(value_type = String, format = Uuid)]
    pub member_id: MemberId,
    /// Send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Opaque; trade it at `/auth/refresh` for a new pair. It works once.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// Create an account and sign in.
#[utoipa::path(post, path = "/auth/register", tag = "auth",
    request_body = Registration,
    responses(
        (status = 201, description = "Registered and signed in", body = TokenPair,
            headers(("X-Consistency-Token" = String, description = "For read-your-writes"))),
        CommandResponses,
    ))]
pub async fn register(
    State(state): State<AppState>,
    context: CommandContext,
    ApiJson(body): ApiJson<Registration>,
) -> Result<Response, ApiError> {
    let command = Register {
        email: body.email,
        password: body.password,
        nickname: body.nickname,
    };
    let dispatched = state
        .commands
        .dispatch(MemberCommand::from(command), &context)
        .await?;
    let Some(success) = dispatched.success() else {
        return Ok(dispatched.respond(StatusCode::ACCEPTED, |_| None::<()>));
    };
    // The members service names a new member by the command that created it.
    let owner = Owner {
        member: MemberId::from(Uuid::from(context.command_id)),
        roles: vec![Role::Member],
    };
    let (sid, pair) = state.auth.start_session(&owner).await?;
    // The new session reads its own registration, as every session reads its writes.
    state
        .auth
        .remember_write(sid, &success.consistency_token)
        .await;
    Ok(dispatched.respond(StatusCode::CREATED, |_| Some(pair)))
}

/// Sign in with email and password.
#[utoipa::path(post, path = "/auth/login", tag = "auth",
    request_body = Credentials,
    responses(
        (status = 200, description = "Signed in", body = TokenPair),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong email or password (one answer for both)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The body does not match the schema", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed logins for this account or address (`login_throttled`); see `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Sign-in cannot be checked now", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    context: CommandContext,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Response, ApiError> {
    let attempt = Attempt::new(&body.email, address);
    state.auth.check_throttle(&attempt).await?;
    let command = Authenticate {
        email: body.email,
        password: body.password,
    };
    let checked = state
        .commands
        .dispatch(MemberCommand::from(command), &context)
        .await;
    let member = match checked {
        Ok(Dispatched::Done(success)) => success.member.ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "an Authenticate success without its member"
            ))
        })?,
        // A login that cannot be checked now is not worth queueing: the client retries.
        Ok(Dispatched::Accepted(_)) => {
            return Err(ApiError::Unavailable(
                "sign-in cannot be checked right now; retry shortly".to_owned(),
            ));
        }
        Err(ApiError::Unauthenticated(_)) => {
            state.auth.login_failed(&attempt).await?;
            return Err(ApiError::Unauthenticated(FAILED_LOGIN.to_owned()));
        }
        Err(other) => return Err(other),
    };
    state.auth.login_succeeded(&attempt).await;
    let owner = Owner {
        member: member.member_id,
        roles: member.roles,
    };
    let (_, pair) = state.auth.start_session(&owner).await?;
    Ok((StatusCode::OK, axum::Json(pair)).into_response())
}

/// Trade a refresh token for a new pair. Each refresh token works once; presenting a used
/// one again (after a few seconds' grace) ends its session.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair; the presented refresh token is used up", body = TokenPair),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not a valid refresh token, or its session has ended", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The body does not match the schema", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Sessions cannot be reached now", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<axum::Json<TokenPair>, ApiError> {
    state
        .auth
        .refresh(&body.refresh_token)
        .await
        .map(axum::Json)
}

/// End this session: its access and refresh tokens stop working now.
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Sessions cannot be reached now", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn logout(
    State(state): State<AppState>,
    Member(identity): Member,
) -> Result<StatusCode, ApiError> {
    state.auth.end_session(identity.session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End every session of yours, on every device.
#[utoipa::path(post, path = "/auth/logout-all", tag = "auth",
    responses(
        (status = 204, description = "Every session ended"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Sessions cannot be reached now", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn logout_all(
    State(state): State<AppState>,
    Member(identity): Member,
) -> Result<StatusCode, ApiError> {
    state.auth.end_sessions(identity.member_id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
