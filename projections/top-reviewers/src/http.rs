//! The query API (internal; the gateway proxies it under `/api/v1`):
//! `GET /members/top?limit=&consistency=`, the [`Ranking`](crate::ranking::Ranking).
//!
//! Every parameter is checked before the read-your-writes wait, so a bad request is refused at
//! once. The query reads only this model's tables.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use projection::query::{self, ConsistencyTokens, Problem, QueryContext};
use serde::Deserialize;

use crate::ranking::{self, Limit};

/// The query API's routes, with `context` as their state.
pub fn router(context: QueryContext) -> Router {
    Router::new()
        .route("/members/top", get(top))
        .with_state(context)
}

#[derive(Debug, Deserialize)]
struct TopParams {
    /// Parsed here, so a malformed limit is reported as the `limit` field's error.
    limit: Option<String>,
    /// Consistency tokens from command replies, comma-separated.
    consistency: Option<String>,
}

/// 400 for a limit out of range or a malformed token.
async fn top(
    State(context): State<QueryContext>,
    params: Result<Query<TopParams>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let Query(params) =
        params.map_err(|rejection| Problem::invalid("query", rejection.body_text()))?;
    let limit =
        Limit::parse(params.limit.as_deref()).map_err(|why| Problem::invalid("limit", why))?;
    let tokens: Option<ConsistencyTokens> =
        params.consistency.as_deref().map(str::parse).transpose()?;
    let freshness = context.freshness(tokens.as_ref()).await?;
    let ranking = ranking::top(&context.pool, limit).await?;
    Ok(query::json(&headers, &ranking, freshness))
}
