//! `POST /photos` (a member's raw image) and `GET /photos/{photo_id}` (anyone).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use events::PhotoId;
use photo_store::Download;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ImageType;
use crate::API_PREFIX;
use crate::auth::Member;
use crate::error::{ApiError, Problem};
use crate::json::read_limited;
use crate::path::ApiPath;
use crate::state::AppState;

/// What the images the gateway streams may be cached for. A photo's id is random and never
/// reused, so its bytes do not change; a day keeps a removal from lingering for long.
const STREAMED_CACHE_CONTROL: &str = "public, max-age=86400";

/// `/photos`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload))
        .routes(routes!(download))
}

/// A stored upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadedPhoto {
    #[schema(value_type = String, format = Uuid)]
    pub photo_id: PhotoId,
    /// Where the image is served; also in `Location`.
    pub url: String,
}

/// Upload a photo: the raw bytes of a JPEG, PNG or WebP image, at most 5 MB. The type is read
/// from the bytes, whatever `Content-Type` says. Use the id for an avatar or a review.
#[utoipa::path(post, path = "/photos", tag = "photos",
    request_body(description = "The image's bytes", content(("image/jpeg"), ("image/png"), ("image/webp"))),
    responses(
        (status = 201, description = "Stored", body = UploadedPhoto,
            headers(("Location" = String, description = "The photo's URL"))),
        (status = 400, description = "An empty body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than 5 MB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JPEG, PNG or WebP image", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the rate limit; see `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Photo storage is unavailable; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    Member(identity): Member,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let limit = state.limits.photo_bytes;
    // A declared length over the limit is refused before a byte of the body is read.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let bytes = read_limited(body, limit).await?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "the body is empty: send the image's bytes as the body",
        ));
    }
    let image = ImageType::sniff(&bytes).ok_or(ApiError::UnsupportedMediaType {
        expected: "a JPEG, PNG or WebP image",
    })?;
    let photo_id = PhotoId::generate();
    state
        .photos
        .put(photo_id, identity.member_id, image, bytes)
        .await?;
    let url = format!("{API_PREFIX}/photos/{photo_id}");
    let location = HeaderValue::try_from(url.as_str()).map_err(anyhow::Error::new)?;
    let body = UploadedPhoto { photo_id, url };
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(body),
    )
        .into_response())
}

/// A photo: a redirect to a short-lived link into object storage, or the image itself when
/// photos are kept on the gateway's disk.
#[utoipa::path(get, path = "/photos/{photo_id}", tag = "photos",
    params(("photo_id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "The image", content(("image/jpeg"), ("image/png"), ("image/webp"))),
        (status = 307, description = "Fetch the image from `Location`, a link that works for a few minutes",
            headers(("Location" = String))),
        (status = 400, description = "Not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such photo", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the rate limit; see `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Photo storage is unavailable; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = [])))]
pub async fn download(
    State(state): State<AppState>,
    ApiPath(photo_id): ApiPath<PhotoId>,
) -> Result<Response, ApiError> {
    let download = state.photos.download(photo_id).await?;
    match download {
        None => Err(ApiError::NotFound(format!("no photo {photo_id}"))),
        Some(Download::Redirect(url)) => {
            let location = HeaderValue::try_from(url).map_err(anyhow::Error::new)?;
            // A cached redirect must still lead to a live link when it is followed.
            let max_age = state.photos.presign_ttl().as_secs() / 2;
            let cache_control = HeaderValue::try_from(format!("private, max-age={max_age}"))
                .map_err(anyhow::Error::new)?;
            Ok((
                StatusCode::TEMPORARY_REDIRECT,
                [
                    (header::LOCATION, location),
                    (header::CACHE_CONTROL, cache_control),
                ],
            )
                .into_response())
        }
        Some(Download::Stream(opened)) => {
            let content_type = HeaderValue::try_from(opened.content_type)
                .unwrap_or(HeaderValue::from_static("application/octet-stream"));
            Ok((
                [
                    (header::CONTENT_TYPE, content_type),
                    (header::CONTENT_LENGTH, HeaderValue::from(opened.size)),
                    (
                        header::CACHE_CONTROL,
                        HeaderValue::from_static(STREAMED_CACHE_CONTROL),
                    ),
                ],
                Body::from_stream(opened.body),
            )
                .into_response())
        }
    }
}
