use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{SERVICE, stream_id};
use crate::event::define_events;
use crate::{MemberId, PlaceId};

define_events! {
    /// What the ratings service tells everyone else.
    pub enum RatingEvent {
        service: SERVICE,
        stream_id: |event| stream_id(event.member_id, event.place_id),
        variants: {
            PlaceRated { wire_name: "ratings.PlaceRated", schema_version: 1 },
            RatingRemoved { wire_name: "ratings.RatingRemoved", schema_version: 1 },
        }
    }
}

/// A first rating or a new one replacing the member's previous rating of the place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaceRated {
    pub place_id: PlaceId,
    pub member_id: MemberId,
    /// 1 to 5.
    pub stars: u8,
    #[serde(with = "time::serde::rfc3339")]
    pub rated_at: OffsetDateTime,
}

impl PlaceRated {
    /// The fewest and the most stars a rating gives.
    pub const STARS: std::ops::RangeInclusive<u8> = 1..=5;

    /// Whether the stars are within [`Self::STARS`]; a consumer cannot use a rating that is not.
    pub fn stars_in_range(&self) -> Result<u8, String> {
        if Self::STARS.contains(&self.stars) {
            Ok(self.stars)
        } else {
            Err(format!(
                "{} stars from member {} for place {}: ratings are {} to {}",
                self.stars,
                self.member_id,
                self.place_id,
                Self::STARS.start(),
                Self::STARS.end()
            ))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatingRemoved {
    pub place_id: PlaceId,
    pub member_id: MemberId,
    #[serde(with = "time::serde::rfc3339")]
    pub removed_at: OffsetDateTime,
}
