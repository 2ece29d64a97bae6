//! Each member's stars per place, and the copy on the member's review of that place, changed
//! by one statement so the two never differ.

use events::ratings::{PlaceRated, RatingEvent, RatingRemoved};
use projection::ApplyError;
use sqlx::PgConnection;
use uuid::Uuid;

pub(super) async fn apply(conn: &mut PgConnection, event: RatingEvent) -> Result<(), ApplyError> {
    match event {
        RatingEvent::PlaceRated(rated) => rate(conn, rated).await,
        RatingEvent::RatingRemoved(removed) => Ok(remove(conn, removed).await?),
    }
}

async fn rate(conn: &mut PgConnection, rated: PlaceRated) -> Result<(), ApplyError> {
    rated.stars_in_range().map_err(ApplyError::Poison)?;
    sqlx::query(
        "WITH upsert AS (
             INSERT INTO stars (member_id, place_id, stars) VALUES ($1, $2, $3)
             ON CONFLICT (member_id, place_id) DO UPDATE SET stars = EXCLUDED.stars
         )
         UPDATE reviews SET stars = $3 WHERE author_id = $1 AND place_id = $2",
    )
    .bind(Uuid::from(rated.member_id))
    .bind(Uuid::from(rated.place_id))
    .bind(i16::from(rated.stars))
    .execute(conn)
    .await?;
    Ok(())
}

async fn remove(conn: &mut PgConnection, removed: RatingRemoved) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH removed AS (
             DELETE FROM stars WHERE member_id = $1 AND place_id = $2
         )
         UPDATE reviews SET stars = NULL WHERE author_id = $1 AND place_id = $2",
    )
    .bind(Uuid::from(removed.member_id))
    .bind(Uuid::from(removed.place_id))
    .execute(conn)
    .await?;
    Ok(())
}
