//! Per-source checkpoints: how far a read model has applied each source's events.

use std::collections::HashMap;

use events::{Checkpoint, ConsistencyToken};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

/// One source's checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceCheckpoint {
    pub source: String,
    pub checkpoint: Checkpoint,
    /// When the last applied event was recorded at its source.
    pub recorded_at: OffsetDateTime,
    /// When it was applied here.
    pub applied_at: OffsetDateTime,
}

/// Every source's checkpoint; a source never applied is absent.
pub async fn load(conn: &mut PgConnection) -> Result<HashMap<String, Checkpoint>, sqlx::Error> {
    let rows: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT source, transaction_id, position FROM projection_checkpoints")
            .fetch_all(conn)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(source, transaction_id, position)| {
            (
                source,
                Checkpoint::new(xid_from_db(transaction_id), position),
            )
        })
        .collect())
}

/// Every source's checkpoint with its times, sorted by source: for health and status.
pub async fn all(pool: &PgPool) -> Result<Vec<SourceCheckpoint>, sqlx::Error> {
    let rows: Vec<(String, i64, i64, OffsetDateTime, OffsetDateTime)> = sqlx::query_as(
        "SELECT source, transaction_id, position, recorded_at, applied_at
           FROM projection_checkpoints ORDER BY source",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(source, transaction_id, position, recorded_at, applied_at)| SourceCheckpoint {
                source,
                checkpoint: Checkpoint::new(xid_from_db(transaction_id), position),
                recorded_at,
                applied_at,
            },
        )
        .collect())
}

/// Moves `source`'s checkpoint forward (never back), inside the batch's transaction.
pub(crate) async fn advance(
    conn: &mut PgConnection,
    source: &str,
    checkpoint: Checkpoint,
    recorded_at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO projection_checkpoints (source, transaction_id, position, recorded_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (source) DO UPDATE
            SET transaction_id = EXCLUDED.transaction_id, position = EXCLUDED.position,
                recorded_at = EXCLUDED.recorded_at, applied_at = now()
          WHERE (projection_checkpoints.transaction_id, projection_checkpoints.position)
              < (EXCLUDED.transaction_id, EXCLUDED.position)",
    )
    .bind(source)
    .bind(xid_to_db(checkpoint.transaction_id))
    .bind(checkpoint.position)
    .bind(recorded_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether the model has applied everything up to and including `token`.
pub async fn covers(pool: &PgPool, token: &ConsistencyToken) -> Result<bool, sqlx::Error> {
    let covered: Option<bool> = sqlx::query_scalar(
        "SELECT (transaction_id, position) >= ($2, $3)
           FROM projection_checkpoints WHERE source = $1",
    )
    .bind(&token.source)
    .bind(xid_to_db(token.checkpoint.transaction_id))
    .bind(token.checkpoint.position)
    .fetch_optional(pool)
    .await?;
    Ok(covered.unwrap_or(false))
}

/// PostgreSQL transaction ids (xid8) stay far below 2^63: the epoch would have to wrap 2^31
/// times first. Stored as bigint so they compare as numbers.
pub(crate) fn xid_to_db(transaction_id: u64) -> i64 {
    i64::try_from(transaction_id).unwrap_or(i64::MAX)
}

fn xid_from_db(transaction_id: i64) -> u64 {
    u64::try_from(transaction_id).unwrap_or_default()
}
