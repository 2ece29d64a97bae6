//! The query API: `GET /members/{member_id}`, a member's [`Profile`](crate::profile::Profile).
//!
//! The query reads only this model's tables, and waits for the client's consistency token,
//! if any, before it reads.

use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use events::MemberId;
use projection::query::{self, ConsistencyParams, Problem, QueryContext};

use crate::profile;

/// The query API's routes, with `context` as their state.
pub fn router(context: QueryContext) -> Router {
    Router::new()
        .route("/members/{member_id}", get(member))
        .with_state(context)
}

/// 400 for an id that is not a UUID or a malformed token, 404 for a member whose
/// registration has not arrived.
async fn member(
    State(context): State<QueryContext>,
    member_id: Result<Path<String>, PathRejection>,
    params: Result<Query<ConsistencyParams>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let member_id: MemberId = member_id
        .ok()
        .and_then(|Path(raw)| raw.parse().ok())
        .ok_or_else(|| Problem::invalid("member_id", "not a member id"))?;
    let token = params
        .map_err(|rejection| Problem::invalid("query", rejection.body_text()))?
        .token()?;
    let freshness = context.freshness(token.as_ref()).await?;
    let profile = profile::load(&context.pool, member_id)
        .await?
        .ok_or_else(|| Problem::not_found("member"))?;
    Ok(query::json(&headers, &profile, freshness))
}
