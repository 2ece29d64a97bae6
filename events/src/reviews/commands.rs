use serde::{Deserialize, Serialize};

use super::SERVICE;
use crate::command::define_commands;
use crate::{PhotoId, PlaceId, ReviewId};

define_commands! {
    /// What the reviews service can be asked to do.
    pub enum ReviewCommand {
        service: SERVICE,
        variants: {
            WriteReview { wire_name: "reviews.WriteReview" },
            EditReview { wire_name: "reviews.EditReview" },
            DeleteReview { wire_name: "reviews.DeleteReview" },
        }
    }
}

/// The author is the actor; the service picks the review id and returns it as the stream id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteReview {
    pub place_id: PlaceId,
    pub title: String,
    pub body: String,
    /// Photos already uploaded through the gateway.
    #[serde(default)]
    pub photo_ids: Vec<PhotoId>,
}

/// Replaces title, body and photos as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditReview {
    pub review_id: ReviewId,
    pub title: String,
    pub body: String,
    #[serde(default)]
    pub photo_ids: Vec<PhotoId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteReview {
    pub review_id: ReviewId,
}
