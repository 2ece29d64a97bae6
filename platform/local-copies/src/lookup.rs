//! What command handlers read from the copy.

use events::{MemberId, PlaceId};
use sqlx::PgPool;
use uuid::Uuid;

/// A place as the copy knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownPlace {
    /// No event about it has arrived: it does not exist, or its `PlaceAdded` is on its way.
    Unknown,
    Open,
    Closed,
}

pub async fn place_status(pool: &PgPool, place_id: PlaceId) -> Result<KnownPlace, sqlx::Error> {
    let open: Option<bool> =
        sqlx::query_scalar("SELECT open FROM known_places WHERE place_id = $1")
            .bind(Uuid::from(place_id))
            .fetch_optional(pool)
            .await?;
    Ok(match open {
        None => KnownPlace::Unknown,
        Some(true) => KnownPlace::Open,
        Some(false) => KnownPlace::Closed,
    })
}

/// Whether the member may still act. A member the copy has not heard of counts as active:
/// the gateway has just verified their session, and only a deactivation must be enforced.
pub async fn member_active(pool: &PgPool, member_id: MemberId) -> Result<bool, sqlx::Error> {
    let active: Option<bool> =
        sqlx::query_scalar("SELECT active FROM known_members WHERE member_id = $1")
            .bind(Uuid::from(member_id))
            .fetch_optional(pool)
            .await?;
    Ok(active.unwrap_or(true))
}
