//! The ratings service's events: each member's current stars per place.

use events::ratings::RatingEvent;
use projection::ApplyError;
use sqlx::PgConnection;
use uuid::Uuid;

pub(super) async fn apply(conn: &mut PgConnection, event: RatingEvent) -> Result<(), ApplyError> {
    let statement = match event {
        RatingEvent::PlaceRated(rated) => {
            // Out-of-range stars would skew every average they enter.
            rated.stars_in_range().map_err(ApplyError::Poison)?;
            sqlx::query(
                "INSERT INTO ratings (member_id, place_id, stars) VALUES ($1, $2, $3)
                 ON CONFLICT (member_id, place_id) DO UPDATE SET stars = EXCLUDED.stars",
            )
            .bind(Uuid::from(rated.member_id))
            .bind(Uuid::from(rated.place_id))
            .bind(i16::from(rated.stars))
        }
        RatingEvent::RatingRemoved(removed) => {
            sqlx::query("DELETE FROM ratings WHERE member_id = $1 AND place_id = $2")
                .bind(Uuid::from(removed.member_id))
                .bind(Uuid::from(removed.place_id))
        }
    };
    statement.execute(conn).await?;
    Ok(())
}
