//! A fresh model per test, events recorded in each source's commit order, and requests
//! through the router.

use std::collections::HashMap;
use std::time::Duration;

use axum::Router;
use events::places::{Category, PlaceAdded, PlaceEvent};
use events::ratings::{PlaceRated, RatingEvent, RatingRemoved};
use events::reviews::{ReviewDeleted, ReviewEvent, ReviewWritten};
use events::{Checkpoint, Event, MemberId, PlaceId, ReviewId};
use place_directory::PlaceDirectory;
use projection::{BatchOutcome, IncomingEvent, fixtures};
use sqlx::PgPool;
use time::OffsetDateTime;
use time::macros::datetime;

/// A migrated, empty model in its own database.
pub async fn model() -> PgPool {
    projection_testkit::model::fresh(&PlaceDirectory).await
}

pub async fn apply(pool: &PgPool, events: &[IncomingEvent]) -> BatchOutcome {
    projection_testkit::model::apply(pool, &PlaceDirectory, events).await
}

pub async fn checksum(pool: &PgPool) -> String {
    projection_testkit::model::checksum(&PlaceDirectory, pool).await
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
        let at = u64::try_from(*position).unwrap();
        fixtures::recorded(&event.into(), Checkpoint::new(at, *position))
    }

    pub fn place(&mut self, added: PlaceAdded) -> IncomingEvent {
        self.record::<PlaceEvent>(added)
    }

    pub fn rate(&mut self, place_id: PlaceId, member_id: MemberId, stars: u8) -> IncomingEvent {
        self.record::<RatingEvent>(PlaceRated {
            place_id,
            member_id,
            stars,
            rated_at: OffsetDateTime::now_utc(),
        })
    }

    pub fn unrate(&mut self, place_id: PlaceId, member_id: MemberId) -> IncomingEvent {
        self.record::<RatingEvent>(RatingRemoved {
            place_id,
            member_id,
            removed_at: OffsetDateTime::now_utc(),
        })
    }

    pub fn write_review(&mut self, review_id: ReviewId, place_id: PlaceId) -> IncomingEvent {
        self.record::<ReviewEvent>(ReviewWritten {
            review_id,
            place_id,
            author_id: MemberId::generate(),
            title: "A title".to_owned(),
            body: "A body".to_owned(),
            photo_ids: Vec::new(),
            written_at: OffsetDateTime::now_utc(),
        })
    }

    pub fn delete_review(&mut self, review_id: ReviewId, place_id: PlaceId) -> IncomingEvent {
        self.record::<ReviewEvent>(ReviewDeleted {
            review_id,
            place_id,
            author_id: MemberId::generate(),
            deleted_by: MemberId::generate(),
            deleted_at: OffsetDateTime::now_utc(),
        })
    }
}

/// A new place added `minute` minutes into 2026, so tests control the newest-first order.
pub fn place(name: &str, category: Category, description: &str, minute: i64) -> PlaceAdded {
    PlaceAdded {
        place_id: PlaceId::generate(),
        name: name.to_owned(),
        category,
        address: format!("{minute} Main Street"),
        description: description.to_owned(),
        added_by: MemberId::generate(),
        added_at: datetime!(2026-01-01 0:00 UTC) + time::Duration::minutes(minute),
    }
}

pub fn router(pool: &PgPool, max_wait: Duration) -> Router {
    place_directory::router(projection_testkit::http::query_context(pool, max_wait))
}

pub use projection_testkit::http::{Answer, get, get_with};

/// The place ids of a list answer's items, in order.
pub fn ids(answer: &Answer) -> Vec<String> {
    answer.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["place_id"].as_str().unwrap().to_owned())
        .collect()
}
