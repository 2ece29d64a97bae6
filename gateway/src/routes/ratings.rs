//! Star ratings: one per member per place.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use events::PlaceId;
use events::ratings::{RatePlace, RatingCommand, RemoveRating};
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
use crate::path::ApiPath;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(rate_place, remove_rating))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Stars {
    /// 1 to 5.
    #[schema(minimum = 1, maximum = 5)]
    pub stars: u8,
}

/// Rate a place, or change your rating.
#[utoipa::path(put, path = "/places/{place_id}/rating", tag = "ratings",
    params(("place_id" = String, Path, format = Uuid)),
    request_body = Stars,
    responses((status = 204, description = "Rated"), CommandResponses),
    security(("bearer" = [])))]
pub async fn rate_place(
    State(state): State<AppState>,
    _: Member,
    context: CommandContext,
    ApiPath(place_id): ApiPath<PlaceId>,
    ApiJson(body): ApiJson<Stars>,
) -> Result<Response, ApiError> {
    let command = RatePlace {
        place_id,
        stars: body.stars,
    };
    let dispatched = send(&state, &context, RatingCommand::from(command)).await?;
    Ok(dispatched.respond(StatusCode::NO_CONTENT, |_| None::<()>))
}

/// Remove your rating of a place.
#[utoipa::path(delete, path = "/places/{place_id}/rating", tag = "ratings",
    params(("place_id" = String, Path, format = Uuid)),
    responses((status = 204, description = "Removed"), CommandResponses),
    security(("bearer" = [])))]
pub async fn remove_rating(
    State(state): State<AppState>,
    _: Member,
    context: CommandContext,
    ApiPath(place_id): ApiPath<PlaceId>,
) -> Result<Response, ApiError> {
    let dispatched = send(
        &state,
        &context,
        RatingCommand::from(RemoveRating { place_id }),
    )
    .await?;
    Ok(dispatched.respond(StatusCode::NO_CONTENT, |_| None::<()>))
}
