//! The convergence property's tools: a random workload across the three sources with the
//! profiles it must end in, and different ways of delivering it.

use std::collections::BTreeMap;

use events::{MemberId, PhotoId, PlaceId, ReviewId};
use member_profile::profile::{Profile, avatar_url};
use projection::IncomingEvent;
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{
    Feed, JOINED, apply, avatar_changed, deactivated, deleted, nickname_changed, profile, rated,
    registered, removed, written,
};

/// Indexes into [`Workload::sources`].
pub const MEMBERS: usize = 0;
pub const REVIEWS: usize = 1;
pub const RATINGS: usize = 2;

const MEMBER_COUNT: usize = 16;
/// The last members never register: their reviews and ratings wait without a profile.
const NEVER_REGISTERED: usize = 2;
const PLACE_COUNT: usize = 6;

#[derive(Debug)]
pub struct Workload {
    /// Each source's events in its commit order, indexed by [`MEMBERS`], [`REVIEWS`] and
    /// [`RATINGS`].
    pub sources: [Vec<IncomingEvent>; 3],
    /// What each member's profile must be once everything is applied.
    pub expected: Vec<(MemberId, Option<Profile>)>,
}

/// The sources' state as the workload goes, to make only events the services could emit.
#[derive(Debug, Default)]
struct Sources {
    feed: Feed,
    sources: [Vec<IncomingEvent>; 3],
    members: Vec<MemberId>,
    places: Vec<PlaceId>,
    /// Registered members by id: nickname, avatar, deactivated.
    profiles: BTreeMap<MemberId, (String, Option<PhotoId>, bool)>,
    live_reviews: Vec<(ReviewId, MemberId)>,
    ratings: BTreeMap<(MemberId, PlaceId), u8>,
}

/// An id from the seeded generator, so a seed reproduces the whole workload.
fn id<T: From<Uuid>>(rng: &mut StdRng) -> T {
    T::from(Uuid::from_u128(rng.random()))
}

impl Workload {
    /// About `events` events, spread over the three sources.
    pub fn generate(rng: &mut StdRng, events: usize) -> Self {
        let mut state = Sources {
            members: (0..MEMBER_COUNT).map(|_| id(rng)).collect(),
            places: (0..PLACE_COUNT).map(|_| id(rng)).collect(),
            ..Sources::default()
        };
        while state.sources.iter().map(Vec::len).sum::<usize>() < events {
            match rng.random_range(0..3) {
                MEMBERS => state.member_event(rng),
                REVIEWS => state.review_event(rng),
                _ => state.rating_event(rng),
            }
        }
        let expected = state
            .members
            .iter()
            .map(|&member| (member, state.expected_profile(member)))
            .collect();
        Self {
            sources: state.sources,
            expected,
        }
    }

    /// Every event of one source, then the next, in `order`.
    pub fn one_source_after_another(&self, order: [usize; 3]) -> Vec<IncomingEvent> {
        order
            .iter()
            .flat_map(|&source| self.sources[source].iter().cloned())
            .collect()
    }

    /// A random merge that keeps each source's order, with about one event in ten delivered
    /// again later, as after a crash before the ack.
    pub fn interleaved_with_redeliveries(&self, rng: &mut StdRng) -> Vec<IncomingEvent> {
        let mut next = [0; 3];
        let mut merged = Vec::new();
        loop {
            let open: Vec<usize> = (0..3)
                .filter(|&source| next[source] < self.sources[source].len())
                .collect();
            let Some(&source) = open.choose(rng) else {
                break;
            };
            merged.push(self.sources[source][next[source]].clone());
            next[source] += 1;
        }
        let originals = merged.len();
        for index in 0..originals {
            if rng.random_bool(0.1) {
                let again = merged[index].clone();
                let later = rng.random_range(index + 1..=merged.len());
                merged.insert(later, again);
            }
        }
        merged
    }

    /// Asserts that every member's profile is what the workload leads to.
    pub async fn assert_profiles(&self, pool: &PgPool, context: &str) {
        for (member, expected) in &self.expected {
            assert_eq!(
                &profile(pool, *member).await,
                expected,
                "member {member} after {context}"
            );
        }
    }
}

/// Applies `events` in batches of random sizes, as the live consumer or a catch-up would.
pub async fn apply_in_batches(pool: &PgPool, events: &[IncomingEvent], rng: &mut StdRng) {
    let mut rest = events;
    while !rest.is_empty() {
        let (batch, after) = rest.split_at(rng.random_range(1..=50).min(rest.len()));
        apply(pool, batch).await;
        rest = after;
    }
}

impl Sources {
    fn member_event(&mut self, rng: &mut StdRng) {
        let unregistered = self.members[..MEMBER_COUNT - NEVER_REGISTERED]
            .iter()
            .copied()
            .find(|member| !self.profiles.contains_key(member));
        let active: Vec<MemberId> = self
            .profiles
            .iter()
            .filter(|(_, (_, _, deactivated))| !deactivated)
            .map(|(&member, _)| member)
            .collect();
        let event = match (unregistered, active.choose(rng).copied()) {
            (Some(member), None) => self.register(member, rng),
            (Some(member), Some(_)) if rng.random_bool(0.3) => self.register(member, rng),
            (_, Some(member)) => self.change(member, rng),
            (None, None) => return,
        };
        self.sources[MEMBERS].push(event);
    }

    fn register(&mut self, member: MemberId, rng: &mut StdRng) -> IncomingEvent {
        let nickname = format!("member-{}", rng.random::<u16>());
        let event = self.feed.member(registered(member, &nickname));
        self.profiles.insert(member, (nickname, None, false));
        event
    }

    fn change(&mut self, member: MemberId, rng: &mut StdRng) -> IncomingEvent {
        let (nickname, avatar, is_deactivated) = self.profiles.get_mut(&member).unwrap();
        // Rarely a deactivation: a deactivated member emits nothing more, and most members
        // should still be active at the end, so renames and avatars are checked too.
        match rng.random_range(0..40) {
            0..=19 => {
                *nickname = format!("renamed-{}", rng.random::<u16>());
                self.feed.member(nickname_changed(member, nickname))
            }
            20..=38 => {
                let photo = id(rng);
                *avatar = Some(photo);
                self.feed.member(avatar_changed(member, photo))
            }
            _ => {
                *is_deactivated = true;
                self.feed.member(deactivated(member))
            }
        }
    }

    fn review_event(&mut self, rng: &mut StdRng) {
        let event = if !self.live_reviews.is_empty() && rng.random_bool(0.3) {
            let (review, author) = self
                .live_reviews
                .swap_remove(rng.random_range(0..self.live_reviews.len()));
            self.feed.review(deleted(review, author))
        } else {
            let review = id(rng);
            let author = *self.members.choose(rng).unwrap();
            self.live_reviews.push((review, author));
            self.feed.review(written(review, author))
        };
        self.sources[REVIEWS].push(event);
    }

    fn rating_event(&mut self, rng: &mut StdRng) {
        let rated_pairs: Vec<_> = self.ratings.keys().copied().collect();
        let event = match rated_pairs.choose(rng) {
            Some(&(member, place)) if rng.random_bool(0.25) => {
                self.ratings.remove(&(member, place));
                self.feed.rating(removed(member, place))
            }
            _ => {
                let member = *self.members.choose(rng).unwrap();
                let place = *self.places.choose(rng).unwrap();
                let stars = rng.random_range(1..=5);
                self.ratings.insert((member, place), stars);
                self.feed.rating(rated(member, place, stars))
            }
        };
        self.sources[RATINGS].push(event);
    }

    fn expected_profile(&self, member: MemberId) -> Option<Profile> {
        let (nickname, avatar, deactivated) = self.profiles.get(&member)?;
        let stars: Vec<f64> = self
            .ratings
            .iter()
            .filter(|((rater, _), _)| *rater == member)
            .map(|(_, &stars)| f64::from(stars))
            .collect();
        let review_count = self
            .live_reviews
            .iter()
            .filter(|(_, author)| *author == member)
            .count();
        Some(Profile {
            member_id: member,
            nickname: (!deactivated).then(|| nickname.clone()),
            avatar_url: avatar.filter(|_| !deactivated).map(avatar_url),
            joined_at: JOINED,
            review_count: i64::try_from(review_count).unwrap(),
            rating_count: i64::try_from(stars.len()).unwrap(),
            average_stars_given: (!stars.is_empty())
                .then(|| stars.iter().sum::<f64>() / stars.len() as f64),
            deactivated: *deactivated,
        })
    }
}
