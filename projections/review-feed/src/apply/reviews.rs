//! The reviews themselves. Only live reviews are kept: a deletion removes the row.

use events::PhotoId;
use events::reviews::{ReviewDeleted, ReviewEdited, ReviewEvent, ReviewWritten};
use projection::ApplyError;
use sqlx::PgConnection;
use uuid::Uuid;

pub(super) async fn apply(conn: &mut PgConnection, event: ReviewEvent) -> Result<(), ApplyError> {
    match event {
        ReviewEvent::ReviewWritten(written) => write(conn, written).await?,
        ReviewEvent::ReviewEdited(edited) => edit(conn, edited).await?,
        ReviewEvent::ReviewDeleted(deleted) => delete(conn, deleted).await?,
    }
    Ok(())
}

/// Takes the author's stars as `stars` holds them now; any later rating event updates them.
async fn write(conn: &mut PgConnection, written: ReviewWritten) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO reviews
             (review_id, place_id, author_id, title, body, photo_ids, written_at, stars)
         VALUES ($1, $2, $3, $4, $5, $6, $7,
                 (SELECT stars FROM stars WHERE member_id = $3 AND place_id = $2))
         ON CONFLICT (review_id) DO NOTHING",
    )
    .bind(Uuid::from(written.review_id))
    .bind(Uuid::from(written.place_id))
    .bind(Uuid::from(written.author_id))
    .bind(written.title)
    .bind(written.body)
    .bind(uuids(&written.photo_ids))
    .bind(written.written_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// An edit carries the whole new content.
async fn edit(conn: &mut PgConnection, edited: ReviewEdited) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE reviews SET title = $2, body = $3, photo_ids = $4, edited_at = $5
          WHERE review_id = $1",
    )
    .bind(Uuid::from(edited.review_id))
    .bind(edited.title)
    .bind(edited.body)
    .bind(uuids(&edited.photo_ids))
    .bind(edited.edited_at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn delete(conn: &mut PgConnection, deleted: ReviewDeleted) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM reviews WHERE review_id = $1")
        .bind(Uuid::from(deleted.review_id))
        .execute(conn)
        .await?;
    Ok(())
}

fn uuids(photo_ids: &[PhotoId]) -> Vec<Uuid> {
    photo_ids.iter().copied().map(Uuid::from).collect()
}
