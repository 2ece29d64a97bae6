//! Given past events, when a command arrives, then these events or this rejection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use events::reviews::{
    DeleteReview, EditReview, ReviewCommand, ReviewDeleted, ReviewEdited, ReviewEvent,
    ReviewWritten, WriteReview,
};
use events::{Actor, ErrorCode, MemberId, PhotoId, PlaceId, Rejection, ReviewId, Role};
use time::OffsetDateTime;
use time::macros::datetime;
use validation::Violations;

use super::*;

const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);
const EARLIER: OffsetDateTime = datetime!(2026-01-01 08:00 UTC);

/// One review's world: its id, its place, its author, and the photos the author uploaded.
#[derive(Debug, Clone)]
struct Scenario {
    review_id: ReviewId,
    place_id: PlaceId,
    author_id: MemberId,
    photos: Vec<PhotoId>,
}

impl Scenario {
    fn generate() -> Self {
        Self {
            review_id: ReviewId::generate(),
            place_id: PlaceId::generate(),
            author_id: MemberId::generate(),
            photos: (0..12).map(|_| PhotoId::generate()).collect(),
        }
    }

    /// The author, signed in and active, acting on an open place with verified photos.
    fn author(&self) -> Context {
        Context {
            actor: Actor::member(self.author_id, vec![Role::Member]),
            now: NOW,
            new_id: self.review_id,
            place: PlaceStatus::Open,
            actor_active: true,
            unverified_photos: Vec::new(),
        }
    }

    /// The author, acting on a place with this status.
    fn author_at(&self, place: PlaceStatus) -> Context {
        Context {
            place,
            ..self.author()
        }
    }

    fn someone_else(&self, roles: Vec<Role>) -> Context {
        Context {
            actor: Actor::member(MemberId::generate(), roles),
            ..self.author()
        }
    }

    fn write(&self, title: &str, body: &str, photo_ids: &[PhotoId]) -> ReviewCommand {
        WriteReview {
            place_id: self.place_id,
            title: title.to_owned(),
            body: body.to_owned(),
            photo_ids: photo_ids.to_vec(),
        }
        .into()
    }

    fn edit(&self, title: &str, body: &str, photo_ids: &[PhotoId]) -> ReviewCommand {
        EditReview {
            review_id: self.review_id,
            title: title.to_owned(),
            body: body.to_owned(),
            photo_ids: photo_ids.to_vec(),
        }
        .into()
    }

    fn delete(&self) -> ReviewCommand {
        DeleteReview {
            review_id: self.review_id,
        }
        .into()
    }

    fn written(&self, title: &str, photo_ids: &[PhotoId], at: OffsetDateTime) -> ReviewEvent {
        ReviewWritten {
            review_id: self.review_id,
            place_id: self.place_id,
            author_id: self.author_id,
            title: title.to_owned(),
            body: "Great coffee.".to_owned(),
            photo_ids: photo_ids.to_vec(),
            written_at: at,
        }
        .into()
    }

    fn edited(&self, title: &str, photo_ids: &[PhotoId], at: OffsetDateTime) -> ReviewEvent {
        ReviewEdited {
            review_id: self.review_id,
            place_id: self.place_id,
            title: title.to_owned(),
            body: "Great coffee.".to_owned(),
            photo_ids: photo_ids.to_vec(),
            edited_at: at,
        }
        .into()
    }

    fn deleted(&self, by: MemberId, at: OffsetDateTime) -> ReviewEvent {
        ReviewDeleted {
            review_id: self.review_id,
            place_id: self.place_id,
            author_id: self.author_id,
            deleted_by: by,
            deleted_at: at,
        }
        .into()
    }

    /// Written earlier with the first two photos, and still live.
    fn live(&self) -> Review {
        given(&[self.written("Cosy", &self.photos[..2], EARLIER)])
    }

    fn gone(&self) -> Review {
        given(&[
            self.written("Cosy", &[], EARLIER),
            self.deleted(self.author_id, EARLIER),
        ])
    }

    /// Every command, valid in itself, for the checks that come before the fields.
    fn commands(&self) -> [ReviewCommand; 3] {
        [
            self.write("Cosy", "Great coffee.", &[]),
            self.edit("Cosy", "Great coffee.", &[]),
            self.delete(),
        ]
    }
}

type Outcome = Result<Vec<ReviewEvent>, Rejection>;

fn given(events: &[ReviewEvent]) -> Review {
    events.iter().fold(Review::default(), Review::evolve)
}

fn when(state: &Review, command: &ReviewCommand, context: &Context) -> Outcome {
    decide(state, command, context)
}

/// The rejection a test expects, message included: messages are shown to clients.
fn refused(code: ErrorCode, message: &str) -> Outcome {
    Err(Rejection::new(code, message))
}

/// The validation rejection naming exactly these fields, in this order, with these messages.
fn invalid(fields: &[(&str, &str)]) -> Outcome {
    let mut violations = Violations::new();
    for (field, message) in fields {
        violations.add(*field, *message);
    }
    Err(violations.into_rejection())
}

fn text(chars: usize) -> String {
    "é".repeat(chars)
}

const CLOSED: (&str, &str) = ("place_id", "the place is closed");
const EMPTY_TITLE: (&str, &str) = ("title", "must not be empty");
const LONG_TITLE: (&str, &str) = ("title", "must be at most 120 characters");
const EMPTY_BODY: (&str, &str) = ("body", "must not be empty");
const LONG_BODY: (&str, &str) = ("body", "must be at most 5000 characters");
const TOO_MANY_PHOTOS: (&str, &str) = ("photo_ids", "must hold at most 10 photos");

/// Expected field errors: (field, message).
type FieldErrors = &'static [(&'static str, &'static str)];

fn unverified(index: usize) -> (String, &'static str) {
    (
        format!("photo_ids[{index}]"),
        "must be a photo you uploaded",
    )
}

// --- Who may act ---

#[test]
fn every_command_needs_a_signed_in_actor() {
    let scenario = Scenario::generate();
    let anonymous = Context {
        actor: Actor::anonymous(),
        actor_active: false,
        ..scenario.author()
    };
    let expected = refused(ErrorCode::Unauthenticated, "sign in to write reviews");
    for command in scenario.commands() {
        assert_eq!(when(&scenario.live(), &command, &anonymous), expected);
    }
}

#[test]
fn a_deactivated_member_can_do_nothing() {
    let scenario = Scenario::generate();
    let deactivated = Context {
        actor_active: false,
        ..scenario.author()
    };
    let expected = refused(ErrorCode::Forbidden, "a deactivated member can do nothing");
    for command in scenario.commands() {
        for state in [given(&[]), scenario.live()] {
            assert_eq!(when(&state, &command, &deactivated), expected);
        }
    }
}

// --- WriteReview ---

#[test]
fn a_member_writes_a_review() {
    let scenario = Scenario::generate();
    let photos = &scenario.photos[..3];
    let command = scenario.write("  Cosy ", " Great coffee. ", photos);
    let result = when(&given(&[]), &command, &scenario.author());
    assert_eq!(result, Ok(vec![scenario.written("Cosy", photos, NOW)]));
}

#[test]
fn an_unknown_place_is_not_found_whatever_the_fields() {
    let scenario = Scenario::generate();
    let context = scenario.author_at(PlaceStatus::Unknown);
    let expected = refused(ErrorCode::NotFound, "no such place");
    let write = scenario.write("", "", &[]);
    assert_eq!(when(&given(&[]), &write, &context), expected);
    // Places are never removed, so this is the local copy lagging or broken: refuse rather
    // than change a review whose place cannot be vouched for.
    let edit = scenario.edit("", "", &[]);
    assert_eq!(when(&scenario.live(), &edit, &context), expected);
}

#[test]
fn a_closed_place_takes_no_new_or_changed_reviews() {
    let scenario = Scenario::generate();
    let context = scenario.author_at(PlaceStatus::Closed);
    let write = scenario.write("Cosy", "Fine.", &[]);
    assert_eq!(when(&given(&[]), &write, &context), invalid(&[CLOSED]));
    let edit = scenario.edit("Cosier", "Great coffee.", &[]);
    assert_eq!(when(&scenario.live(), &edit, &context), invalid(&[CLOSED]));
}

#[test]
fn title_and_body_are_bounded_in_characters_after_trimming() {
    let scenario = Scenario::generate();
    let cases: [(String, String, FieldErrors); 7] = [
        (text(1), text(1), &[]),
        (text(120), text(5000), &[]),
        (
            format!("  {}  ", text(120)),
            format!("\n{}\n", text(5000)),
            &[],
        ),
        (text(121), text(1), &[LONG_TITLE]),
        ("   ".to_owned(), text(1), &[EMPTY_TITLE]),
        (text(1), text(5001), &[LONG_BODY]),
        (text(1), "\n\t ".to_owned(), &[EMPTY_BODY]),
    ];
    for (title, body, errors) in cases {
        let command = scenario.write(&title, &body, &[]);
        let result = when(&given(&[]), &command, &scenario.author());
        let lengths = (title.chars().count(), body.chars().count());
        if errors.is_empty() {
            assert!(result.is_ok(), "{lengths:?}: {result:?}");
        } else {
            assert_eq!(result, invalid(errors), "{lengths:?}");
        }
    }
}

#[test]
fn a_review_shows_at_most_10_photos() {
    let scenario = Scenario::generate();
    let ten = scenario.write("Cosy", "Fine.", &scenario.photos[..10]);
    assert!(when(&given(&[]), &ten, &scenario.author()).is_ok());
    let eleven = scenario.write("Cosy", "Fine.", &scenario.photos[..11]);
    let result = when(&given(&[]), &eleven, &scenario.author());
    assert_eq!(result, invalid(&[TOO_MANY_PHOTOS]));
}

#[test]
fn a_photo_may_appear_only_once() {
    let scenario = Scenario::generate();
    let (a, b) = (scenario.photos[0], scenario.photos[1]);
    let command = scenario.write("Cosy", "Fine.", &[a, b, a, b, a]);
    let result = when(&given(&[]), &command, &scenario.author());
    let listed_twice = "is already in the list";
    assert_eq!(
        result,
        invalid(&[
            ("photo_ids[2]", listed_twice),
            ("photo_ids[3]", listed_twice),
            ("photo_ids[4]", listed_twice),
        ])
    );
}

#[test]
fn every_unverified_photo_is_named_by_its_index() {
    let scenario = Scenario::generate();
    let photos = &scenario.photos[..4];
    let context = Context {
        unverified_photos: vec![photos[3], photos[1]],
        ..scenario.author()
    };
    let result = when(
        &given(&[]),
        &scenario.write("Cosy", "Fine.", photos),
        &context,
    );
    let (first, second) = (unverified(1), unverified(3));
    assert_eq!(
        result,
        invalid(&[(&first.0, first.1), (&second.0, second.1)])
    );
}

#[test]
fn a_write_and_an_edit_report_every_broken_field_at_once() {
    let scenario = Scenario::generate();
    let photos = &scenario.photos[..11];
    let context = Context {
        place: PlaceStatus::Closed,
        unverified_photos: vec![photos[5]],
        ..scenario.author()
    };
    let photo = unverified(5);
    let expected = invalid(&[
        CLOSED,
        EMPTY_TITLE,
        LONG_BODY,
        TOO_MANY_PHOTOS,
        (&photo.0, photo.1),
    ]);
    let write = scenario.write("", &text(5001), photos);
    assert_eq!(when(&given(&[]), &write, &context), expected);
    let edit = scenario.edit("", &text(5001), photos);
    assert_eq!(when(&scenario.live(), &edit, &context), expected);
}

#[test]
fn writing_over_an_existing_review_conflicts() {
    let scenario = Scenario::generate();
    let command = scenario.write("Cosy", "Fine.", &[]);
    let expected = refused(ErrorCode::Conflict, "the review already exists");
    for state in [scenario.live(), scenario.gone()] {
        assert_eq!(when(&state, &command, &scenario.author()), expected);
    }
}

#[test]
fn fields_are_checked_before_the_conflict() {
    let scenario = Scenario::generate();
    let command = scenario.write("", "Fine.", &[]);
    let result = when(&scenario.live(), &command, &scenario.author());
    assert_eq!(result, invalid(&[EMPTY_TITLE]));
}

// --- EditReview ---

#[test]
fn the_author_edits_their_review() {
    let scenario = Scenario::generate();
    let photos = &scenario.photos[2..5];
    let command = scenario.edit(" Cosier ", "Great coffee.", photos);
    let result = when(&scenario.live(), &command, &scenario.author());
    assert_eq!(result, Ok(vec![scenario.edited("Cosier", photos, NOW)]));
}

#[test]
fn only_a_live_review_can_be_edited() {
    let scenario = Scenario::generate();
    let command = scenario.edit("Cosier", "Great coffee.", &[]);
    for state in [given(&[]), scenario.gone()] {
        let result = when(&state, &command, &scenario.author());
        assert_eq!(result, refused(ErrorCode::NotFound, "no such review"));
    }
}

#[test]
fn only_the_author_may_edit_not_even_an_admin() {
    let scenario = Scenario::generate();
    // Invalid fields too: permission is checked first.
    for command in [
        scenario.edit("Cosier", "Great coffee.", &[]),
        scenario.edit("", "", &[]),
    ] {
        for roles in [vec![Role::Member], vec![Role::Member, Role::Admin]] {
            let result = when(&scenario.live(), &command, &scenario.someone_else(roles));
            let expected = refused(ErrorCode::Forbidden, "only the author may edit a review");
            assert_eq!(result, expected);
        }
    }
}

#[test]
fn an_edit_that_changes_nothing_emits_nothing() {
    let scenario = Scenario::generate();
    let command = scenario.edit("  Cosy", "Great coffee.\n", &scenario.photos[..2]);
    assert_eq!(
        when(&scenario.live(), &command, &scenario.author()),
        Ok(vec![])
    );
}

#[test]
fn reordering_photos_is_a_change() {
    let scenario = Scenario::generate();
    let reordered = [scenario.photos[1], scenario.photos[0]];
    let command = scenario.edit("Cosy", "Great coffee.", &reordered);
    let result = when(&scenario.live(), &command, &scenario.author());
    assert_eq!(result, Ok(vec![scenario.edited("Cosy", &reordered, NOW)]));
}

#[test]
fn an_edit_is_compared_with_the_latest_content() {
    let scenario = Scenario::generate();
    let state = given(&[
        scenario.written("Cosy", &[], EARLIER),
        scenario.edited("Cosier", &[], EARLIER),
    ]);
    let same = scenario.edit("Cosier", "Great coffee.", &[]);
    assert_eq!(when(&state, &same, &scenario.author()), Ok(vec![]));
    let back = scenario.edit("Cosy", "Great coffee.", &[]);
    let result = when(&state, &back, &scenario.author());
    assert_eq!(result, Ok(vec![scenario.edited("Cosy", &[], NOW)]));
}

// --- DeleteReview ---

#[test]
fn the_author_or_an_admin_deletes_a_review() {
    let scenario = Scenario::generate();
    let admin = scenario.someone_else(vec![Role::Member, Role::Admin]);
    for context in [scenario.author(), admin] {
        let deleted_by = context.actor.member_id.unwrap();
        let result = when(&scenario.live(), &scenario.delete(), &context);
        assert_eq!(result, Ok(vec![scenario.deleted(deleted_by, NOW)]));
    }
}

#[test]
fn another_member_may_not_delete_a_review() {
    let scenario = Scenario::generate();
    let someone_else = scenario.someone_else(vec![Role::Member]);
    let result = when(&scenario.live(), &scenario.delete(), &someone_else);
    let expected = refused(
        ErrorCode::Forbidden,
        "only the author or an admin may delete a review",
    );
    assert_eq!(result, expected);
}

#[test]
fn only_a_live_review_can_be_deleted() {
    let scenario = Scenario::generate();
    for state in [given(&[]), scenario.gone()] {
        let result = when(&state, &scenario.delete(), &scenario.author());
        assert_eq!(result, refused(ErrorCode::NotFound, "no such review"));
    }
}

#[test]
fn a_review_can_be_deleted_whatever_its_places_status() {
    let scenario = Scenario::generate();
    for place in [PlaceStatus::Closed, PlaceStatus::Unknown] {
        let context = scenario.author_at(place);
        let result = when(&scenario.live(), &scenario.delete(), &context);
        assert_eq!(result, Ok(vec![scenario.deleted(scenario.author_id, NOW)]));
    }
}

// --- The state the runtime reads ---

#[test]
fn the_state_knows_its_place_author_and_liveness() {
    let scenario = Scenario::generate();
    let about = (Some(scenario.place_id), Some(scenario.author_id));
    let read = |review: Review| ((review.place_id(), review.author_id()), review.is_live());
    assert_eq!(read(given(&[])), ((None, None), false));
    assert_eq!(read(scenario.live()), (about, true));
    assert_eq!(read(scenario.gone()), (about, false));
}

#[test]
fn events_that_cannot_follow_the_state_change_nothing() {
    let scenario = Scenario::generate();
    let stray = [
        scenario.edited("Cosier", &[], EARLIER),
        scenario.deleted(scenario.author_id, EARLIER),
    ];
    assert_eq!(given(&stray), Review::default());
    let late = [scenario.written("Again", &[], EARLIER), stray[0].clone()];
    assert_eq!(
        late.iter().fold(scenario.gone(), Review::evolve),
        scenario.gone()
    );
}
