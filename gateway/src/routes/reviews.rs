//! Writing, editing and deleting reviews.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use events::reviews::{DeleteReview, EditReview, ReviewCommand, WriteReview};
use events::{PhotoId, PlaceId, ReviewId};
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
        .routes(routes!(write_review))
        .routes(routes!(edit_review, delete_review))
}

/// A review's text and photos (uploaded first with `POST /photos`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewText {
    pub title: String,
    pub body: String,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub photo_ids: Vec<PhotoId>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewCreated {
    #[schema(value_type = String, format = Uuid)]
    pub review_id: ReviewId,
}

/// Review a place (one review per member per place).
#[utoipa::path(post, path = "/places/{place_id}/reviews", tag = "reviews",
    params(("place_id" = String, Path, format = Uuid)),
    request_body = ReviewText,
    responses((status = 201, description = "Written", body = ReviewCreated,
        headers(("Location" = String), ("X-Consistency-Token" = String))), CommandResponses),
    security(("bearer" = [])))]
pub async fn write_review(
    State(state): State<AppState>,
    _: Member,
    context: CommandContext,
    ApiPath(place_id): ApiPath<PlaceId>,
    ApiJson(body): ApiJson<ReviewText>,
) -> Result<Response, ApiError> {
    // A new review takes its command's id, so a retried request names the same review.
    let review_id = ReviewId::from(uuid::Uuid::from(context.command_id));
    let command = WriteReview {
        place_id,
        title: body.title,
        body: body.body,
        photo_ids: body.photo_ids,
    };
    let dispatched = send(&state, &context, ReviewCommand::from(command)).await?;
    let created = dispatched.success().is_some();
    let mut response =
        dispatched.respond(StatusCode::CREATED, |_| Some(ReviewCreated { review_id }));
    if created && let Ok(location) = HeaderValue::try_from(format!("/api/v1/reviews/{review_id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Edit your review.
#[utoipa::path(patch, path = "/reviews/{review_id}", tag = "reviews",
    params(("review_id" = String, Path, format = Uuid)),
    request_body = ReviewText,
    responses((status = 204, description = "Edited"), CommandResponses),
    security(("bearer" = [])))]
pub async fn edit_review(
    State(state): State<AppState>,
    _: Member,
    context: CommandContext,
    ApiPath(review_id): ApiPath<ReviewId>,
    ApiJson(body): ApiJson<ReviewText>,
) -> Result<Response, ApiError> {
    let command = EditReview {
        review_id,
        title: body.title,
        body: body.body,
        photo_ids: body.photo_ids,
    };
    let dispatched = send(&state, &context, ReviewCommand::from(command)).await?;
    Ok(dispatched.respond(StatusCode::NO_CONTENT, |_| None::<()>))
}

/// Delete a review (its author, or an administrator).
#[utoipa::path(delete, path = "/reviews/{review_id}", tag = "reviews",
    params(("review_id" = String, Path, format = Uuid)),
    responses((status = 204, description = "Deleted"), CommandResponses),
    security(("bearer" = [])))]
pub async fn delete_review(
    State(state): State<AppState>,
    _: Member,
    context: CommandContext,
    ApiPath(review_id): ApiPath<ReviewId>,
) -> Result<Response, ApiError> {
    let dispatched = send(
        &state,
        &context,
        ReviewCommand::from(DeleteReview { review_id }),
    )
    .await?;
    Ok(dispatched.respond(StatusCode::NO_CONTENT, |_| None::<()>))
}
