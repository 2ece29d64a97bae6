//! Place names. Reviews join them at query time, so a rename is one row write.

use events::PlaceId;
use events::places::PlaceEvent;
use projection::ApplyError;
use sqlx::PgConnection;
use uuid::Uuid;

pub(super) async fn apply(conn: &mut PgConnection, event: PlaceEvent) -> Result<(), ApplyError> {
    match event {
        PlaceEvent::PlaceAdded(added) => name(conn, added.place_id, &added.name).await?,
        PlaceEvent::PlaceUpdated(updated) => {
            if let Some(new_name) = &updated.name {
                name(conn, updated.place_id, new_name).await?;
            }
        }
        // A closed place keeps its reviews and its name: nothing here changes.
        PlaceEvent::PlaceClosed(_) => {}
    }
    Ok(())
}

async fn name(conn: &mut PgConnection, place_id: PlaceId, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO places (place_id, name) VALUES ($1, $2)
         ON CONFLICT (place_id) DO UPDATE SET name = EXCLUDED.name",
    )
    .bind(Uuid::from(place_id))
    .bind(name)
    .execute(conn)
    .await?;
    Ok(())
}
