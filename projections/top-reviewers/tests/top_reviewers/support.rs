//! A migrated model in its own database, events as their sources would record them, and the
//! ranking as the API reads it.

use std::collections::HashMap;

use events::members::{MemberDeactivated, MemberEvent, MemberRegistered, NicknameChanged};
use events::ratings::{PlaceRated, RatingEvent, RatingRemoved};
use events::reviews::{ReviewDeleted, ReviewEvent, ReviewWritten};
use events::{Checkpoint, Event, MemberId, PlaceId, ReviewId};
use projection::fixtures::recorded;
use projection::{BatchOutcome, IncomingEvent};
use sqlx::PgPool;
use time::OffsetDateTime;
use time::macros::datetime;
use top_reviewers::TopReviewers;
use top_reviewers::ranking::{self, Limit, Reviewer};

/// When everything in these tests happened: the ranking shows no times.
const AT: OffsetDateTime = datetime!(2026-03-01 12:00:00 UTC);

/// A fresh database with the runner's tables and the model's.
pub async fn model() -> PgPool {
    projection_testkit::model::fresh(&TopReviewers).await
}

pub async fn apply(pool: &PgPool, events: &[IncomingEvent]) -> BatchOutcome {
    projection_testkit::model::apply(pool, &TopReviewers, events).await
}

pub async fn checksum(pool: &PgPool) -> String {
    projection_testkit::model::checksum(&TopReviewers, pool).await
}

/// The whole ranking, as far as the API shows it.
pub async fn ranking(pool: &PgPool) -> Vec<Reviewer> {
    let limit = Limit::parse(Some(&Limit::MAX.to_string())).unwrap();
    ranking::top(pool, limit).await.unwrap().items
}

/// The ranking as `(member, review count, average stars)`, the part most tests check.
pub async fn standings(pool: &PgPool) -> Vec<(MemberId, i64, Option<f64>)> {
    ranking(pool)
        .await
        .into_iter()
        .map(|reviewer| {
            (
                reviewer.member_id,
                reviewer.review_count,
                reviewer.average_stars,
            )
        })
        .collect()
}

/// Hands out checkpoints in each source's commit order, as its store would.
#[derive(Debug, Default)]
pub struct Feed {
    positions: HashMap<&'static str, i64>,
}

impl Feed {
    pub fn record<E: Event>(&mut self, event: &E) -> IncomingEvent {
        let position = self.positions.entry(E::SERVICE).or_default();
        *position += 1;
        recorded(event, Checkpoint::new(position.unsigned_abs(), *position))
    }

    pub fn member(&mut self, event: impl Into<MemberEvent>) -> IncomingEvent {
        self.record(&event.into())
    }

    pub fn review(&mut self, event: impl Into<ReviewEvent>) -> IncomingEvent {
        self.record(&event.into())
    }

    pub fn rating(&mut self, event: impl Into<RatingEvent>) -> IncomingEvent {
        self.record(&event.into())
    }
}

pub fn registered(member_id: MemberId, nickname: &str) -> MemberRegistered {
    MemberRegistered {
        member_id,
        nickname: nickname.to_owned(),
        registered_at: AT,
    }
}

pub fn nickname_changed(member_id: MemberId, nickname: &str) -> NicknameChanged {
    NicknameChanged {
        member_id,
        nickname: nickname.to_owned(),
        changed_at: AT,
    }
}

pub fn deactivated(member_id: MemberId) -> MemberDeactivated {
    MemberDeactivated {
        member_id,
        deactivated_at: AT,
    }
}

/// A review by `author_id` of `place_id`.
pub fn written(review_id: ReviewId, author_id: MemberId, place_id: PlaceId) -> ReviewWritten {
    ReviewWritten {
        review_id,
        place_id,
        author_id,
        title: "Worth the detour".to_owned(),
        body: "Quiet, friendly, good coffee.".to_owned(),
        photo_ids: Vec::new(),
        written_at: AT,
    }
}

/// The deletion of `review` by its author.
pub fn deleted(review: &ReviewWritten) -> ReviewDeleted {
    ReviewDeleted {
        review_id: review.review_id,
        place_id: review.place_id,
        author_id: review.author_id,
        deleted_by: review.author_id,
        deleted_at: AT,
    }
}

pub fn rated(member_id: MemberId, place_id: PlaceId, stars: u8) -> PlaceRated {
    PlaceRated {
        place_id,
        member_id,
        stars,
        rated_at: AT,
    }
}

pub fn removed(member_id: MemberId, place_id: PlaceId) -> RatingRemoved {
    RatingRemoved {
        place_id,
        member_id,
        removed_at: AT,
    }
}

/// `count` members in ascending id order, so tests can state where ties between them go.
pub fn members_in_id_order(count: usize) -> Vec<MemberId> {
    let mut members: Vec<MemberId> = (0..count).map(|_| MemberId::generate()).collect();
    members.sort();
    members
}

/// A review by `author` of a new place, and the events that write it and rate it.
pub fn rated_review(feed: &mut Feed, author: MemberId, stars: Option<u8>) -> Vec<IncomingEvent> {
    let place = PlaceId::generate();
    let mut events = vec![feed.review(written(ReviewId::generate(), author, place))];
    events.extend(stars.map(|stars| feed.rating(rated(author, place, stars))));
    events
}
