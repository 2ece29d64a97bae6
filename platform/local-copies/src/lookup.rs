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

/// What a command handler needs to know before deciding, read in one round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// Whether the acting member may still act. A member the copy has not heard of counts as
    /// active: the gateway has just verified their session, and only a deactivation must be
    /// enforced. An anonymous actor counts as active too; `decide` refuses them by itself.
    pub actor_active: bool,
    /// [`KnownPlace::Unknown`] when no place was asked about.
    pub place: KnownPlace,
}

/// The actor's active flag and the place's status, in one query.
pub async fn facts(
    pool: &PgPool,
    member_id: Option<MemberId>,
    place_id: Option<PlaceId>,
) -> Result<Facts, sqlx::Error> {
    let (active, open): (Option<bool>, Option<bool>) = sqlx::query_as(
        "SELECT (SELECT active FROM known_members WHERE member_id = $1),
                (SELECT open FROM known_places WHERE place_id = $2)",
    )
    .bind(member_id.map(Uuid::from))
    .bind(place_id.map(Uuid::from))
    .fetch_one(pool)
    .await?;
    Ok(Facts {
        actor_active: active.unwrap_or(true),
        place: match open {
            None => KnownPlace::Unknown,
            Some(true) => KnownPlace::Open,
            Some(false) => KnownPlace::Closed,
        },
    })
}

pub async fn place_status(pool: &PgPool, place_id: PlaceId) -> Result<KnownPlace, sqlx::Error> {
    Ok(facts(pool, None, Some(place_id)).await?.place)
}

pub async fn member_active(pool: &PgPool, member_id: MemberId) -> Result<bool, sqlx::Error> {
    Ok(facts(pool, Some(member_id), None).await?.actor_active)
}
