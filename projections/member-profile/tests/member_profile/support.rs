//! A migrated model in its own database, and events as their sources would record them.

use std::collections::HashMap;

use events::members::{
    AvatarChanged, MemberDeactivated, MemberEvent, MemberRegistered, NicknameChanged,
};
use events::ratings::{PlaceRated, RatingEvent, RatingRemoved};
use events::reviews::{ReviewDeleted, ReviewEvent, ReviewWritten};
use events::{Checkpoint, Event, MemberId, PhotoId, PlaceId, ReviewId};
use member_profile::MemberProfile;
use member_profile::profile::{self, Profile};
use projection::fixtures::recorded;
use projection::{BatchOutcome, IncomingEvent};
use sqlx::PgPool;
use time::OffsetDateTime;
use time::macros::datetime;

/// When every test member joined; microseconds, so it survives the round trip through
/// PostgreSQL unchanged.
pub const JOINED: OffsetDateTime = datetime!(2026-03-01 12:00:00 UTC);

/// A fresh database with the runner's tables and the model's.
pub async fn model() -> PgPool {
    projection_testkit::model::fresh(&MemberProfile).await
}

pub async fn apply(pool: &PgPool, events: &[IncomingEvent]) -> BatchOutcome {
    projection_testkit::model::apply(pool, &MemberProfile, events).await
}

pub async fn profile(pool: &PgPool, member_id: MemberId) -> Option<Profile> {
    profile::load(pool, member_id).await.unwrap()
}

pub async fn checksum(pool: &PgPool) -> String {
    projection_testkit::model::checksum(&MemberProfile, pool).await
}

/// Hands out checkpoints in each source's commit order, as its store would.
#[derive(Debug, Default)]
pub struct Feed {
    positions: HashMap<&'static str, i64>,
}

impl Feed {
    pub fn record<E: Event>(&mut self, event: impl Into<E>) -> IncomingEvent {
        let position = self.positions.entry(E::SERVICE).or_default();
        *position += 1;
        let checkpoint = Checkpoint::new(position.unsigned_abs(), *position);
        recorded(&event.into(), checkpoint)
    }

    pub fn member(&mut self, event: impl Into<MemberEvent>) -> IncomingEvent {
        self.record::<MemberEvent>(event)
    }

    pub fn review(&mut self, event: impl Into<ReviewEvent>) -> IncomingEvent {
        self.record::<ReviewEvent>(event)
    }

    pub fn rating(&mut self, event: impl Into<RatingEvent>) -> IncomingEvent {
        self.record::<RatingEvent>(event)
    }
}

pub fn registered(member_id: MemberId, nickname: &str) -> MemberRegistered {
    MemberRegistered {
        member_id,
        nickname: nickname.to_owned(),
        registered_at: JOINED,
    }
}

pub fn nickname_changed(member_id: MemberId, nickname: &str) -> NicknameChanged {
    NicknameChanged {
        member_id,
        nickname: nickname.to_owned(),
        changed_at: JOINED,
    }
}

pub fn avatar_changed(member_id: MemberId, photo_id: PhotoId) -> AvatarChanged {
    AvatarChanged {
        member_id,
        photo_id,
        changed_at: JOINED,
    }
}

pub fn deactivated(member_id: MemberId) -> MemberDeactivated {
    MemberDeactivated {
        member_id,
        deactivated_at: JOINED,
    }
}

pub fn written(review_id: ReviewId, author_id: MemberId) -> ReviewWritten {
    ReviewWritten {
        review_id,
        place_id: PlaceId::generate(),
        author_id,
        title: "Worth the detour".to_owned(),
        body: "Quiet, friendly, good coffee.".to_owned(),
        photo_ids: Vec::new(),
        written_at: JOINED,
    }
}

pub fn deleted(review_id: ReviewId, author_id: MemberId) -> ReviewDeleted {
    ReviewDeleted {
        review_id,
        place_id: PlaceId::generate(),
        author_id,
        deleted_by: author_id,
        deleted_at: JOINED,
    }
}

pub fn rated(member_id: MemberId, place_id: PlaceId, stars: u8) -> PlaceRated {
    PlaceRated {
        place_id,
        member_id,
        stars,
        rated_at: JOINED,
    }
}

pub fn removed(member_id: MemberId, place_id: PlaceId) -> RatingRemoved {
    RatingRemoved {
        place_id,
        member_id,
        removed_at: JOINED,
    }
}

/// The profile of a member who registered as `nickname` and did nothing else.
pub fn fresh_profile(member_id: MemberId, nickname: &str) -> Profile {
    Profile {
        member_id,
        nickname: Some(nickname.to_owned()),
        avatar_url: None,
        joined_at: JOINED,
        review_count: 0,
        rating_count: 0,
        average_stars_given: None,
        deactivated: false,
    }
}
