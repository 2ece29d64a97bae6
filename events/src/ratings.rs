//! The ratings service: one star rating per member and place.

mod commands;
mod events;

pub use commands::{RatePlace, RatingCommand, RemoveRating};
pub use events::{PlaceRated, RatingEvent, RatingRemoved};

use crate::{MemberId, PlaceId};

pub const SERVICE: &str = "ratings";

/// The stream of one member's rating of one place: the aggregate is the pair, so a member
/// rating many places never contends on one stream.
pub fn stream_id(member_id: MemberId, place_id: PlaceId) -> String {
    format!("rating-{member_id}-{place_id}")
}
