//! Review counts. Only a review's existence matters here; its text lives in review-feed.

use events::reviews::ReviewEvent;
use projection::ApplyError;
use sqlx::PgConnection;
use uuid::Uuid;

pub(super) async fn apply(conn: &mut PgConnection, event: ReviewEvent) -> Result<(), ApplyError> {
    match event {
        ReviewEvent::ReviewWritten(written) => {
            // Counted only when the review row is new, so the count is always the number of rows.
            sqlx::query(
                "WITH written AS (
                     INSERT INTO reviews (review_id, place_id) VALUES ($1, $2)
                     ON CONFLICT (review_id) DO NOTHING
                     RETURNING place_id
                 )
                 INSERT INTO place_stats AS stats (place_id, review_count)
                 SELECT place_id, 1 FROM written
                 ON CONFLICT (place_id) DO UPDATE SET review_count = stats.review_count + 1",
            )
            .bind(Uuid::from(written.review_id))
            .bind(Uuid::from(written.place_id))
            .execute(conn)
            .await?;
        }
        ReviewEvent::ReviewDeleted(deleted) => {
            sqlx::query(
                "WITH deleted AS (DELETE FROM reviews WHERE review_id = $1 RETURNING place_id)
                 UPDATE place_stats AS stats SET review_count = stats.review_count - 1
                   FROM deleted WHERE stats.place_id = deleted.place_id",
            )
            .bind(Uuid::from(deleted.review_id))
            .execute(conn)
            .await?;
        }
        // An edit changes neither the place nor the count.
        ReviewEvent::ReviewEdited(_) => {}
    }
    Ok(())
}
