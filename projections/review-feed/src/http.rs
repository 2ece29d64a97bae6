//! The query API (internal; the gateway proxies it under `/api/v1`):
//! - `GET /places/{place_id}/reviews?sort=newest|stars&cursor=&limit=&consistency=`
//! - `GET /members/{member_id}/reviews?cursor=&limit=&consistency=`
//! - `GET /reviews/{review_id}?consistency=`
//!
//! Every parameter is checked before the read-your-writes wait, so a bad request is refused at
//! once. The review JSON is described in [`crate::read`].

use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use projection::query::{ConsistencyParams, PageParams, Problem, QueryContext, json};
use serde::Deserialize;
use uuid::Uuid;

use crate::read::{self, PageRequest, Sort};

/// The model's query routes.
pub fn router(context: QueryContext) -> Router {
    Router::new()
        .route("/places/{place_id}/reviews", get(place_reviews))
        .route("/members/{member_id}/reviews", get(member_reviews))
        .route("/reviews/{review_id}", get(review))
        .with_state(context)
}

#[derive(Debug, Default, Deserialize)]
struct SortParams {
    #[serde(default)]
    sort: Sort,
}

async fn place_reviews(
    State(context): State<QueryContext>,
    place_id: Result<Path<String>, PathRejection>,
    sort: Result<Query<SortParams>, QueryRejection>,
    page: Result<Query<PageParams>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let place_id = id("place_id", place_id)?;
    let Query(sort) = sort.map_err(invalid_query)?;
    let Query(page) = page.map_err(invalid_query)?;
    let request = PageRequest::parse(sort.sort, &page)?;
    let freshness = context.freshness(page.token()?.as_ref()).await?;
    let reviews = read::place_reviews(&context.pool, place_id, &request)
        .await?
        .ok_or_else(|| Problem::not_found("place"))?;
    Ok(json(&headers, &reviews, freshness))
}

async fn member_reviews(
    State(context): State<QueryContext>,
    member_id: Result<Path<String>, PathRejection>,
    page: Result<Query<PageParams>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let member_id = id("member_id", member_id)?;
    let Query(page) = page.map_err(invalid_query)?;
    let request = PageRequest::parse(Sort::Newest, &page)?;
    let freshness = context.freshness(page.token()?.as_ref()).await?;
    let reviews = read::member_reviews(&context.pool, member_id, &request)
        .await?
        .ok_or_else(|| Problem::not_found("member"))?;
    Ok(json(&headers, &reviews, freshness))
}

async fn review(
    State(context): State<QueryContext>,
    review_id: Result<Path<String>, PathRejection>,
    params: Result<Query<ConsistencyParams>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let review_id = id("review_id", review_id)?;
    let Query(params) = params.map_err(invalid_query)?;
    let freshness = context.freshness(params.token()?.as_ref()).await?;
    let review = read::review(&context.pool, review_id)
        .await?
        .ok_or_else(|| Problem::not_found("review"))?;
    Ok(json(&headers, &review, freshness))
}

/// An id in the path; anything but a UUID (including bytes that are not UTF-8) is refused.
fn id(field: &str, path: Result<Path<String>, PathRejection>) -> Result<Uuid, Problem> {
    path.ok()
        .and_then(|Path(raw)| raw.parse().ok())
        .ok_or_else(|| Problem::invalid(field, "not a UUID"))
}

/// A parameter of the wrong type (`limit=ten`, `sort=oldest`) speaks problem+json too.
fn invalid_query(rejection: QueryRejection) -> Problem {
    Problem::invalid("query", rejection.body_text())
}
