//! The reviews service's events: which live review each member has of each place, and the
//! member's review counters.

use events::reviews::{ReviewDeleted, ReviewEvent, ReviewWritten};
use projection::ApplyError;
use sqlx::PgConnection;
use uuid::Uuid;

pub(super) async fn apply(conn: &mut PgConnection, event: ReviewEvent) -> Result<(), ApplyError> {
    match event {
        ReviewEvent::ReviewWritten(written) => write(conn, written).await,
        ReviewEvent::ReviewDeleted(deleted) => Ok(delete(conn, deleted).await?),
        // Not bound to the model's queue; an edit changes nothing the ranking counts.
        ReviewEvent::ReviewEdited(_) => Ok(()),
    }
}

/// Puts the review in its author's contribution for the place and counts it, with the stars
/// the contribution already holds. A member has at most one live review of a place: a second
/// one breaks the reviews service's rule, and is set aside rather than counted or dropped.
async fn write(conn: &mut PgConnection, written: ReviewWritten) -> Result<(), ApplyError> {
    let review_id = Uuid::from(written.review_id);
    let live: Option<Option<Uuid>> = sqlx::query_scalar(
        "WITH before AS (
             SELECT review_id FROM contributions WHERE member_id = $1 AND place_id = $2
         ), slot AS (
             INSERT INTO contributions (member_id, place_id, review_id) VALUES ($1, $2, $3)
             ON CONFLICT (member_id, place_id) DO UPDATE SET review_id = EXCLUDED.review_id
                 WHERE contributions.review_id IS NULL
             RETURNING stars
         ), counted AS (
             INSERT INTO members AS m (member_id, review_count, rated_review_count, stars_sum)
             SELECT $1, 1, (stars IS NOT NULL)::int, coalesce(stars, 0) FROM slot
             ON CONFLICT (member_id) DO UPDATE
                 SET review_count = m.review_count + 1,
                     rated_review_count = m.rated_review_count + EXCLUDED.rated_review_count,
                     stars_sum = m.stars_sum + EXCLUDED.stars_sum
         )
         SELECT review_id FROM before",
    )
    .bind(Uuid::from(written.author_id))
    .bind(Uuid::from(written.place_id))
    .bind(review_id)
    .fetch_optional(conn)
    .await?;
    match live.flatten() {
        Some(other) if other != review_id => Err(ApplyError::poison(format!(
            "review {review_id} by member {} of place {}: their review {other} of that place \
             is still live",
            written.author_id, written.place_id
        ))),
        // Nothing was live (now it is counted), or this very review already was.
        _ => Ok(()),
    }
}

/// Takes the review out of its author's contribution (the row goes if it has no stars either)
/// and uncounts it with the stars it had. A deletion of a review that is not live changes
/// nothing.
async fn delete(conn: &mut PgConnection, deleted: ReviewDeleted) -> Result<(), sqlx::Error> {
    // The two changes of the contribution are exclusive: at most one of them matches.
    sqlx::query(
        "WITH removed AS (
             DELETE FROM contributions
              WHERE member_id = $1 AND place_id = $2 AND review_id = $3 AND stars IS NULL
             RETURNING stars
         ), kept AS (
             UPDATE contributions SET review_id = NULL
              WHERE member_id = $1 AND place_id = $2 AND review_id = $3 AND stars IS NOT NULL
             RETURNING stars
         ), uncounted AS (
             SELECT stars FROM removed UNION ALL SELECT stars FROM kept
         )
         UPDATE members m
            SET review_count = m.review_count - 1,
                rated_review_count = m.rated_review_count - (u.stars IS NOT NULL)::int,
                stars_sum = m.stars_sum - coalesce(u.stars, 0)
           FROM uncounted u
          WHERE m.member_id = $1",
    )
    .bind(Uuid::from(deleted.author_id))
    .bind(Uuid::from(deleted.place_id))
    .bind(Uuid::from(deleted.review_id))
    .execute(conn)
    .await?;
    Ok(())
}
