//! A fresh model per test, events recorded in each source's commit order, and requests
//! through the router.

use std::collections::HashMap;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use events::members::{
    AvatarChanged, MemberDeactivated, MemberEvent, MemberRegistered, NicknameChanged,
};
use events::places::{Category, PlaceAdded, PlaceEvent, PlaceUpdated};
use events::ratings::{PlaceRated, RatingEvent, RatingRemoved};
use events::reviews::{ReviewDeleted, ReviewEdited, ReviewEvent, ReviewWritten};
use events::{Checkpoint, Event, MemberId, PhotoId, PlaceId, ReviewId};
use projection::{BatchOutcome, IncomingEvent, fixtures};
use review_feed::ReviewFeed;
use sqlx::PgPool;
use time::OffsetDateTime;
use time::macros::datetime;

/// A migrated, empty model in its own database.
pub async fn model() -> PgPool {
    projection_testkit::model::fresh(&ReviewFeed).await
}

pub async fn apply(pool: &PgPool, events: &[IncomingEvent]) -> BatchOutcome {
    projection_testkit::model::apply(pool, &ReviewFeed, events).await
}

pub async fn checksum(pool: &PgPool) -> String {
    projection_testkit::model::checksum(&ReviewFeed, pool).await
}

/// `minute` minutes into 2026: tests choose the newest-first order.
pub fn at(minute: i64) -> OffsetDateTime {
    datetime!(2026-01-01 0:00 UTC) + time::Duration::minutes(minute)
}

/// Records events as their sources would: each source's checkpoints grow in commit order.
#[derive(Debug, Default)]
pub struct Sources {
    positions: HashMap<&'static str, i64>,
}

impl Sources {
    pub fn record<E: Event>(&mut self, event: impl Into<E>) -> IncomingEvent {
        let position = self.positions.entry(E::SERVICE).or_default();
        *position += 1;
        let transaction_id = u64::try_from(*position).unwrap();
        fixtures::recorded(&event.into(), Checkpoint::new(transaction_id, *position))
    }

    pub fn register(&mut self, member_id: MemberId, nickname: &str) -> IncomingEvent {
        self.record::<MemberEvent>(MemberRegistered {
            member_id,
            nickname: nickname.to_owned(),
            registered_at: at(0),
        })
    }

    pub fn rename_member(&mut self, member_id: MemberId, nickname: &str) -> IncomingEvent {
        self.record::<MemberEvent>(NicknameChanged {
            member_id,
            nickname: nickname.to_owned(),
            changed_at: at(0),
        })
    }

    pub fn avatar(&mut self, member_id: MemberId, photo_id: PhotoId) -> IncomingEvent {
        self.record::<MemberEvent>(AvatarChanged {
            member_id,
            photo_id,
            changed_at: at(0),
        })
    }

    pub fn deactivate(&mut self, member_id: MemberId) -> IncomingEvent {
        self.record::<MemberEvent>(MemberDeactivated {
            member_id,
            deactivated_at: at(0),
        })
    }

    pub fn add_place(&mut self, place_id: PlaceId, name: &str) -> IncomingEvent {
        self.record::<PlaceEvent>(PlaceAdded {
            place_id,
            name: name.to_owned(),
            category: Category::Cafe,
            address: "1 Main Street".to_owned(),
            description: "A place".to_owned(),
            added_by: MemberId::generate(),
            added_at: at(0),
        })
    }

    /// A place update; `name: None` changes only its description.
    pub fn update_place(&mut self, place_id: PlaceId, name: Option<&str>) -> IncomingEvent {
        self.record::<PlaceEvent>(PlaceUpdated {
            place_id,
            name: name.map(str::to_owned),
            category: None,
            address: None,
            description: Some("Now with a terrace".to_owned()),
            updated_by: MemberId::generate(),
            updated_at: at(0),
        })
    }

    pub fn rate(&mut self, member_id: MemberId, place_id: PlaceId, stars: u8) -> IncomingEvent {
        self.record::<RatingEvent>(PlaceRated {
            place_id,
            member_id,
            stars,
            rated_at: at(0),
        })
    }

    pub fn unrate(&mut self, member_id: MemberId, place_id: PlaceId) -> IncomingEvent {
        self.record::<RatingEvent>(RatingRemoved {
            place_id,
            member_id,
            removed_at: at(0),
        })
    }

    pub fn write(&mut self, review: &Written) -> IncomingEvent {
        self.record::<ReviewEvent>(ReviewWritten {
            review_id: review.review_id,
            place_id: review.place_id,
            author_id: review.author_id,
            title: format!("Title of {}", review.review_id),
            body: "Lovely coffee, slow service.".to_owned(),
            photo_ids: review.photo_ids.clone(),
            written_at: review.written_at,
        })
    }

    pub fn edit(
        &mut self,
        review: &Written,
        title: &str,
        photo_ids: Vec<PhotoId>,
    ) -> IncomingEvent {
        self.record::<ReviewEvent>(ReviewEdited {
            review_id: review.review_id,
            place_id: review.place_id,
            title: title.to_owned(),
            body: "Edited body".to_owned(),
            photo_ids,
            edited_at: review.written_at + time::Duration::hours(1),
        })
    }

    pub fn delete(&mut self, review: &Written) -> IncomingEvent {
        self.record::<ReviewEvent>(ReviewDeleted {
            review_id: review.review_id,
            place_id: review.place_id,
            author_id: review.author_id,
            deleted_by: review.author_id,
            deleted_at: review.written_at + time::Duration::hours(2),
        })
    }
}

/// A review to write: who, where, when, with which photos.
#[derive(Debug, Clone)]
pub struct Written {
    pub review_id: ReviewId,
    pub place_id: PlaceId,
    pub author_id: MemberId,
    pub photo_ids: Vec<PhotoId>,
    pub written_at: OffsetDateTime,
}

impl Written {
    pub fn new(place_id: PlaceId, author_id: MemberId, minute: i64) -> Self {
        Self {
            review_id: ReviewId::generate(),
            place_id,
            author_id,
            photo_ids: Vec::new(),
            written_at: at(minute),
        }
    }
}

pub fn router(pool: &PgPool, max_wait: Duration) -> Router {
    review_feed::router(projection_testkit::http::query_context(pool, max_wait))
}

pub use projection_testkit::http::{Answer, get, get_with};

/// The review ids of a list answer's items, in order.
pub fn review_ids(answer: &Answer) -> Vec<String> {
    answer.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["review_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Follows a list's cursors from its first page: every review id, in order.
pub async fn all_pages(router: &Router, first_uri: &str) -> Vec<String> {
    let separator = if first_uri.contains('?') { '&' } else { '?' };
    let mut ids = Vec::new();
    let mut uri = first_uri.to_owned();
    loop {
        let answer = get(router, &uri).await;
        assert_eq!(answer.status, StatusCode::OK, "{uri}: {}", answer.body);
        ids.extend(review_ids(&answer));
        match answer.body["next_cursor"].as_str() {
            Some(cursor) => uri = format!("{first_uri}{separator}cursor={cursor}"),
            None => return ids,
        }
    }
}
