//! The command routes, one module per command service. Queries are the proxy's, auth routes
//! are auth's, photos are photos'.

mod members;
mod places;
mod ratings;
mod reviews;

use events::Command;
use utoipa_axum::router::OpenApiRouter;

use crate::commands::{CommandContext, Dispatched};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(members::router())
        .merge(places::router())
        .merge(reviews::router())
        .merge(ratings::router())
}

/// Sends `command` and, when it was applied, remembers its token for the caller's session so
/// the caller's next queries read this write.
pub(crate) async fn send<C: Command>(
    state: &AppState,
    context: &CommandContext,
    command: C,
) -> Result<Dispatched, ApiError> {
    let dispatched = state.commands.dispatch(command, context).await?;
    if let (Some(success), Some(identity)) = (dispatched.success(), &context.identity) {
        state
            .auth
            .remember_write(identity.session_id, &success.consistency_token)
            .await;
    }
    Ok(dispatched)
}
