//! Given past events, when a command arrives, then these events or this rejection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use events::ratings::{
    PlaceRated, RatePlace, RatingCommand, RatingEvent, RatingRemoved, RemoveRating,
};
use events::{Actor, ErrorCode, MemberId, PlaceId, Rejection, Role};
use time::OffsetDateTime;
use time::macros::datetime;

use super::{Context, PlaceStatus, Rating, Stars, decide};

const NOW: OffsetDateTime = datetime!(2025-06-01 12:00:00 UTC);
const EARLIER: OffsetDateTime = datetime!(2025-05-01 08:30:00 UTC);

type Decision = Result<Vec<RatingEvent>, Rejection>;

// ---- fixtures ----

/// One member and one place: the pair a rating stream belongs to.
struct Rater {
    member: MemberId,
    place_id: PlaceId,
}

impl Rater {
    fn generate() -> Self {
        Self {
            member: MemberId::generate(),
            place_id: PlaceId::generate(),
        }
    }

    fn rated(&self, stars: u8, at: OffsetDateTime) -> RatingEvent {
        PlaceRated {
            place_id: self.place_id,
            member_id: self.member,
            stars,
            rated_at: at,
        }
        .into()
    }

    fn removed(&self, at: OffsetDateTime) -> RatingEvent {
        RatingRemoved {
            place_id: self.place_id,
            member_id: self.member,
            removed_at: at,
        }
        .into()
    }

    /// The member, signed in and active, acting on a place with the given status.
    fn context(&self, place: PlaceStatus) -> Context {
        Context {
            actor: Actor::member(self.member, vec![Role::Member]),
            now: NOW,
            place,
            actor_active: true,
        }
    }

    fn rate(&self, stars: u8) -> RatingCommand {
        RatePlace {
            place_id: self.place_id,
            stars,
        }
        .into()
    }

    fn remove(&self) -> RatingCommand {
        RemoveRating {
            place_id: self.place_id,
        }
        .into()
    }
}

fn given(events: &[RatingEvent]) -> Rating {
    events.iter().fold(Rating::default(), Rating::evolve)
}

fn when(state: &Rating, command: RatingCommand, context: &Context) -> Decision {
    decide(state, &command, context)
}

fn rejected(result: Decision, code: ErrorCode) -> Rejection {
    let rejection = result.expect_err("the command must be rejected");
    assert_eq!(rejection.code, code, "{rejection:?}");
    rejection
}

fn invalid_fields(result: Decision) -> Vec<String> {
    let rejection = rejected(result, ErrorCode::Validation);
    rejection
        .errors
        .into_iter()
        .map(|error| error.field)
        .collect()
}

// ---- RatePlace ----

#[test]
fn a_member_rates_an_open_place_as_themselves() {
    let rater = Rater::generate();
    let open = rater.context(PlaceStatus::Open);
    assert_eq!(
        when(&given(&[]), rater.rate(4), &open),
        Ok(vec![rater.rated(4, NOW)])
    );
}

#[test]
fn stars_run_from_1_to_5() {
    let rater = Rater::generate();
    let open = rater.context(PlaceStatus::Open);
    for stars in [1, 5] {
        let result = when(&given(&[]), rater.rate(stars), &open);
        assert_eq!(result, Ok(vec![rater.rated(stars, NOW)]));
    }
    for stars in [0, 6, u8::MAX] {
        let result = when(&given(&[]), rater.rate(stars), &open);
        assert_eq!(invalid_fields(result), ["stars"], "{stars} stars");
    }
}

#[test]
fn rating_again_records_the_new_stars_also_after_a_removal() {
    let rater = Rater::generate();
    let open = rater.context(PlaceStatus::Open);
    let histories = [
        vec![rater.rated(2, EARLIER)],
        vec![rater.rated(3, EARLIER), rater.removed(EARLIER)],
    ];
    for history in histories {
        let result = when(&given(&history), rater.rate(3), &open);
        assert_eq!(result, Ok(vec![rater.rated(3, NOW)]), "{history:?}");
    }
}

#[test]
fn rating_again_with_the_same_stars_appends_nothing() {
    let rater = Rater::generate();
    let open = rater.context(PlaceStatus::Open);
    assert_eq!(
        when(
            &given(&[rater.rated(1, EARLIER), rater.rated(3, EARLIER)]),
            rater.rate(3),
            &open
        ),
        Ok(vec![])
    );
}

#[test]
fn rating_an_unknown_place_is_not_found_before_stars_are_checked() {
    let rater = Rater::generate();
    let unknown = rater.context(PlaceStatus::Unknown);
    for stars in [3, 0] {
        let rejection = rejected(
            when(&given(&[]), rater.rate(stars), &unknown),
            ErrorCode::NotFound,
        );
        assert_eq!(rejection.message, "no such place");
    }
}

#[test]
fn a_closed_place_is_a_broken_place_id_even_for_the_same_stars() {
    let rater = Rater::generate();
    let closed = rater.context(PlaceStatus::Closed);
    for state in [given(&[]), given(&[rater.rated(4, EARLIER)])] {
        let rejection = rejected(when(&state, rater.rate(4), &closed), ErrorCode::Validation);
        assert_eq!(rejection.errors.len(), 1);
        assert_eq!(rejection.errors[0].field, "place_id");
        assert_eq!(rejection.errors[0].message, "the place is closed");
    }
}

#[test]
fn a_closed_place_and_bad_stars_are_reported_together() {
    let rater = Rater::generate();
    let result = when(
        &given(&[]),
        rater.rate(0),
        &rater.context(PlaceStatus::Closed),
    );
    assert_eq!(invalid_fields(result), ["stars", "place_id"]);
}

// ---- RemoveRating ----

#[test]
fn a_member_removes_their_rating_whatever_the_place_status() {
    let rater = Rater::generate();
    let state = given(&[rater.rated(4, EARLIER)]);
    // A member can always take back their own rating, even of a closed or unknown place.
    for place in [PlaceStatus::Open, PlaceStatus::Closed, PlaceStatus::Unknown] {
        let result = when(&state, rater.remove(), &rater.context(place));
        assert_eq!(result, Ok(vec![rater.removed(NOW)]), "{place:?}");
    }
}

#[test]
fn removing_without_a_rating_is_not_found() {
    let rater = Rater::generate();
    let open = rater.context(PlaceStatus::Open);
    for state in [
        given(&[]),
        given(&[rater.rated(2, EARLIER), rater.removed(EARLIER)]),
    ] {
        rejected(when(&state, rater.remove(), &open), ErrorCode::NotFound);
    }
}

// ---- who may act at all ----

#[test]
fn an_anonymous_actor_is_unauthenticated() {
    let rater = Rater::generate();
    let state = given(&[rater.rated(4, EARLIER)]);
    // The runtime cannot know an anonymous actor's status; unauthenticated wins.
    for actor_active in [true, false] {
        let context = Context {
            actor: Actor::anonymous(),
            actor_active,
            ..rater.context(PlaceStatus::Open)
        };
        for command in [rater.rate(3), rater.remove()] {
            rejected(when(&state, command, &context), ErrorCode::Unauthenticated);
        }
    }
}

#[test]
fn a_deactivated_member_is_forbidden_before_anything_else() {
    let rater = Rater::generate();
    let state = given(&[rater.rated(4, EARLIER)]);
    for place in [PlaceStatus::Open, PlaceStatus::Closed, PlaceStatus::Unknown] {
        let context = Context {
            actor_active: false,
            ..rater.context(place)
        };
        for command in [rater.rate(2), rater.rate(0), rater.remove()] {
            rejected(when(&state, command, &context), ErrorCode::Forbidden);
        }
    }
}

// ---- Stars and evolve ----

#[test]
fn stars_parse_only_1_to_5() {
    assert_eq!(Stars::parse(1).map(Stars::get), Ok(1));
    assert_eq!(Stars::parse(5).map(Stars::get), Ok(5));
    assert_eq!(
        Stars::parse(0),
        Err("must be a whole number from 1 to 5".to_owned())
    );
    assert!(Stars::parse(6).is_err());
}

#[test]
fn the_state_follows_the_stream() {
    let rater = Rater::generate();
    assert_eq!(given(&[]).stars(), None);
    assert_eq!(given(&[rater.rated(2, EARLIER)]).stars(), Some(2));
    assert_eq!(
        given(&[rater.rated(2, EARLIER), rater.rated(5, EARLIER)]).stars(),
        Some(5)
    );
    assert_eq!(
        given(&[rater.rated(2, EARLIER), rater.removed(EARLIER)]).stars(),
        None
    );
    assert_eq!(
        given(&[
            rater.rated(2, EARLIER),
            rater.removed(EARLIER),
            rater.rated(1, EARLIER)
        ])
        .stars(),
        Some(1)
    );
}
