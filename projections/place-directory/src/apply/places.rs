//! The places themselves. Their own events come in commit order, so an update or a closure
//! always finds the place added before it.

use events::places::{PlaceAdded, PlaceClosed, PlaceEvent, PlaceUpdated};
use projection::ApplyError;
use sqlx::PgConnection;
use uuid::Uuid;

pub(super) async fn apply(conn: &mut PgConnection, event: PlaceEvent) -> Result<(), ApplyError> {
    match event {
        PlaceEvent::PlaceAdded(added) => add(conn, added).await?,
        PlaceEvent::PlaceUpdated(updated) => update(conn, updated).await?,
        PlaceEvent::PlaceClosed(closed) => close(conn, closed).await?,
    }
    Ok(())
}

async fn add(conn: &mut PgConnection, added: PlaceAdded) -> Result<(), sqlx::Error> {
    // The stats row may already exist when ratings or reviews came first.
    sqlx::query(
        "WITH stats AS (
             INSERT INTO place_stats (place_id) VALUES ($1) ON CONFLICT (place_id) DO NOTHING
         )
         INSERT INTO places (place_id, name, category, address, description, added_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (place_id) DO NOTHING",
    )
    .bind(Uuid::from(added.place_id))
    .bind(added.name)
    .bind(added.category.as_str())
    .bind(added.address)
    .bind(added.description)
    .bind(added.added_at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn update(conn: &mut PgConnection, updated: PlaceUpdated) -> Result<(), sqlx::Error> {
    // An absent field keeps its value.
    sqlx::query(
        "UPDATE places
            SET name = coalesce($2, name), category = coalesce($3, category),
                address = coalesce($4, address), description = coalesce($5, description)
          WHERE place_id = $1",
    )
    .bind(Uuid::from(updated.place_id))
    .bind(updated.name)
    .bind(updated.category.map(|category| category.as_str()))
    .bind(updated.address)
    .bind(updated.description)
    .execute(conn)
    .await?;
    Ok(())
}

async fn close(conn: &mut PgConnection, closed: PlaceClosed) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE places SET closed = true WHERE place_id = $1")
        .bind(Uuid::from(closed.place_id))
        .execute(conn)
        .await?;
    Ok(())
}
