//! The query API: `GET /places` (search) and `GET /places/{place_id}` (detail).
//!
//! Every query reads only this model's tables, and waits for the client's consistency token,
//! if any, before it reads.

mod detail;
mod search;

use axum::Router;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::routing::get;
use projection::query::{Problem, QueryContext};

/// The query API's routes, with `context` as their state.
pub fn router(context: QueryContext) -> Router {
    Router::new()
        .route("/places", get(search::search))
        .route("/places/{place_id}", get(detail::detail))
        .with_state(context)
}

/// Query parameters that did not parse get the API's problem format, not axum's plain text.
fn query_params<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, Problem> {
    query
        .map(|Query(params)| params)
        .map_err(|rejection| Problem::invalid("query", rejection.body_text()))
}
