//! `Stars`: a rating's value, 1 to 5.

use events::ratings::PlaceRated;

/// How many stars a member gives a place. Parsed from the command's integer so that a value
/// outside 1 to 5 becomes a field error rather than an undecodable command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stars(u8);

impl Stars {
    pub const MIN: u8 = *PlaceRated::STARS.start();
    pub const MAX: u8 = *PlaceRated::STARS.end();

    /// The error is the `stars` field's message for the client.
    pub fn parse(raw: u8) -> Result<Self, String> {
        if (Self::MIN..=Self::MAX).contains(&raw) {
            Ok(Self(raw))
        } else {
            Err(format!(
                "must be a whole number from {} to {}",
                Self::MIN,
                Self::MAX
            ))
        }
    }

    pub const fn get(self) -> u8 {
        self.0
    }

    /// Takes a value from a recorded event as it is. It was parsed when the event was decided;
    /// parsing it again on replay would let a later, stricter rule break streams that were
    /// valid when written.
    pub(super) const fn from_recorded(stars: u8) -> Self {
        Self(stars)
    }
}
