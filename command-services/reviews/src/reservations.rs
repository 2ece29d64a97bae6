//! One review per member per place. A review is a stream of its own, so no aggregate can see
//! the member's other reviews; a reservation row per (author, place), written in the
//! transaction that appends `ReviewWritten` and removed in the one that appends
//! `ReviewDeleted`, makes a second review collide, even one decided at the same moment.

use command_handler::PrivateWrite;
use events::reviews::{ReviewDeleted, ReviewEvent, ReviewWritten};
use events::{ErrorCode, Rejection};
use sqlx::PgConnection;
use uuid::Uuid;

/// Runs the service's migrations: the reservation table.
pub(crate) async fn migrate(pool: &sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    let mut migrator = sqlx::migrate!("./migrations");
    // The event store and the local copies keep their own migrations in the same database.
    migrator.set_ignore_missing(true);
    migrator.run(pool).await
}

/// The reservation rows that go with a command's events.
#[derive(Debug)]
pub(crate) struct Reservations;

impl PrivateWrite<ReviewEvent> for Reservations {
    async fn write(
        &self,
        conn: &mut PgConnection,
        events: &[ReviewEvent],
    ) -> Result<Result<(), Rejection>, sqlx::Error> {
        for event in events {
            match event {
                ReviewEvent::ReviewWritten(written) => {
                    if let Err(rejection) = reserve(conn, written).await? {
                        return Ok(Err(rejection));
                    }
                }
                ReviewEvent::ReviewDeleted(deleted) => release(conn, deleted).await?,
                ReviewEvent::ReviewEdited(_) => {}
            }
        }
        Ok(Ok(()))
    }
}

/// A concurrent writer of the same (author, place) holds the row until it commits or rolls
/// back, so of two reviews decided together exactly one gets it.
async fn reserve(
    conn: &mut PgConnection,
    written: &ReviewWritten,
) -> Result<Result<(), Rejection>, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO review_reservations (author_id, place_id, review_id) VALUES ($1, $2, $3)",
    )
    .bind(Uuid::from(written.author_id))
    .bind(Uuid::from(written.place_id))
    .bind(Uuid::from(written.review_id))
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => Ok(Ok(())),
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => Ok(Err(
            Rejection::new(ErrorCode::Conflict, "you have already reviewed this place"),
        )),
        Err(error) => Err(error),
    }
}

/// After a deletion the member may review the place again.
async fn release(conn: &mut PgConnection, deleted: &ReviewDeleted) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM review_reservations
          WHERE author_id = $1 AND place_id = $2 AND review_id = $3",
    )
    .bind(Uuid::from(deleted.author_id))
    .bind(Uuid::from(deleted.place_id))
    .bind(Uuid::from(deleted.review_id))
    .execute(&mut *conn)
    .await?;
    Ok(())
}
