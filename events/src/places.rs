//! The places service: the places that can be reviewed and rated.

mod category;
mod commands;
mod events;

pub use category::{Category, UnknownCategory};
pub use commands::{AddPlace, ClosePlace, PlaceCommand, UpdatePlace};
pub use events::{PlaceAdded, PlaceClosed, PlaceEvent, PlaceUpdated};

use crate::PlaceId;

pub const SERVICE: &str = "places";

/// The stream of one place's events.
pub fn stream_id(place_id: PlaceId) -> String {
    format!("place-{place_id}")
}
