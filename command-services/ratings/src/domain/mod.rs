//! The ratings aggregate and its decider: pure, no I/O.
//!
//! # Layout
//!
//! - [`Rating`] (`rating.rs`): the fold of one member's rating of one place, `evolve`.
//! - [`Stars`] (`stars.rs`): a rating's value.
//! - [`decide`], its [`Context`] and [`PlaceStatus`] (here): every business rule of the
//!   service.
//! - `tests.rs`: given/when/then tests, no I/O.
//!
//! The aggregate is the pair (member, place), stream [`events::ratings::stream_id`], and the
//! member is always the actor: nobody rates on behalf of someone else, so the runtime loads
//! the actor's stream for the command's place.
//!
//! `decide` checks in a fixed order so that a client learns the most important problem
//! first: who is acting (unauthenticated, deactivated), whether the place or the rating
//! exists, then the fields (every broken one at once, the place being closed among them).

mod rating;
mod stars;
#[cfg(test)]
mod tests;

pub use rating::Rating;
pub use stars::Stars;

use events::ratings::{
    PlaceRated, RatePlace, RatingCommand, RatingEvent, RatingRemoved, RemoveRating,
};
use events::{Actor, ErrorCode, MemberId, Rejection};
use time::OffsetDateTime;
use validation::Violations;

/// What the service's local copy of place events says about the place a command names:
/// the service never asks the places service while deciding.
pub use local_copies::KnownPlace as PlaceStatus;

/// What `decide` needs besides the state and the command, resolved by the runtime
/// beforehand so that deciding stays pure.
#[derive(Debug, Clone)]
pub struct Context {
    pub actor: Actor,
    /// The time stamped on the events.
    pub now: OffsetDateTime,
    /// The status of the command's place.
    pub place: PlaceStatus,
    /// False when the service's local copy of member events knows the actor as deactivated.
    pub actor_active: bool,
}

/// Decides what a command does to the actor's rating of a place: the events to append,
/// none when nothing would change, or why it is refused.
pub fn decide(
    state: &Rating,
    command: &RatingCommand,
    context: &Context,
) -> Result<Vec<RatingEvent>, Rejection> {
    let member = context
        .actor
        .member_id
        .ok_or_else(|| Rejection::new(ErrorCode::Unauthenticated, "sign in to rate places"))?;
    if !context.actor_active {
        return Err(Rejection::new(
            ErrorCode::Forbidden,
            "a deactivated member can do nothing",
        ));
    }
    match command {
        RatingCommand::RatePlace(rate) => rate_place(state, rate, member, context),
        RatingCommand::RemoveRating(remove) => remove_rating(state, remove, member, context),
    }
}

fn rate_place(
    state: &Rating,
    command: &RatePlace,
    member: MemberId,
    context: &Context,
) -> Result<Vec<RatingEvent>, Rejection> {
    if context.place == PlaceStatus::Unknown {
        return Err(Rejection::new(ErrorCode::NotFound, "no such place"));
    }
    let mut violations = Violations::new();
    let stars = violations.check("stars", Stars::parse(command.stars));
    // A closed place is reported as a broken field (422), not a conflict: the client named a
    // place that takes no ratings, and it learns that together with any other broken field.
    if context.place == PlaceStatus::Closed {
        violations.add("place_id", "the place is closed");
    }
    let stars = violations.finish(|| stars)?;

    if state.stars() == Some(stars.get()) {
        return Ok(vec![]);
    }
    Ok(vec![
        PlaceRated {
            place_id: command.place_id,
            member_id: member,
            stars: stars.get(),
            rated_at: context.now,
        }
        .into(),
    ])
}

/// Takes back the actor's rating. The place's status does not matter: a member can always
/// withdraw their own rating, even of a closed place or one the local copy does not know.
fn remove_rating(
    state: &Rating,
    command: &RemoveRating,
    member: MemberId,
    context: &Context,
) -> Result<Vec<RatingEvent>, Rejection> {
    if state.stars().is_none() {
        return Err(Rejection::new(
            ErrorCode::NotFound,
            "you have not rated this place",
        ));
    }
    Ok(vec![
        RatingRemoved {
            place_id: command.place_id,
            member_id: member,
            removed_at: context.now,
        }
        .into(),
    ])
}
