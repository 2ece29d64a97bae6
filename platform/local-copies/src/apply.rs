//! One place or member event applied to the copy.

use events::members::MemberEvent;
use events::places::PlaceEvent;
use events::{Checkpoint, Event, RecordedEvent};
use serde_json::value::RawValue;
use sqlx::PgPool;
use uuid::Uuid;

/// What [`apply`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The copy now reflects the event.
    Changed,
    /// A newer event had already set the row, or this one was applied before.
    AlreadyNewer,
    /// Not an event the copy keeps (e.g. `places.PlaceUpdated`).
    Ignored,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A subscribed event type this build cannot read: retried, then dead-lettered, never
    /// skipped, since skipping could leave a closed place open.
    #[error("cannot read {event_type}: {reason}")]
    Unreadable { event_type: String, reason: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// The effect of an event on one row.
enum Change {
    Place { place_id: Uuid, open: bool },
    Member { member_id: Uuid, active: bool },
}

/// Applies one event from the bus to the copy, with the source's checkpoint, in one
/// transaction.
pub async fn apply(
    pool: &PgPool,
    event: &RecordedEvent<Box<RawValue>>,
) -> Result<Applied, ApplyError> {
    let Some(change) = change_of(event)? else {
        return Ok(Applied::Ignored);
    };
    let mut tx = pool.begin().await?;
    let changed = match change {
        Change::Place { place_id, open } => {
            upsert(&mut tx, PLACE_UPSERT, place_id, open, event.checkpoint).await?
        }
        Change::Member { member_id, active } => {
            upsert(&mut tx, MEMBER_UPSERT, member_id, active, event.checkpoint).await?
        }
    };
    sqlx::query(
        "INSERT INTO local_copy_checkpoints (source, transaction_id, position, recorded_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (source) DO UPDATE
            SET transaction_id = EXCLUDED.transaction_id, position = EXCLUDED.position,
                recorded_at = EXCLUDED.recorded_at, applied_at = now()
          WHERE (local_copy_checkpoints.transaction_id, local_copy_checkpoints.position)
              < (EXCLUDED.transaction_id, EXCLUDED.position)",
    )
    .bind(&event.source)
    .bind(transaction_id(event.checkpoint))
    .bind(event.checkpoint.position)
    .bind(event.recorded_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(if changed {
        Applied::Changed
    } else {
        Applied::AlreadyNewer
    })
}

const PLACE_UPSERT: &str = "INSERT INTO known_places (place_id, open, transaction_id, position)
     VALUES ($1, $2, $3, $4)
     ON CONFLICT (place_id) DO UPDATE
        SET open = EXCLUDED.open, transaction_id = EXCLUDED.transaction_id,
            position = EXCLUDED.position
      WHERE (known_places.transaction_id, known_places.position)
          < (EXCLUDED.transaction_id, EXCLUDED.position)";

const MEMBER_UPSERT: &str =
    "INSERT INTO known_members (member_id, active, transaction_id, position)
     VALUES ($1, $2, $3, $4)
     ON CONFLICT (member_id) DO UPDATE
        SET active = EXCLUDED.active, transaction_id = EXCLUDED.transaction_id,
            position = EXCLUDED.position
      WHERE (known_members.transaction_id, known_members.position)
          < (EXCLUDED.transaction_id, EXCLUDED.position)";

/// Writes the row unless a newer event already did; true if it wrote.
async fn upsert(
    tx: &mut sqlx::PgConnection,
    statement: &'static str,
    id: Uuid,
    flag: bool,
    checkpoint: Checkpoint,
) -> Result<bool, sqlx::Error> {
    let written = sqlx::query(statement)
        .bind(id)
        .bind(flag)
        .bind(transaction_id(checkpoint))
        .bind(checkpoint.position)
        .execute(&mut *tx)
        .await?;
    Ok(written.rows_affected() == 1)
}

/// PostgreSQL transaction ids (xid8) stay far below 2^63: the epoch would have to wrap
/// 2^31 times first.
fn transaction_id(checkpoint: Checkpoint) -> i64 {
    i64::try_from(checkpoint.transaction_id).unwrap_or(i64::MAX)
}

fn change_of(event: &RecordedEvent<Box<RawValue>>) -> Result<Option<Change>, ApplyError> {
    let unreadable = |reason: String| ApplyError::Unreadable {
        event_type: event.event_type.clone(),
        reason,
    };
    let payload = || serde_json::Deserializer::from_str(event.payload.get());
    if event.source == PlaceEvent::SERVICE {
        let decoded = PlaceEvent::decode(&event.event_type, event.schema_version, &mut payload())
            .map_err(|error| unreadable(error.to_string()))?;
        return Ok(match decoded {
            PlaceEvent::PlaceAdded(added) => Some(Change::Place {
                place_id: added.place_id.into(),
                open: true,
            }),
            PlaceEvent::PlaceClosed(closed) => Some(Change::Place {
                place_id: closed.place_id.into(),
                open: false,
            }),
            PlaceEvent::PlaceUpdated(_) => None,
        });
    }
    if event.source == MemberEvent::SERVICE {
        let decoded = MemberEvent::decode(&event.event_type, event.schema_version, &mut payload())
            .map_err(|error| unreadable(error.to_string()))?;
        return Ok(match decoded {
            MemberEvent::MemberRegistered(registered) => Some(Change::Member {
                member_id: registered.member_id.into(),
                active: true,
            }),
            MemberEvent::MemberDeactivated(deactivated) => Some(Change::Member {
                member_id: deactivated.member_id.into(),
                active: false,
            }),
            _ => None,
        });
    }
    Ok(None)
}
