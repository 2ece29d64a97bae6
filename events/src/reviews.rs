//! The reviews service: members' written reviews of places, with photos.

mod commands;
mod events;

pub use commands::{DeleteReview, EditReview, ReviewCommand, WriteReview};
pub use events::{ReviewDeleted, ReviewEdited, ReviewEvent, ReviewWritten};

use crate::ReviewId;

pub const SERVICE: &str = "reviews";

/// The stream of one review's events.
pub fn stream_id(review_id: ReviewId) -> String {
    format!("review-{review_id}")
}
