//! The relay's checkpoint: the (transaction id, position) pair of its last confirmed event.

use crate::error::StoreError;
use crate::store::decode_checkpoint;
use events::Checkpoint;
use sqlx::PgConnection;

pub(super) async fn load(conn: &mut PgConnection, relay: &str) -> Result<Checkpoint, StoreError> {
    let row = sqlx::query(
        "SELECT transaction_id::text AS xid_text, position FROM relay_checkpoints
         WHERE relay = $1",
    )
    .bind(relay)
    .fetch_optional(conn)
    .await?;
    row.as_ref()
        .map_or(Ok(Checkpoint::ORIGIN), decode_checkpoint)
}

pub(super) async fn save(
    conn: &mut PgConnection,
    relay: &str,
    checkpoint: Checkpoint,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO relay_checkpoints (relay, transaction_id, position)
         VALUES ($1, $2::text::xid8, $3)
         ON CONFLICT (relay) DO UPDATE
         SET transaction_id = excluded.transaction_id, position = excluded.position,
             updated_at = clock_timestamp()",
    )
    .bind(relay)
    .bind(checkpoint.transaction_id.to_string())
    .bind(checkpoint.position)
    .execute(conn)
    .await?;
    Ok(())
}
