//! A random but plausible history: what the four command services could have recorded.
//!
//! It follows the services' rules, so a model never has to apply what cannot happen: one
//! review per member per place, no reviews or ratings for closed places, nothing from a
//! deactivated member, edits and deletions only of live reviews.

use std::collections::{BTreeMap, BTreeSet};

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

#[derive(Default)]
struct World {
    members: Vec<MemberId>,
    deactivated: BTreeSet<MemberId>,
    places: Vec<PlaceId>,
    closed: BTreeSet<PlaceId>,
    /// Live reviews: id → (place, author).
    reviews: BTreeMap<ReviewId, (PlaceId, MemberId)>,
    reviewed: BTreeSet<(MemberId, PlaceId)>,
    rated: BTreeSet<(MemberId, PlaceId)>,
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
            let active: Vec<MemberId> = world
                .members
                .iter()
                .copied()
                .filter(|member| !world.deactivated.contains(member))
                .collect();
            let open: Vec<PlaceId> = world
                .places
                .iter()
                .copied()
                .filter(|place| !world.closed.contains(place))
                .collect();
            let member = active.choose(&mut rng).copied();
            let place = open.choose(&mut rng).copied();
            let event = match (roll, member, place) {
                (0..8, _, _) | (_, None, _) => {
                    let member_id = MemberId::from(id(&mut rng));
                    world.members.push(member_id);
                    AnyEvent::Member(
                        MemberRegistered {
                            member_id,
                            nickname: format!("member {}", world.members.len()),
                            registered_at: now,
                        }
                        .into(),
                    )
                }
                (8..14, Some(member), _) | (_, Some(member), None) => {
                    let place_id = PlaceId::from(id(&mut rng));
                    world.places.push(place_id);
                    AnyEvent::Place(
                        PlaceAdded {
                            place_id,
                            name: format!("Place {}", world.places.len()),
                            category: *[
                                Category::Cafe,
                                Category::Museum,
                                Category::Park,
                                Category::Bar,
                            ]
                            .choose(&mut rng)
                            .expect("a category"),
                            address: format!("{} Main Street", world.places.len()),
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
                    world.reviews.insert(review_id, (place, member));
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
                (62..70, _, _) if !world.reviews.is_empty() => {
                    let (&review_id, &(place_id, author)) = pick(&mut rng, &world.reviews);
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
                (70..75, _, _) if !world.reviews.is_empty() => {
                    let (&review_id, &(place_id, author_id)) = pick(&mut rng, &world.reviews);
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
                (75..80, _, _) if !world.rated.is_empty() => {
                    let &(member_id, place_id) = world
                        .rated
                        .iter()
                        .nth(rng.random_range(0..world.rated.len()))
                        .expect("a rating");
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

fn pick<'a, K, V>(rng: &mut StdRng, map: &'a BTreeMap<K, V>) -> (&'a K, &'a V) {
    map.iter()
        .nth(rng.random_range(0..map.len()))
        .expect("a non-empty map")
}
