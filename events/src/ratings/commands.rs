use serde::{Deserialize, Serialize};

use super::SERVICE;
use crate::PlaceId;
use crate::command::define_commands;

define_commands! {
    /// What the ratings service can be asked to do; the rating member is always the actor.
    pub enum RatingCommand {
        service: SERVICE,
        variants: {
            RatePlace { wire_name: "ratings.RatePlace" },
            RemoveRating { wire_name: "ratings.RemoveRating" },
        }
    }
}

/// `stars` is checked (1 to 5) by the service, so that a bad value is a field error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatePlace {
    pub place_id: PlaceId,
    pub stars: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveRating {
    pub place_id: PlaceId,
}
