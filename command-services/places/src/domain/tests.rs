//! Given past events, when a command arrives, then these events or this rejection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use events::places::{
    AddPlace, Category, ClosePlace, PlaceAdded, PlaceClosed, PlaceCommand, PlaceEvent,
    PlaceUpdated, UpdatePlace,
};
use events::{Actor, ErrorCode, MemberId, PlaceId, Rejection, Role};
use time::OffsetDateTime;
use time::macros::datetime;

use super::{Context, Place, decide};

const NOW: OffsetDateTime = datetime!(2025-06-01 12:00:00 UTC);
const EARLIER: OffsetDateTime = datetime!(2025-05-01 08:30:00 UTC);

// ---- fixtures ----

fn given(events: &[PlaceEvent]) -> Place {
    events.iter().fold(Place::default(), Place::evolve)
}

fn when(
    state: &Place,
    command: PlaceCommand,
    context: &Context,
) -> Result<Vec<PlaceEvent>, Rejection> {
    decide(state, &command, context)
}

fn member(member_id: MemberId) -> Actor {
    Actor::member(member_id, vec![Role::Member])
}

fn admin() -> Actor {
    Actor::member(MemberId::generate(), vec![Role::Member, Role::Admin])
}

fn context(actor: Actor) -> Context {
    Context {
        actor,
        now: NOW,
        new_id: PlaceId::generate(),
        actor_active: true,
    }
}

/// An active member with no tie to any place.
fn any_member() -> Context {
    context(member(MemberId::generate()))
}

fn deactivated(actor: Actor) -> Context {
    Context {
        actor_active: false,
        ..context(actor)
    }
}

fn add_command() -> AddPlace {
    AddPlace {
        name: "Café Central".to_owned(),
        category: "cafe".to_owned(),
        address: "Herrengasse 14, 1010 Wien".to_owned(),
        description: "Coffee house since 1876.".to_owned(),
    }
}

fn no_changes(place_id: PlaceId) -> UpdatePlace {
    UpdatePlace {
        place_id,
        name: None,
        category: None,
        address: None,
        description: None,
    }
}

/// A place added by `by`, with the fields of [`add_command`].
fn added(place_id: PlaceId, by: MemberId) -> PlaceEvent {
    let command = add_command();
    PlaceAdded {
        place_id,
        name: command.name,
        category: Category::Cafe,
        address: command.address,
        description: command.description,
        added_by: by,
        added_at: EARLIER,
    }
    .into()
}

fn closed(place_id: PlaceId, by: MemberId) -> PlaceEvent {
    PlaceClosed {
        place_id,
        closed_by: by,
        closed_at: EARLIER,
    }
    .into()
}

/// An update that only renames the place.
fn rename(place_id: PlaceId, name: impl Into<String>) -> UpdatePlace {
    UpdatePlace {
        name: Some(name.into()),
        ..no_changes(place_id)
    }
}

/// An open place added by a fresh member: the place's id, its adder and its state.
fn existing_place() -> (PlaceId, MemberId, Place) {
    let place_id = PlaceId::generate();
    let adder = MemberId::generate();
    (place_id, adder, given(&[added(place_id, adder)]))
}

/// A place its adder closed: the place's id, its adder and its state.
fn closed_place() -> (PlaceId, MemberId, Place) {
    let (place_id, adder, state) = existing_place();
    (place_id, adder, state.evolve(&closed(place_id, adder)))
}

fn rejected(result: Result<Vec<PlaceEvent>, Rejection>, code: ErrorCode) -> Rejection {
    let rejection = result.expect_err("the command must be rejected");
    assert_eq!(rejection.code, code, "{rejection:?}");
    rejection
}

fn invalid_fields(result: Result<Vec<PlaceEvent>, Rejection>) -> Vec<String> {
    let rejection = rejected(result, ErrorCode::Validation);
    rejection
        .errors
        .into_iter()
        .map(|error| error.field)
        .collect()
}

fn chars(count: usize) -> String {
    "é".repeat(count)
}

// ---- AddPlace ----

fn add(command: AddPlace, context: &Context) -> Result<Vec<PlaceEvent>, Rejection> {
    when(&Place::default(), command.into(), context)
}

#[test]
fn adding_a_place_records_it_under_the_new_id_with_trimmed_fields() {
    let adder = MemberId::generate();
    let context = context(member(adder));
    let command = AddPlace {
        name: "  Café Central ".to_owned(),
        category: "cafe".to_owned(),
        address: "\tHerrengasse 14 ".to_owned(),
        description: " Coffee house. \n".to_owned(),
    };

    let events = add(command, &context).unwrap();

    assert_eq!(
        events,
        [PlaceAdded {
            place_id: context.new_id,
            name: "Café Central".to_owned(),
            category: Category::Cafe,
            address: "Herrengasse 14".to_owned(),
            description: "Coffee house.".to_owned(),
            added_by: adder,
            added_at: NOW,
        }
        .into()]
    );
}

#[test]
fn a_place_name_has_1_to_100_characters_after_trimming() {
    let context = any_member();
    for ok in [chars(1), chars(100), format!("  {}  ", chars(100))] {
        let command = AddPlace {
            name: ok.clone(),
            ..add_command()
        };
        assert!(add(command, &context).is_ok(), "{ok:?} is a valid name");
    }
    for bad in [String::new(), "   ".to_owned(), chars(101)] {
        let command = AddPlace {
            name: bad.clone(),
            ..add_command()
        };
        assert_eq!(invalid_fields(add(command, &context)), ["name"], "{bad:?}");
    }
}

#[test]
fn an_address_has_1_to_200_characters_after_trimming() {
    let context = any_member();
    for ok in [chars(1), chars(200)] {
        let command = AddPlace {
            address: ok,
            ..add_command()
        };
        assert!(add(command, &context).is_ok());
    }
    for bad in [" \t ".to_owned(), chars(201)] {
        let command = AddPlace {
            address: bad.clone(),
            ..add_command()
        };
        assert_eq!(
            invalid_fields(add(command, &context)),
            ["address"],
            "{bad:?}"
        );
    }
}

#[test]
fn a_description_may_be_empty_and_has_at_most_2000_characters() {
    let context = any_member();
    for ok in [String::new(), "   ".to_owned(), chars(2000)] {
        let command = AddPlace {
            description: ok.clone(),
            ..add_command()
        };
        let events = add(command, &context).unwrap();
        let PlaceEvent::PlaceAdded(added) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(added.description, ok.trim());
    }
    let command = AddPlace {
        description: chars(2001),
        ..add_command()
    };
    assert_eq!(invalid_fields(add(command, &context)), ["description"]);
}

#[test]
fn every_listed_category_is_accepted() {
    let context = any_member();
    for category in Category::ALL {
        let command = AddPlace {
            category: category.as_str().to_owned(),
            ..add_command()
        };
        let events = add(command, &context).unwrap();
        let PlaceEvent::PlaceAdded(added) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(added.category, category);
    }
}

#[test]
fn an_unknown_category_is_refused_with_the_allowed_values() {
    let context = any_member();
    for bad in ["pub", "Cafe", " cafe", ""] {
        let command = AddPlace {
            category: bad.to_owned(),
            ..add_command()
        };
        let rejection = rejected(add(command, &context), ErrorCode::Validation);
        assert_eq!(rejection.errors.len(), 1);
        assert_eq!(rejection.errors[0].field, "category");
        assert_eq!(
            rejection.errors[0].message,
            "must be one of: restaurant, cafe, bar, museum, park, hotel, shop, other"
        );
    }
}

#[test]
fn adding_reports_every_broken_field_at_once() {
    let context = any_member();
    let command = AddPlace {
        name: " ".to_owned(),
        category: "nightclub".to_owned(),
        address: String::new(),
        description: chars(2001),
    };
    assert_eq!(
        invalid_fields(add(command, &context)),
        ["name", "category", "address", "description"]
    );
}

#[test]
fn adding_over_an_existing_place_is_a_conflict() {
    let (_, _, state) = existing_place();
    let result = when(&state, add_command().into(), &any_member());
    rejected(result, ErrorCode::Conflict);
}

#[test]
fn broken_fields_are_reported_before_an_existing_place() {
    let (_, _, state) = existing_place();
    let command = AddPlace {
        name: String::new(),
        ..add_command()
    };
    let result = when(&state, command.into(), &any_member());
    assert_eq!(invalid_fields(result), ["name"]);
}

// ---- who may act at all ----

#[test]
fn an_anonymous_actor_is_unauthenticated_for_every_command() {
    let (place_id, _, state) = existing_place();
    let update = rename(place_id, "New");
    for (state, command) in [
        (Place::default(), PlaceCommand::from(add_command())),
        (state.clone(), update.into()),
        (state, ClosePlace { place_id }.into()),
    ] {
        // The runtime cannot know an anonymous actor's status; unauthenticated wins.
        for context in [context(Actor::anonymous()), deactivated(Actor::anonymous())] {
            rejected(
                when(&state, command.clone(), &context),
                ErrorCode::Unauthenticated,
            );
        }
    }
}

#[test]
fn a_deactivated_member_is_forbidden_everything_even_as_adder_or_admin() {
    let (place_id, adder, state) = existing_place();
    let update = rename(place_id, "New");
    for actor in [member(adder), admin()] {
        let context = deactivated(actor);
        for (state, command) in [
            (Place::default(), PlaceCommand::from(add_command())),
            (state.clone(), update.clone().into()),
            (state.clone(), ClosePlace { place_id }.into()),
        ] {
            rejected(when(&state, command, &context), ErrorCode::Forbidden);
        }
    }
}

#[test]
fn a_deactivated_member_is_forbidden_before_fields_are_checked() {
    let context = deactivated(member(MemberId::generate()));
    let command = AddPlace {
        name: String::new(),
        ..add_command()
    };
    rejected(add(command, &context), ErrorCode::Forbidden);
}

// ---- UpdatePlace ----

#[test]
fn the_adder_updates_only_the_fields_that_change() {
    let (place_id, adder, state) = existing_place();
    let command = UpdatePlace {
        place_id,
        name: Some(" Café Central ".to_owned()),
        category: Some("restaurant".to_owned()),
        address: Some(add_command().address),
        description: Some("  Now with lunch.  ".to_owned()),
    };

    let events = when(&state, command.into(), &context(member(adder))).unwrap();

    assert_eq!(
        events,
        [PlaceUpdated {
            place_id,
            name: None,
            category: Some(Category::Restaurant),
            address: None,
            description: Some("Now with lunch.".to_owned()),
            updated_by: adder,
            updated_at: NOW,
        }
        .into()]
    );
}

#[test]
fn an_admin_may_update_a_place_someone_else_added() {
    let (place_id, _, state) = existing_place();
    let context = context(admin());
    let command = UpdatePlace {
        address: Some("Elsewhere 1".to_owned()),
        ..no_changes(place_id)
    };

    let events = when(&state, command.into(), &context).unwrap();

    assert_eq!(
        events,
        [PlaceUpdated {
            place_id,
            name: None,
            category: None,
            address: Some("Elsewhere 1".to_owned()),
            description: None,
            updated_by: context.actor.member_id.unwrap(),
            updated_at: NOW,
        }
        .into()]
    );
}

#[test]
fn another_member_may_not_update_the_place_whatever_the_fields() {
    let (place_id, _, state) = existing_place();
    // An empty name would be a broken field: permission is checked first.
    for name in ["Mine now", ""] {
        let result = when(&state, rename(place_id, name).into(), &any_member());
        rejected(result, ErrorCode::Forbidden);
    }
}

#[test]
fn updating_a_place_that_does_not_exist_is_not_found() {
    let command = rename(PlaceId::generate(), String::new());
    let result = when(&Place::default(), command.into(), &context(admin()));
    rejected(result, ErrorCode::NotFound);
}

#[test]
fn an_update_must_give_at_least_one_field() {
    let (place_id, adder, state) = existing_place();
    let result = when(&state, no_changes(place_id).into(), &context(member(adder)));
    assert_eq!(invalid_fields(result), ["place"]);
}

#[test]
fn an_update_validates_each_given_field_like_adding_and_reports_all() {
    let (place_id, adder, state) = existing_place();
    let command = UpdatePlace {
        place_id,
        name: Some(chars(101)),
        category: Some("zoo".to_owned()),
        address: Some("  ".to_owned()),
        description: Some(chars(2001)),
    };
    let result = when(&state, command.into(), &context(member(adder)));
    assert_eq!(
        invalid_fields(result),
        ["name", "category", "address", "description"]
    );
}

#[test]
fn an_update_accepts_the_boundaries_and_may_empty_the_description() {
    let (place_id, adder, state) = existing_place();
    let command = UpdatePlace {
        place_id,
        name: Some(chars(100)),
        category: None,
        address: Some(chars(200)),
        description: Some(" ".to_owned()),
    };
    let events = when(&state, command.into(), &context(member(adder))).unwrap();
    let PlaceEvent::PlaceUpdated(updated) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(updated.name, Some(chars(100)));
    assert_eq!(updated.address, Some(chars(200)));
    assert_eq!(updated.description, Some(String::new()));
}

#[test]
fn an_update_that_changes_nothing_appends_nothing() {
    let (place_id, adder, state) = existing_place();
    let current = add_command();
    let command = UpdatePlace {
        place_id,
        name: Some(format!("  {}", current.name)),
        category: Some(current.category),
        address: Some(current.address),
        description: Some(current.description),
    };
    assert_eq!(
        when(&state, command.into(), &context(member(adder))),
        Ok(vec![])
    );
}

#[test]
fn an_update_compares_with_the_place_as_last_updated() {
    let (place_id, adder, _) = existing_place();
    let state = given(&[
        added(place_id, adder),
        PlaceUpdated {
            place_id,
            name: Some("Renamed".to_owned()),
            category: None,
            address: None,
            description: None,
            updated_by: adder,
            updated_at: EARLIER,
        }
        .into(),
    ]);
    let same = rename(place_id, "Renamed");
    assert_eq!(
        when(&state, same.into(), &context(member(adder))),
        Ok(vec![])
    );

    let back = rename(place_id, add_command().name);
    let events = when(&state, back.into(), &context(member(adder))).unwrap();
    assert_eq!(events.len(), 1);
}

#[test]
fn a_closed_place_cannot_be_updated_even_without_changes() {
    let (place_id, adder, state) = closed_place();
    for name in ["Renamed".to_owned(), add_command().name] {
        let command = rename(place_id, name);
        let rejection = rejected(
            when(&state, command.into(), &context(member(adder))),
            ErrorCode::Conflict,
        );
        assert_eq!(rejection.message, "the place is closed");
    }
}

#[test]
fn broken_fields_are_reported_before_a_closed_place() {
    let (place_id, adder, state) = closed_place();
    let command = rename(place_id, String::new());
    let result = when(&state, command.into(), &context(member(adder)));
    assert_eq!(invalid_fields(result), ["name"]);
}

// ---- ClosePlace ----

#[test]
fn the_adder_or_an_admin_closes_the_place() {
    let (place_id, adder, state) = existing_place();
    for actor in [member(adder), admin()] {
        let context = context(actor);
        let events = when(&state, ClosePlace { place_id }.into(), &context).unwrap();
        assert_eq!(
            events,
            [PlaceClosed {
                place_id,
                closed_by: context.actor.member_id.unwrap(),
                closed_at: NOW,
            }
            .into()]
        );
    }
}

#[test]
fn another_member_may_not_close_the_place() {
    let (place_id, _, state) = existing_place();
    let result = when(&state, ClosePlace { place_id }.into(), &any_member());
    rejected(result, ErrorCode::Forbidden);
}

#[test]
fn closing_a_place_that_does_not_exist_is_not_found() {
    let command = ClosePlace {
        place_id: PlaceId::generate(),
    };
    rejected(
        when(&Place::default(), command.into(), &context(admin())),
        ErrorCode::NotFound,
    );
}

#[test]
fn closing_a_closed_place_is_a_conflict() {
    let (place_id, adder, state) = closed_place();
    let result = when(
        &state,
        ClosePlace { place_id }.into(),
        &context(member(adder)),
    );
    rejected(result, ErrorCode::Conflict);
}

// ---- evolve ----

#[test]
fn the_state_follows_the_stream() {
    let place_id = PlaceId::generate();
    let adder = MemberId::generate();
    let empty = given(&[]);
    assert!(!empty.exists());
    assert!(!empty.is_open());
    assert_eq!(empty.added_by(), None);

    let open = given(&[added(place_id, adder)]);
    assert!(open.exists());
    assert!(open.is_open());
    assert_eq!(open.added_by(), Some(adder));
    assert_eq!(open.category(), Some(Category::Cafe));

    let updated = open.clone().evolve(
        &PlaceUpdated {
            place_id,
            name: None,
            category: Some(Category::Bar),
            address: Some("Elsewhere 1".to_owned()),
            description: Some(String::new()),
            updated_by: adder,
            updated_at: EARLIER,
        }
        .into(),
    );
    assert_eq!(updated.name(), open.name());
    assert_eq!(updated.category(), Some(Category::Bar));
    assert_eq!(
        updated.address().map(|address| address.as_str()),
        Some("Elsewhere 1")
    );
    assert_eq!(
        updated
            .description()
            .map(|description| description.as_str()),
        Some("")
    );

    let after_close = updated.evolve(&closed(place_id, adder));
    assert!(after_close.exists());
    assert!(!after_close.is_open());
}

#[test]
fn events_for_a_place_never_added_leave_it_absent() {
    let place_id = PlaceId::generate();
    let state = given(&[closed(place_id, MemberId::generate())]);
    assert_eq!(state, Place::default());
}

#[test]
fn a_deactivated_member_is_forbidden_before_the_place_is_looked_up() {
    let command = rename(PlaceId::generate(), "New");
    rejected(
        when(&Place::default(), command.into(), &deactivated(admin())),
        ErrorCode::Forbidden,
    );
}
