//! The ratings service's events: each member's current stars per place, and, when the member
//! has a live review of the place, the stars that review received.

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

/// Sets the member's stars for the place; if they have a live review of it, its stars in their
/// counters change from the old (or none) to the new.
async fn rate(conn: &mut PgConnection, rated: PlaceRated) -> Result<(), ApplyError> {
    // Out-of-range stars would skew every average they enter.
    let stars = rated.stars_in_range().map_err(ApplyError::Poison)?;
    // `before` is the contribution as it was: every part of one statement sees the same
    // snapshot.
    sqlx::query(
        "WITH before AS (
             SELECT review_id, stars FROM contributions WHERE member_id = $1 AND place_id = $2
         ), slot AS (
             INSERT INTO contributions (member_id, place_id, stars) VALUES ($1, $2, $3)
             ON CONFLICT (member_id, place_id) DO UPDATE SET stars = EXCLUDED.stars
         )
         UPDATE members m
            SET rated_review_count = m.rated_review_count + (b.stars IS NULL)::int,
                stars_sum = m.stars_sum + $3 - coalesce(b.stars, 0)
           FROM before b
          WHERE m.member_id = $1 AND b.review_id IS NOT NULL",
    )
    .bind(Uuid::from(rated.member_id))
    .bind(Uuid::from(rated.place_id))
    .bind(i16::from(stars))
    .execute(conn)
    .await?;
    Ok(())
}

/// Clears the member's stars for the place (the row goes if it has no review either); if they
/// have a live review of it, its stars leave their counters.
async fn remove(conn: &mut PgConnection, removed: RatingRemoved) -> Result<(), sqlx::Error> {
    // The two changes of the contribution are exclusive: at most one of them matches.
    sqlx::query(
        "WITH before AS (
             SELECT review_id, stars FROM contributions WHERE member_id = $1 AND place_id = $2
         ), removed AS (
             DELETE FROM contributions
              WHERE member_id = $1 AND place_id = $2 AND review_id IS NULL
         ), cleared AS (
             UPDATE contributions SET stars = NULL
              WHERE member_id = $1 AND place_id = $2 AND review_id IS NOT NULL
         )
         UPDATE members m
            SET rated_review_count = m.rated_review_count - 1,
                stars_sum = m.stars_sum - b.stars
           FROM before b
          WHERE m.member_id = $1 AND b.review_id IS NOT NULL AND b.stars IS NOT NULL",
    )
    .bind(Uuid::from(removed.member_id))
    .bind(Uuid::from(removed.place_id))
    .execute(conn)
    .await?;
    Ok(())
}
