//! The review aggregate: the fold of one review's events.

use events::reviews::ReviewEvent;
use events::{MemberId, PlaceId};

use super::fields::Content;

/// What the decider needs to know about one review.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Review {
    status: Status,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(super) enum Status {
    #[default]
    None,
    Live {
        authorship: Authorship,
        content: Content,
    },
    /// Final. The authorship stays known: the review was about that place, by that member.
    Deleted(Authorship),
}

/// Who wrote about which place; fixed when the review is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Authorship {
    pub(super) place_id: PlaceId,
    pub(super) author_id: MemberId,
}

impl Review {
    /// Applies what happened. It never fails: an event that cannot follow the current state
    /// (which `decide` never emits) leaves the state as it is rather than stop a replay.
    pub fn evolve(self, event: &ReviewEvent) -> Self {
        let status = match (self.status, event) {
            (Status::None, ReviewEvent::ReviewWritten(written)) => Status::Live {
                authorship: Authorship {
                    place_id: written.place_id,
                    author_id: written.author_id,
                },
                content: Content::from_recorded(&written.title, &written.body, &written.photo_ids),
            },
            (Status::Live { authorship, .. }, ReviewEvent::ReviewEdited(edited)) => Status::Live {
                authorship,
                content: Content::from_recorded(&edited.title, &edited.body, &edited.photo_ids),
            },
            (Status::Live { authorship, .. }, ReviewEvent::ReviewDeleted(_)) => {
                Status::Deleted(authorship)
            }
            (status, _) => status,
        };
        Self { status }
    }

    /// The place the review is about, also after deletion; `None` when it was never written.
    /// For `EditReview` and `DeleteReview` the runtime looks up this place's status.
    pub fn place_id(&self) -> Option<PlaceId> {
        self.authorship().map(|authorship| authorship.place_id)
    }

    /// The member who wrote the review, also after deletion; `None` when it was never written.
    pub fn author_id(&self) -> Option<MemberId> {
        self.authorship().map(|authorship| authorship.author_id)
    }

    /// Written and not deleted: the only state that can be edited or deleted.
    pub fn is_live(&self) -> bool {
        matches!(self.status, Status::Live { .. })
    }

    pub(super) fn status(&self) -> &Status {
        &self.status
    }

    fn authorship(&self) -> Option<Authorship> {
        match &self.status {
            Status::None => None,
            Status::Live { authorship, .. } | Status::Deleted(authorship) => Some(*authorship),
        }
    }
}
