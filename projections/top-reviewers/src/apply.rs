//! How each consumed event changes the model: one module per source, one statement per event.

mod members;
mod ratings;
mod reviews;

use events::members::MemberEvent;
use events::ratings::RatingEvent;
use events::reviews::ReviewEvent;
use projection::{ApplyError, IncomingEvent, decode};
use sqlx::PgConnection;

pub(crate) async fn apply(
    conn: &mut PgConnection,
    event: &IncomingEvent,
) -> Result<(), ApplyError> {
    match event.source.as_str() {
        events::members::SERVICE => members::apply(conn, decode::<MemberEvent>(event)?).await,
        events::reviews::SERVICE => reviews::apply(conn, decode::<ReviewEvent>(event)?).await,
        events::ratings::SERVICE => ratings::apply(conn, decode::<RatingEvent>(event)?).await,
        // Nothing routes another service's events here: applying them blindly could hide a
        // wiring mistake, so they are set aside like any event this build cannot read.
        other => Err(ApplyError::poison(format!(
            "{} from `{other}`: this model consumes no events of that service",
            event.event_type
        ))),
    }
}
