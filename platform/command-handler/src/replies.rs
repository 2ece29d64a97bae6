//! `GET /commands/{command_id}` on a command service's own port: the stored reply of a
//! command this service has processed, or 404 while it has not. The gateway asks it to follow
//! a command it answered 202 Accepted; the outcome lives only here, in the store that
//! deduplicates commands.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use event_store::EventStore;
use uuid::Uuid;

pub fn router(store: EventStore) -> Router {
    Router::new()
        .route("/commands/{command_id}", get(stored_reply))
        .with_state(store)
}

async fn stored_reply(State(store): State<EventStore>, Path(command_id): Path<String>) -> Response {
    let Ok(command_id) = command_id.parse::<Uuid>() else {
        return (StatusCode::BAD_REQUEST, "not a command id").into_response();
    };
    match store.command_reply(command_id).await {
        Ok(Some(reply)) => axum::Json(reply).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(error) => {
            tracing::warn!(%error, %command_id, "a stored reply could not be read");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
