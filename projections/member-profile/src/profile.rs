//! A member's profile as the query API shows it, read from the member row and the member's
//! own review and rating rows.
//!
//! The counts are read when the profile is asked for rather than kept as counters: each is a
//! range of one index, so a profile costs two short scans, while counters would double the
//! statements of every review and rating event and be a second truth to keep in step.

use events::{MemberId, PhotoId};
use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

/// A member's public profile.
///
/// A deactivated member shows as a "deleted member": `deactivated` is true and `nickname` and
/// `avatar_url` are null; the joined time and the counts stay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub member_id: MemberId,
    pub nickname: Option<String>,
    /// Where the gateway serves the avatar photo; null until one is set.
    pub avatar_url: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub joined_at: OffsetDateTime,
    /// Live reviews: written and not deleted.
    pub review_count: i64,
    /// Places the member currently rates.
    pub rating_count: i64,
    /// The mean of those ratings' stars; null when there are none.
    pub average_stars_given: Option<f64>,
    pub deactivated: bool,
}

#[derive(sqlx::FromRow)]
struct Row {
    nickname: String,
    avatar: Option<Uuid>,
    joined_at: OffsetDateTime,
    deactivated: bool,
    review_count: i64,
    rating_count: i64,
    average_stars: Option<f64>,
}

/// The member's profile, or `None` until their registration has arrived.
pub async fn load(pool: &PgPool, member_id: MemberId) -> Result<Option<Profile>, sqlx::Error> {
    // Averaged as float8: the sum of small integers is exact, so the mean is the correctly
    // rounded quotient, not a decimal cut at 16 places and rounded again.
    let row: Option<Row> = sqlx::query_as(
        "SELECT m.nickname, m.avatar, m.joined_at, m.deactivated,
                (SELECT count(*) FROM reviews WHERE author_id = m.member_id) AS review_count,
                given.rating_count, given.average_stars
           FROM members m
          CROSS JOIN LATERAL (
                SELECT count(*) AS rating_count, avg(stars::float8) AS average_stars
                  FROM ratings WHERE member_id = m.member_id
                ) given
          WHERE m.member_id = $1",
    )
    .bind(Uuid::from(member_id))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| Profile::shown(member_id, row)))
}

impl Profile {
    fn shown(member_id: MemberId, row: Row) -> Self {
        let visible = !row.deactivated;
        Self {
            member_id,
            nickname: visible.then_some(row.nickname),
            avatar_url: row
                .avatar
                .filter(|_| visible)
                .map(|photo| avatar_url(PhotoId::from(photo))),
            joined_at: row.joined_at,
            review_count: row.review_count,
            rating_count: row.rating_count,
            average_stars_given: row.average_stars,
            deactivated: row.deactivated,
        }
    }
}

/// The gateway's public path of a photo.
pub fn avatar_url(photo_id: PhotoId) -> String {
    format!("/api/v1/photos/{photo_id}")
}
