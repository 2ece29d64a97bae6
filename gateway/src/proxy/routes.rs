//! The query routes. Each checks its ids and parameters, names the read model and its path
//! (the read models serve the same paths at their root), and forwards.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use events::{MemberId, PlaceId, ReviewId};
use serde::Deserialize;
use utoipa::IntoResponses;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::forward::{Audience, Query, forward};
use super::params::{Page, Params, PlaceReviewsPage, PlaceSearch, QueryParameters, Read};
use super::schemas::{PlaceDetail, PlacePage, Profile, Review, ReviewPage, TopReviewers};
use crate::auth::{Identity, MaybeMember, Member};
use crate::error::{ApiError, Problem};
use crate::path::ApiPath;
use crate::state::AppState;

const PLACE_DIRECTORY: &str = "place-directory";
const REVIEW_FEED: &str = "review-feed";
const MEMBER_PROFILE: &str = "member-profile";
const TOP_REVIEWERS: &str = "top-reviewers";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search_places))
        .routes(routes!(place))
        .routes(routes!(place_reviews))
        .routes(routes!(member_reviews))
        .routes(routes!(review))
        .routes(routes!(member))
        .routes(routes!(me))
        // A static segment: axum matches it before `/members/{member_id}`, whatever the order.
        .routes(routes!(top_reviewers))
}

/// What any query route may answer besides its success.
#[derive(IntoResponses)]
#[allow(dead_code)] // Only its OpenAPI description is used; the answers come from the upstream.
pub enum QueryResponses {
    /// `If-None-Match` names the current version: nothing changed.
    #[response(status = 304)]
    NotModified,
    /// A malformed id, an unknown or repeated parameter, or a parameter value the read model
    /// refuses (`errors` names it).
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(#[to_schema] Problem),
    /// No such place, review or member (yet: present a consistency token to wait for a write).
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(#[to_schema] Problem),
    /// Over the rate limit; see `Retry-After`.
    #[response(status = 429, content_type = "application/problem+json")]
    RateLimited(#[to_schema] Problem),
    /// The read model cannot answer and there is no earlier answer to serve stale.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(#[to_schema] Problem),
}

/// Sends a route's query to `upstream` at `path`.
async fn query<P: QueryParameters>(
    state: &AppState,
    upstream: &'static str,
    path: String,
    params: &P,
    identity: Option<&Identity>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let query = Query {
        upstream,
        path,
        params: params.forwarded(),
        consistency: params.consistency(),
        audience: Audience::Public,
    };
    forward(state, query, identity, headers).await
}

/// Search places.
///
/// Answers carry `ETag` (send it back as `If-None-Match` for a 304) and `Waypoint-Freshness`
/// (`stale` when the read model could not catch up with the consistency tokens in time). When
/// the read model cannot answer, the last good answer is served with `X-Waypoint-Stale: true`
/// and `Warning: 110`.
#[utoipa::path(get, path = "/places", tag = "places",
    params(PlaceSearch, ConsistencyHeader),
    responses(
        (status = 200, description = "A page of places", body = PlacePage, headers(
            ("ETag" = String), ("Waypoint-Freshness" = String, description = "`fresh` or `stale`"),
            ("X-Waypoint-Stale" = String, description = "`true` on a stale fallback"),
            ("Warning" = String, description = "`110 - \"Response is Stale\"` on a stale fallback"))),
        QueryResponses),
    security((), ("bearer" = [])))]
pub async fn search_places(
    State(state): State<AppState>,
    MaybeMember(identity): MaybeMember,
    Params(params): Params<PlaceSearch>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = "/places".to_owned();
    query(
        &state,
        PLACE_DIRECTORY,
        path,
        &params,
        identity.as_ref(),
        &headers,
    )
    .await
}

/// A place with its rating summary.
#[utoipa::path(get, path = "/places/{place_id}", tag = "places",
    params(("place_id" = String, Path, format = Uuid), Read, ConsistencyHeader),
    responses(
        (status = 200, description = "The place", body = PlaceDetail, headers(
            ("ETag" = String), ("Waypoint-Freshness" = String, description = "`fresh` or `stale`"),
            ("X-Waypoint-Stale" = String, description = "`true` on a stale fallback"),
            ("Warning" = String, description = "`110 - \"Response is Stale\"` on a stale fallback"))),
        QueryResponses),
    security((), ("bearer" = [])))]
pub async fn place(
    State(state): State<AppState>,
    MaybeMember(identity): MaybeMember,
    ApiPath(place_id): ApiPath<PlaceId>,
    Params(params): Params<Read>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = format!("/places/{place_id}");
    query(
        &state,
        PLACE_DIRECTORY,
        path,
        &params,
        identity.as_ref(),
        &headers,
    )
    .await
}

/// A place's reviews.
#[utoipa::path(get, path = "/places/{place_id}/reviews", tag = "reviews",
    params(("place_id" = String, Path, format = Uuid), PlaceReviewsPage, ConsistencyHeader),
    responses(
        (status = 200, description = "A page of reviews", body = ReviewPage, headers(
            ("ETag" = String), ("Waypoint-Freshness" = String, description = "`fresh` or `stale`"),
            ("X-Waypoint-Stale" = String, description = "`true` on a stale fallback"),
            ("Warning" = String, description = "`110 - \"Response is Stale\"` on a stale fallback"))),
        QueryResponses),
    security((), ("bearer" = [])))]
pub async fn place_reviews(
    State(state): State<AppState>,
    MaybeMember(identity): MaybeMember,
    ApiPath(place_id): ApiPath<PlaceId>,
    Params(params): Params<PlaceReviewsPage>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = format!("/places/{place_id}/reviews");
    query(
        &state,
        REVIEW_FEED,
        path,
        &params,
        identity.as_ref(),
        &headers,
    )
    .await
}

/// A member's reviews, newest first.
#[utoipa::path(get, path = "/members/{member_id}/reviews", tag = "reviews",
    params(("member_id" = String, Path, format = Uuid), Page, ConsistencyHeader),
    responses(
        (status = 200, description = "A page of reviews", body = ReviewPage, headers(
            ("ETag" = String), ("Waypoint-Freshness" = String, description = "`fresh` or `stale`"),
            ("X-Waypoint-Stale" = String, description = "`true` on a stale fallback"),
            ("Warning" = String, description = "`110 - \"Response is Stale\"` on a stale fallback"))),
        QueryResponses),
    security((), ("bearer" = [])))]
pub async fn member_reviews(
    State(state): State<AppState>,
    MaybeMember(identity): MaybeMember,
    ApiPath(member_id): ApiPath<MemberId>,
    Params(params): Params<Page>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = format!("/members/{member_id}/reviews");
    query(
        &state,
        REVIEW_FEED,
        path,
        &params,
        identity.as_ref(),
        &headers,
    )
    .await
}

/// One review.
#[utoipa::path(get, path = "/reviews/{review_id}", tag = "reviews",
    params(("review_id" = String, Path, format = Uuid), Read, ConsistencyHeader),
    responses(
        (status = 200, description = "The review", body = Review, headers(
            ("ETag" = String), ("Waypoint-Freshness" = String, description = "`fresh` or `stale`"),
            ("X-Waypoint-Stale" = String, description = "`true` on a stale fallback"),
            ("Warning" = String, description = "`110 - \"Response is Stale\"` on a stale fallback"))),
        QueryResponses),
    security((), ("bearer" = [])))]
pub async fn review(
    State(state): State<AppState>,
    MaybeMember(identity): MaybeMember,
    ApiPath(review_id): ApiPath<ReviewId>,
    Params(params): Params<Read>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = format!("/reviews/{review_id}");
    query(
        &state,
        REVIEW_FEED,
        path,
        &params,
        identity.as_ref(),
        &headers,
    )
    .await
}

/// A member's public profile.
#[utoipa::path(get, path = "/members/{member_id}", tag = "members",
    params(("member_id" = String, Path, format = Uuid), Read, ConsistencyHeader),
    responses(
        (status = 200, description = "The profile", body = Profile, headers(
            ("ETag" = String), ("Waypoint-Freshness" = String, description = "`fresh` or `stale`"),
            ("X-Waypoint-Stale" = String, description = "`true` on a stale fallback"),
            ("Warning" = String, description = "`110 - \"Response is Stale\"` on a stale fallback"))),
        QueryResponses),
    security((), ("bearer" = [])))]
pub async fn member(
    State(state): State<AppState>,
    MaybeMember(identity): MaybeMember,
    ApiPath(member_id): ApiPath<MemberId>,
    Params(params): Params<Read>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = format!("/members/{member_id}");
    query(
        &state,
        MEMBER_PROFILE,
        path,
        &params,
        identity.as_ref(),
        &headers,
    )
    .await
}

/// Your own profile: the public profile of the signed-in member.
#[utoipa::path(get, path = "/members/me", tag = "members",
    params(Read, ConsistencyHeader),
    responses(
        (status = 200, description = "Your profile", body = Profile, headers(
            ("ETag" = String), ("Waypoint-Freshness" = String, description = "`fresh` or `stale`"),
            ("X-Waypoint-Stale" = String, description = "`true` on a stale fallback"),
            ("Warning" = String, description = "`110 - \"Response is Stale\"` on a stale fallback"))),
        (status = 401, description = "No valid access token, or its session has ended",
            body = Problem, content_type = "application/problem+json"),
        QueryResponses),
    security(("bearer" = [])))]
pub async fn me(
    State(state): State<AppState>,
    Member(identity): Member,
    Params(params): Params<Read>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = Query {
        upstream: MEMBER_PROFILE,
        path: format!("/members/{}", identity.member_id),
        params: params.forwarded(),
        consistency: params.consistency(),
        audience: Audience::Caller,
    };
    forward(&state, query, Some(&identity), &headers).await
}

/// `GET /members/top`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TopReviewersParams {
    /// Members to show, 1 to 100; 10 when absent.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Consistency tokens (comma-separated): wait until the ranking includes those writes.
    consistency: Option<String>,
}

impl QueryParameters for TopReviewersParams {
    fn forwarded(&self) -> Vec<(&'static str, &str)> {
        self.limit
            .as_deref()
            .map(|limit| ("limit", limit))
            .into_iter()
            .collect()
    }

    fn consistency(&self) -> Option<&str> {
        self.consistency.as_deref()
    }
}

/// The top reviewers: members ranked by their live reviews, then by the average stars those
/// reviews received (each the author's own rating of the place; members none of whose reviews
/// has stars come after those with an average), then by member id.
#[utoipa::path(get, path = "/members/top", tag = "members",
    params(TopReviewersParams, ConsistencyHeader),
    responses(
        (status = 200, description = "The ranking", body = TopReviewers, headers(
            ("ETag" = String), ("Waypoint-Freshness" = String, description = "`fresh` or `stale`"),
            ("X-Waypoint-Stale" = String, description = "`true` on a stale fallback"),
            ("Warning" = String, description = "`110 - \"Response is Stale\"` on a stale fallback"))),
        QueryResponses),
    security((), ("bearer" = [])))]
pub async fn top_reviewers(
    State(state): State<AppState>,
    MaybeMember(identity): MaybeMember,
    Params(params): Params<TopReviewersParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = "/members/top".to_owned();
    query(
        &state,
        TOP_REVIEWERS,
        path,
        &params,
        identity.as_ref(),
        &headers,
    )
    .await
}

/// `X-Consistency-Token`, documented once for every query route.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // Only its OpenAPI description is used; `forward` reads the header.
struct ConsistencyHeader {
    /// Tokens from your commands' `X-Consistency-Token` answers (comma-separated, or the
    /// header repeated): the answer waits until it includes those writes. Your session's own
    /// writes are waited for without it.
    #[param(rename = "X-Consistency-Token")]
    consistency: Option<String>,
}
