//! A random but plausible history: what the four command services could have recorded.
//!
//! It follows the services' rules, so a model never has to apply what cannot happen: one
//! review per member per place, no reviews or ratings for closed places, nothing from a
//! deactivated member, edits and deletions only of live reviews.

use std::collections::HashMap;
use std::hash::Hash;

use events::members::{
    AvatarChanged, MemberDeactivated, MemberEvent, MemberRegistered, NicknameChanged,
};
use events::places::{Category, PlaceAdded, PlaceClosed, PlaceEvent, PlaceUpdated};
use events::ratings::{PlaceRated, RatingEvent, RatingRemoved};
use events::reviews::{ReviewDeleted, ReviewEdited, ReviewEvent, ReviewWritten};
use events::{Event, MemberId, PhotoId, PlaceId, ReviewId};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use time::OffsetDateTime;
use uuid::Uuid;

/// An event of any of the four services.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyEvent {
    Member(MemberEvent),
    Place(PlaceEvent),
    Review(ReviewEvent),
    Rating(RatingEvent),
}

impl AnyEvent {
    pub fn source(&self) -> &'static str {
        match self {
            Self::Member(_) => MemberEvent::SERVICE,
            Self::Place(_) => PlaceEvent::SERVICE,
            Self::Review(_) => ReviewEvent::SERVICE,
            Self::Rating(_) => RatingEvent::SERVICE,
        }
    }

    pub fn stream_id(&self) -> String {
        match self {
            Self::Member(event) => event.stream_id(),
            Self::Place(event) => event.stream_id(),
            Self::Review(event) => event.stream_id(),
            Self::Rating(event) => event.stream_id(),
        }
    }

    pub fn wire_name(&self) -> &'static str {
        match self {
            Self::Member(event) => event.wire_name(),
            Self::Place(event) => event.wire_name(),
            Self::Review(event) => event.wire_name(),
            Self::Rating(event) => event.wire_name(),
        }
    }

    pub fn to_new_event(&self) -> event_store::NewEvent {
        match self {
            Self::Member(event) => event_store::NewEvent::from_contract(event),
            Self::Place(event) => event_store::NewEvent::from_contract(event),
            Self::Review(event) => event_store::NewEvent::from_contract(event),
            Self::Rating(event) => event_store::NewEvent::from_contract(event),
        }
        .expect("contract events serialise")
    }
}

/// A history, in the order the services recorded it.
#[derive(Debug, Clone, Default)]
pub struct Workload {
    pub events: Vec<AnyEvent>,
}

/// A set that picks a random member in constant time, so generating a million events stays
/// linear.
struct Pool<T> {
    items: Vec<T>,
    index: HashMap<T, usize>,
}

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<T: Copy + Eq + Hash> Pool<T> {
    fn insert(&mut self, item: T) {
        if !self.index.contains_key(&item) {
            self.index.insert(item, self.items.len());
            self.items.push(item);
        }
    }

    fn remove(&mut self, item: &T) {
        if let Some(position) = self.index.remove(item) {
            self.items.swap_remove(position);
            if let Some(moved) = self.items.get(position) {
                self.index.insert(*moved, position);
            }
        }
    }

    fn contains(&self, item: &T) -> bool {
        self.index.contains_key(item)
    }

    fn choose(&self, rng: &mut StdRng) -> Option<T> {
        self.items.choose(rng).copied()
    }

    fn len(&self) -> usize {
        self.items.len()
    }
}

#[derive(Default)]
struct World {
    members: usize,
    places: usize,
    active: Pool<MemberId>,
    deactivated: Pool<MemberId>,
    open: Pool<PlaceId>,
    closed: Pool<PlaceId>,
    /// Live reviews, and where each one is.
    reviews: Pool<ReviewId>,
    review_of: HashMap<ReviewId, (PlaceId, MemberId)>,
    reviewed: Pool<(MemberId, PlaceId)>,
    rated: Pool<(MemberId, PlaceId)>,
}

impl Workload {
    /// About `size` events from `seed`: the same seed gives the same history.
    pub fn generate(seed: u64, size: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut world = World::default();
        let mut events = Vec::with_capacity(size);
        let now = OffsetDateTime::now_utc();
        let id = |rng: &mut StdRng| Uuid::from_u128(rng.random());
        while events.len() < size {
            let roll = rng.random_range(0..100);
            let member = world.active.choose(&mut rng);
            let place = world.open.choose(&mut rng);
            let event = match (roll, member, place) {
                (0..8, _, _) | (_, None, _) => {
                    let member_id = MemberId::from(id(&mut rng));
                    world.members += 1;
                    world.active.insert(member_id);
                    AnyEvent::Member(
                        MemberRegistered {
                            member_id,
                            nickname: format!("member {}", world.members),
                            registered_at: now,
                        }
                        .into(),
                    )
                }
                (8..14, Some(member), _) | (_, Some(member), None) => {
                    let place_id = PlaceId::from(id(&mut rng));
                    world.places += 1;
                    world.open.insert(place_id);
                    AnyEvent::Place(
                        PlaceAdded {
                            place_id,
                            name: format!("Place {}", world.places),
                            category: *[
                                Category::Cafe,
                                Category::Museum,
                                Category::Park,
                                Category::Bar,
                            ]
                            .choose(&mut rng)
                            .expect("a category"),
                            address: format!("{} Main Street", world.places),
                            description: "Worth a visit for the view and the coffee.".to_owned(),
                            added_by: member,
                            added_at: now,
                        }
                        .into(),
                    )
                }
                (14..40, Some(member), Some(place))
                    if !world.reviewed.contains(&(member, place)) =>
                {
                    let review_id = ReviewId::from(id(&mut rng));
                    world.reviews.insert(review_id);
                    world.review_of.insert(review_id, (place, member));
                    world.reviewed.insert((member, place));
                    AnyEvent::Review(
                        ReviewWritten {
                            review_id,
                            place_id: place,
                            author_id: member,
                            title: format!("Visit {}", events.len()),
                            body: "Friendly staff and a quiet corner by the window.".to_owned(),
                            photo_ids: photos(&mut rng),
                            written_at: now,
                        }
                        .into(),
                    )
                }
                (40..62, Some(member), Some(place)) => {
                    world.rated.insert((member, place));
                    AnyEvent::Rating(
                        PlaceRated {
                            place_id: place,
                            member_id: member,
                            stars: rng.random_range(1..=5),
                            rated_at: now,
                        }
                        .into(),
                    )
                }
                (62..70, _, _) if world.reviews.len() > 0 => {
                    let review_id = world.reviews.choose(&mut rng).expect("a review");
                    let (place_id, author) = world.review_of[&review_id];
                    if world.deactivated.contains(&author) || world.closed.contains(&place_id) {
                        continue;
                    }
                    AnyEvent::Review(
                        ReviewEdited {
                            review_id,
                            place_id,
                            title: format!("Revisited {}", events.len()),
                            body: "Still good, a little busier now.".to_owned(),
                            photo_ids: photos(&mut rng),
                            edited_at: now,
                        }
                        .into(),
                    )
                }
                (70..75, _, _) if world.reviews.len() > 0 => {
                    let review_id = world.reviews.choose(&mut rng).expect("a review");
                    let (place_id, author_id) = world.review_of[&review_id];
                    if world.deactivated.contains(&author_id) {
                        continue;
                    }
                    world.reviews.remove(&review_id);
                    world.reviewed.remove(&(author_id, place_id));
                    AnyEvent::Review(
                        ReviewDeleted {
                            review_id,
                            place_id,
                            author_id,
                            deleted_by: author_id,
                            deleted_at: now,
                        }
                        .into(),
                    )
                }
                (75..80, _, _) if world.rated.len() > 0 => {
                    let (member_id, place_id) = world.rated.choose(&mut rng).expect("a rating");
                    if world.deactivated.contains(&member_id) || world.closed.contains(&place_id) {
                        continue;
                    }
                    world.rated.remove(&(member_id, place_id));
                    AnyEvent::Rating(
                        RatingRemoved {
                            place_id,
                            member_id,
                            removed_at: now,
                        }
                        .into(),
                    )
                }
                (80..88, Some(member), _) => AnyEvent::Member(
                    NicknameChanged {
                        member_id: member,
                        nickname: format!("renamed {}", events.len()),
                        changed_at: now,
                    }
                    .into(),
                ),
                (88..92, Some(member), _) => AnyEvent::Member(
                    AvatarChanged {
                        member_id: member,
                        photo_id: PhotoId::from(id(&mut rng)),
                        changed_at: now,
                    }
                    .into(),
                ),
                (92..96, _, Some(place)) => AnyEvent::Place(
                    PlaceUpdated {
                        place_id: place,
                        name: Some(format!("Renamed place {}", events.len())),
                        category: None,
                        address: None,
                        description: None,
                        updated_by: member.unwrap_or_else(|| MemberId::from(id(&mut rng))),
                        updated_at: now,
                    }
                    .into(),
                ),
                (96..98, _, Some(place)) => {
                    world.open.remove(&place);
                    world.closed.insert(place);
                    AnyEvent::Place(
                        PlaceClosed {
                            place_id: place,
                            closed_by: member.unwrap_or_else(|| MemberId::from(id(&mut rng))),
                            closed_at: now,
                        }
                        .into(),
                    )
                }
                (98.., Some(member), _) => {
                    world.active.remove(&member);
                    world.deactivated.insert(member);
                    AnyEvent::Member(
                        MemberDeactivated {
                            member_id: member,
                            deactivated_at: now,
                        }
                        .into(),
                    )
                }
                _ => continue,
            };
            events.push(event);
        }
        Self { events }
    }
}

fn photos(rng: &mut StdRng) -> Vec<PhotoId> {
    (0..rng.random_range(0..3))
        .map(|_| PhotoId::from(Uuid::from_u128(rng.random())))
        .collect()
}
