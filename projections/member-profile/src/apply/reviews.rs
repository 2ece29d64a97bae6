//! The reviews service's events: which live reviews each member wrote.

use events::reviews::ReviewEvent;
use projection::ApplyError;
use sqlx::PgConnection;
use uuid::Uuid;

pub(super) async fn apply(conn: &mut PgConnection, event: ReviewEvent) -> Result<(), ApplyError> {
    let statement = match event {
        ReviewEvent::ReviewWritten(written) => sqlx::query(
            "INSERT INTO reviews (review_id, author_id) VALUES ($1, $2)
             ON CONFLICT (review_id) DO NOTHING",
        )
        .bind(Uuid::from(written.review_id))
        .bind(Uuid::from(written.author_id)),
        ReviewEvent::ReviewDeleted(deleted) => {
            sqlx::query("DELETE FROM reviews WHERE review_id = $1")
                .bind(Uuid::from(deleted.review_id))
        }
        // Not bound to the model's queue; an edit changes nothing a profile shows.
        ReviewEvent::ReviewEdited(_) => return Ok(()),
    };
    statement.execute(conn).await?;
    Ok(())
}
