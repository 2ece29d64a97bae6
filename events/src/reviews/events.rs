use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{SERVICE, stream_id};
use crate::event::define_events;
use crate::{MemberId, PhotoId, PlaceId, ReviewId};

define_events! {
    /// What the reviews service tells everyone else.
    ///
    /// Every event names the review's place (and a deletion its author) so that read models
    /// keyed by place or member need no lookup of their own.
    pub enum ReviewEvent {
        service: SERVICE,
        stream_id: |event| stream_id(event.review_id),
        variants: {
            ReviewWritten { wire_name: "reviews.ReviewWritten", schema_version: 1 },
            ReviewEdited { wire_name: "reviews.ReviewEdited", schema_version: 1 },
            ReviewDeleted { wire_name: "reviews.ReviewDeleted", schema_version: 1 },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewWritten {
    pub review_id: ReviewId,
    pub place_id: PlaceId,
    pub author_id: MemberId,
    pub title: String,
    pub body: String,
    pub photo_ids: Vec<PhotoId>,
    #[serde(with = "time::serde::rfc3339")]
    pub written_at: OffsetDateTime,
}

/// Carries the whole new content, not a diff: an edit replaces title, body and photos.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewEdited {
    pub review_id: ReviewId,
    pub place_id: PlaceId,
    pub title: String,
    pub body: String,
    pub photo_ids: Vec<PhotoId>,
    #[serde(with = "time::serde::rfc3339")]
    pub edited_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewDeleted {
    pub review_id: ReviewId,
    pub place_id: PlaceId,
    pub author_id: MemberId,
    /// The author, or an admin.
    pub deleted_by: MemberId,
    #[serde(with = "time::serde::rfc3339")]
    pub deleted_at: OffsetDateTime,
}
