//! Star ratings: each member's current stars per place, and the place's histogram moved by
//! the difference in the same statement.

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

/// A first rating adds to the histogram; a new one moves the member's bar from the old stars
/// to the new.
async fn rate(conn: &mut PgConnection, rated: PlaceRated) -> Result<(), ApplyError> {
    rated.stars_in_range().map_err(ApplyError::Poison)?;
    // `previous` sees the row as it was before `upsert`: one snapshot for the whole statement.
    sqlx::query(
        "WITH previous AS (
             SELECT stars FROM ratings WHERE place_id = $1 AND member_id = $2
         ), upsert AS (
             INSERT INTO ratings (place_id, member_id, stars) VALUES ($1, $2, $3)
             ON CONFLICT (place_id, member_id) DO UPDATE SET stars = EXCLUDED.stars
         )
         INSERT INTO place_stats AS stats (place_id, stars_1, stars_2, stars_3, stars_4, stars_5)
         SELECT $1,
                ($3 = 1)::int - coalesce((previous.stars = 1)::int, 0),
                ($3 = 2)::int - coalesce((previous.stars = 2)::int, 0),
                ($3 = 3)::int - coalesce((previous.stars = 3)::int, 0),
                ($3 = 4)::int - coalesce((previous.stars = 4)::int, 0),
                ($3 = 5)::int - coalesce((previous.stars = 5)::int, 0)
           FROM (VALUES (1)) AS one LEFT JOIN previous ON true
         ON CONFLICT (place_id) DO UPDATE
            SET stars_1 = stats.stars_1 + EXCLUDED.stars_1, stars_2 = stats.stars_2 + EXCLUDED.stars_2,
                stars_3 = stats.stars_3 + EXCLUDED.stars_3, stars_4 = stats.stars_4 + EXCLUDED.stars_4,
                stars_5 = stats.stars_5 + EXCLUDED.stars_5",
    )
    .bind(Uuid::from(rated.place_id))
    .bind(Uuid::from(rated.member_id))
    .bind(i16::from(rated.stars))
    .execute(conn)
    .await?;
    Ok(())
}

async fn remove(conn: &mut PgConnection, removed: RatingRemoved) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH removed AS (
             DELETE FROM ratings WHERE place_id = $1 AND member_id = $2 RETURNING stars
         )
         UPDATE place_stats AS stats
            SET stars_1 = stats.stars_1 - (removed.stars = 1)::int,
                stars_2 = stats.stars_2 - (removed.stars = 2)::int,
                stars_3 = stats.stars_3 - (removed.stars = 3)::int,
                stars_4 = stats.stars_4 - (removed.stars = 4)::int,
                stars_5 = stats.stars_5 - (removed.stars = 5)::int
           FROM removed WHERE stats.place_id = $1",
    )
    .bind(Uuid::from(removed.place_id))
    .bind(Uuid::from(removed.member_id))
    .execute(conn)
    .await?;
    Ok(())
}
