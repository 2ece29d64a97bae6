//! `Rating`: the fold of one member's rating of one place.

use events::ratings::RatingEvent;

use super::stars::Stars;

/// One member's current rating of one place. The default is no rating: the state of an empty
/// stream, and also of one whose last event removed the rating.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rating {
    stars: Option<Stars>,
}

impl Rating {
    /// Applies one recorded event. Never fails and never validates: the event already
    /// happened. A new `PlaceRated` replaces the previous stars.
    pub fn evolve(self, event: &RatingEvent) -> Self {
        match event {
            RatingEvent::PlaceRated(rated) => Self {
                stars: Some(Stars::from_recorded(rated.stars)),
            },
            RatingEvent::RatingRemoved(_) => Self { stars: None },
        }
    }

    /// The current stars; `None` when the member has no rating of the place.
    pub fn stars(&self) -> Option<u8> {
        self.stars.map(Stars::get)
    }
}
