//! Adding, updating and closing places.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use events::PlaceId;
use events::places::{AddPlace, ClosePlace, PlaceCommand, UpdatePlace};
use serde::{Deserialize, Serialize};
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
    OpenApiRouter::new()
        .routes(routes!(add_place))
        .routes(routes!(update_place, close_place))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPlace {
    pub name: String,
    /// One of `restaurant`, `cafe`, `bar`, `museum`, `park`, `shop`, `hotel`, `other`.
    pub category: String,
    pub address: String,
    #[serde(default)]
    pub description: String,
}

/// Only the fields present change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceChanges {
    pub name: Option<String>,
    pub category: Option<String>,
    pub address: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlaceCreated {
    #[schema(value_type = String, format = Uuid)]
    pub place_id: PlaceId,
}

/// Add a place.
#[utoipa::path(post, path = "/places", tag = "places",
    request_body = NewPlace,
    responses((status = 201, description = "Added", body = PlaceCreated,
        headers(("Location" = String), ("X-Consistency-Token" = String))), CommandResponses),
    security(("bearer" = [])))]
pub async fn add_place(
    State(state): State<AppState>,
    _: Member,
    context: CommandContext,
    ApiJson(body): ApiJson<NewPlace>,
) -> Result<Response, ApiError> {
    // A new place takes its command's id, so a retried request names the same place.
    let place_id = PlaceId::from(uuid::Uuid::from(context.command_id));
    let command = AddPlace {
        name: body.name,
        category: body.category,
        address: body.address,
        description: body.description,
    };
    let dispatched = send(&state, &context, PlaceCommand::from(command)).await?;
    let created = dispatched.success().is_some();
    let mut response = dispatched.respond(StatusCode::CREATED, |_| Some(PlaceCreated { place_id }));
    if created && let Ok(location) = HeaderValue::try_from(format!("/api/v1/places/{place_id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Update a place's details.
#[utoipa::path(patch, path = "/places/{place_id}", tag = "places",
    params(("place_id" = String, Path, format = Uuid)),
    request_body = PlaceChanges,
    responses((status = 204, description = "Updated"), CommandResponses),
    security(("bearer" = [])))]
pub async fn update_place(
    State(state): State<AppState>,
    _: Member,
    context: CommandContext,
    ApiPath(place_id): ApiPath<PlaceId>,
    ApiJson(body): ApiJson<PlaceChanges>,
) -> Result<Response, ApiError> {
    let command = UpdatePlace {
        place_id,
        name: body.name,
        category: body.category,
        address: body.address,
        description: body.description,
    };
    let dispatched = send(&state, &context, PlaceCommand::from(command)).await?;
    Ok(dispatched.respond(StatusCode::NO_CONTENT, |_| None::<()>))
}

/// Close a place: no new reviews or ratings.
#[utoipa::path(delete, path = "/places/{place_id}", tag = "places",
    params(("place_id" = String, Path, format = Uuid)),
    responses((status = 204, description = "Closed"), CommandResponses),
    security(("bearer" = [])))]
pub async fn close_place(
    State(state): State<AppState>,
    _: Member,
    context: CommandContext,
    ApiPath(place_id): ApiPath<PlaceId>,
) -> Result<Response, ApiError> {
    let dispatched = send(
        &state,
        &context,
        PlaceCommand::from(ClosePlace { place_id }),
    )
    .await?;
    Ok(dispatched.respond(StatusCode::NO_CONTENT, |_| None::<()>))
}
