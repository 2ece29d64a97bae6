//! The reviews aggregate and its decider: pure, no I/O.
//!
//! What needs I/O is resolved by the runtime before [`decide`] runs and handed in as plain
//! values in [`Context`]: the place's status (its local copy of place events), whether the
//! actor is still active (its local copy of member events), which photos are not in object
//! storage as the actor's uploads.
//!
//! # Layout
//!
//! - [`Review`] (`review.rs`): the state, the fold of one review's events.
//! - [`Title`], [`Body`] and the whole `Content` (`fields.rs`): a review's parsed content.
//! - [`PlaceStatus`], [`Context`], [`decide`] (here): every business rule of the service.
//! - `tests.rs`: given/when/then tests, no I/O.
//!
//! One review per member per place is not decided here: a review is its own stream, so no
//! single state could see the member's other reviews. The runtime enforces it with its
//! reservation table (member, place) → review, in the same transaction as the append.

mod fields;
mod review;
#[cfg(test)]
mod tests;

pub use fields::{Body, BoundedText, MAX_PHOTOS, Title};
pub use review::Review;

use events::reviews::{
    DeleteReview, EditReview, ReviewCommand, ReviewDeleted, ReviewEdited, ReviewEvent,
    ReviewWritten, WriteReview,
};
use events::{Actor, ErrorCode, MemberId, PhotoId, Rejection, ReviewId, Role};
use time::OffsetDateTime;
use validation::Violations;

use fields::Content;
use review::{Authorship, Status};

/// What the service's local copy of place events says about the place a command names:
/// the service never asks the places service while deciding.
pub use local_copies::KnownPlace as PlaceStatus;

/// The facts `decide` needs besides the state and the command.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    pub actor: Actor,
    pub now: OffsetDateTime,
    /// The id a `WriteReview` gives its review (the runtime derives it from the command id).
    pub new_id: ReviewId,
    /// The status of the place `WriteReview` names, or, for `EditReview` and `DeleteReview`,
    /// of the review's place ([`Review::place_id`]).
    pub place: PlaceStatus,
    /// False when the local copy of member events has the actor deactivated.
    pub actor_active: bool,
    /// The command's photos that are missing from object storage or not uploaded by the actor.
    pub unverified_photos: Vec<PhotoId>,
}

/// Decides what a command does to one review. Every rule is here; nothing is read or written.
pub fn decide(
    state: &Review,
    command: &ReviewCommand,
    context: &Context,
) -> Result<Vec<ReviewEvent>, Rejection> {
    let actor_id = acting_member(context)?;
    match command {
        ReviewCommand::WriteReview(write) => write_review(state, write, actor_id, context),
        ReviewCommand::EditReview(edit) => edit_review(state, edit, actor_id, context),
        ReviewCommand::DeleteReview(delete) => delete_review(state, delete, actor_id, context),
    }
}

fn write_review(
    state: &Review,
    command: &WriteReview,
    author_id: MemberId,
    context: &Context,
) -> Result<Vec<ReviewEvent>, Rejection> {
    require_known(context.place)?;
    let content = parse_content(&command.title, &command.body, &command.photo_ids, context)?;
    if *state.status() != Status::None {
        return Err(Rejection::new(
            ErrorCode::Conflict,
            "the review already exists",
        ));
    }
    let (title, body, photo_ids) = content.into_parts();
    let written = ReviewWritten {
        review_id: context.new_id,
        place_id: command.place_id,
        author_id,
        title,
        body,
        photo_ids,
        written_at: context.now,
    };
    Ok(vec![written.into()])
}

/// Only the author edits: an admin can remove a review but not put words in someone's mouth.
fn edit_review(
    state: &Review,
    command: &EditReview,
    actor_id: MemberId,
    context: &Context,
) -> Result<Vec<ReviewEvent>, Rejection> {
    let (authorship, current) = live(state)?;
    require_known(context.place)?;
    if authorship.author_id != actor_id {
        return Err(Rejection::new(
            ErrorCode::Forbidden,
            "only the author may edit a review",
        ));
    }
    let content = parse_content(&command.title, &command.body, &command.photo_ids, context)?;
    if content == *current {
        return Ok(Vec::new());
    }
    let (title, body, photo_ids) = content.into_parts();
    let edited = ReviewEdited {
        review_id: command.review_id,
        place_id: authorship.place_id,
        title,
        body,
        photo_ids,
        edited_at: context.now,
    };
    Ok(vec![edited.into()])
}

/// The author or an admin may delete, whatever the place's status: taking a review down must
/// stay possible after the place closed.
fn delete_review(
    state: &Review,
    command: &DeleteReview,
    actor_id: MemberId,
    context: &Context,
) -> Result<Vec<ReviewEvent>, Rejection> {
    let (authorship, _) = live(state)?;
    if authorship.author_id != actor_id && !context.actor.has_role(Role::Admin) {
        return Err(Rejection::new(
            ErrorCode::Forbidden,
            "only the author or an admin may delete a review",
        ));
    }
    Ok(vec![
        ReviewDeleted {
            review_id: command.review_id,
            place_id: authorship.place_id,
            author_id: authorship.author_id,
            deleted_by: actor_id,
            deleted_at: context.now,
        }
        .into(),
    ])
}

/// The acting member, if they may act at all.
fn acting_member(context: &Context) -> Result<MemberId, Rejection> {
    match (context.actor.member_id, context.actor_active) {
        (None, _) => Err(Rejection::new(
            ErrorCode::Unauthenticated,
            "sign in to write reviews",
        )),
        (Some(_), false) => Err(Rejection::new(
            ErrorCode::Forbidden,
            "a deactivated member can do nothing",
        )),
        (Some(actor_id), true) => Ok(actor_id),
    }
}

/// A written, not deleted review, or `NotFound`: a deleted review is gone for its readers.
fn live(state: &Review) -> Result<(Authorship, &Content), Rejection> {
    match state.status() {
        Status::Live {
            authorship,
            content,
        } => Ok((*authorship, content)),
        Status::None | Status::Deleted(_) => {
            Err(Rejection::new(ErrorCode::NotFound, "no such review"))
        }
    }
}

/// Places are never removed, so an unknown one does not exist (or the local copy has not seen
/// it yet; the client may retry).
fn require_known(place: PlaceStatus) -> Result<(), Rejection> {
    if place == PlaceStatus::Unknown {
        return Err(Rejection::new(ErrorCode::NotFound, "no such place"));
    }
    Ok(())
}

/// Parses the content and reports a closed place among the broken fields, all in one answer.
/// A closed place is a 422 rather than a conflict: the client named a place that takes no
/// reviews, like any other invalid input. It is reported on `place_id` for an edit too, where
/// the client did not send it: the review's place is what the client must look at.
fn parse_content(
    title: &str,
    body: &str,
    photo_ids: &[PhotoId],
    context: &Context,
) -> Result<Content, Rejection> {
    let mut violations = Violations::new();
    if context.place == PlaceStatus::Closed {
        violations.add("place_id", "the place is closed");
    }
    let content = Content::parse(
        &mut violations,
        title,
        body,
        photo_ids,
        &context.unverified_photos,
    );
    violations.finish(|| content)
}
