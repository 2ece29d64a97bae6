//! The OpenAPI 3.1 document: every route registers its own path through `utoipa_axum`, so a
//! route cannot exist without appearing here. This module adds what is shared: the info,
//! the bearer scheme, and the failure responses every command route can give.

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

use crate::error::Problem;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Waypoint",
        description = "Places, reviews with photos and star ratings. Commands answer with \
            `X-Consistency-Token`; present it (or keep your session) to read your own writes. \
            Every error is `application/problem+json` with a stable `code`."
    ),
    components(schemas(Problem)),
    modifiers(&BearerScheme)
)]
pub struct ApiDoc;

/// Access tokens travel as `Authorization: Bearer <jwt>`.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The body of a 202: the command is queued and will run.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedCommand {
    pub command_id: String,
    /// Always `pending`.
    pub status: String,
}

/// What any command route may answer besides its success.
#[derive(IntoResponses)]
#[allow(dead_code)] // Only its OpenAPI description is used; the answers come from `ApiError`.
pub enum CommandResponses {
    /// No reply in time: the command is durably queued and will run. Follow `Location`.
    #[response(status = 202)]
    Accepted(#[to_schema] AcceptedCommand),
    /// Malformed JSON, or an id that is not a UUID.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(#[to_schema] Problem),
    /// No valid access token, or its session has ended.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthenticated(#[to_schema] Problem),
    /// Not allowed for this member.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(#[to_schema] Problem),
    /// No such place, review or member.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(#[to_schema] Problem),
    /// Contradicts the current state (a duplicate, a closed place).
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(#[to_schema] Problem),
    /// The body is larger than allowed.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(#[to_schema] Problem),
    /// The body is not `application/json`.
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(#[to_schema] Problem),
    /// Well-formed but invalid; `errors` names each field.
    #[response(status = 422, content_type = "application/problem+json")]
    Validation(#[to_schema] Problem),
    /// Over the rate limit; see `Retry-After`.
    #[response(status = 429, content_type = "application/problem+json")]
    RateLimited(#[to_schema] Problem),
    /// The service cannot take commands now; retry with the same `Idempotency-Key`.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(#[to_schema] Problem),
}
