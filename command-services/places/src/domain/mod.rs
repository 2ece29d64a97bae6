//! The places aggregate and its decider: pure, no I/O.
//!
//! # Layout
//!
//! - [`Place`] (`place.rs`): the fold of one place's stream, `evolve`.
//! - `fields.rs`: [`PlaceName`], [`Address`], [`Description`] and [`parse_category`]: command
//!   input turned into domain values.
//! - [`decide`] and its [`Context`] (here): every business rule of the service.
//! - `tests.rs`: given/when/then tests, no I/O.
//!
//! `decide` checks in a fixed order so that a client learns the most important problem
//! first: who is acting (unauthenticated, deactivated), whether the place exists, whether the
//! actor may touch it, the fields (every broken one at once), and last the place's state
//! (closed, already added).

mod fields;
mod place;
#[cfg(test)]
mod tests;

pub use fields::{Address, Description, PlaceName, parse_category};
pub use place::Place;

use events::places::{
    AddPlace, ClosePlace, PlaceAdded, PlaceClosed, PlaceCommand, PlaceEvent, PlaceUpdated,
    UpdatePlace,
};
use events::{Actor, ErrorCode, MemberId, PlaceId, Rejection, Role};
use time::OffsetDateTime;
use validation::Violations;

use place::Details;

/// What `decide` needs besides the state and the command, resolved by the runtime
/// beforehand so that deciding stays pure.
#[derive(Debug, Clone)]
pub struct Context {
    pub actor: Actor,
    /// The time stamped on the events.
    pub now: OffsetDateTime,
    /// The id an `AddPlace` gives its place; derived by the runtime from the command id, so
    /// a retried command names the same place.
    pub new_id: PlaceId,
    /// False when the service's local copy of member events knows the actor as deactivated.
    pub actor_active: bool,
}

/// Decides what a command does to a place: the events to append, none when nothing would
/// change, or why it is refused.
pub fn decide(
    state: &Place,
    command: &PlaceCommand,
    context: &Context,
) -> Result<Vec<PlaceEvent>, Rejection> {
    let member = acting_member(context)?;
    match command {
        PlaceCommand::AddPlace(add) => add_place(state, add, member, context),
        PlaceCommand::UpdatePlace(update) => update_place(state, update, member, context),
        PlaceCommand::ClosePlace(close) => close_place(state, close, member, context),
    }
}

fn add_place(
    state: &Place,
    command: &AddPlace,
    member: MemberId,
    context: &Context,
) -> Result<Vec<PlaceEvent>, Rejection> {
    let mut violations = Violations::new();
    let name = violations.check("name", PlaceName::parse(&command.name));
    let category = violations.check("category", parse_category(&command.category));
    let address = violations.check("address", Address::parse(&command.address));
    let description = violations.check("description", Description::parse(&command.description));
    let (name, category, address, description) =
        violations.finish(|| Some((name?, category?, address?, description?)))?;

    // The id comes from the command id and a retried command is answered from its first
    // reply, so this only happens when two different commands collide on one id.
    if state.exists() {
        return Err(Rejection::new(
            ErrorCode::Conflict,
            "the place already exists",
        ));
    }
    Ok(vec![
        PlaceAdded {
            place_id: context.new_id,
            name: name.into_inner(),
            category,
            address: address.into_inner(),
            description: description.into_inner(),
            added_by: member,
            added_at: context.now,
        }
        .into(),
    ])
}

fn update_place(
    state: &Place,
    command: &UpdatePlace,
    member: MemberId,
    context: &Context,
) -> Result<Vec<PlaceEvent>, Rejection> {
    let place = manageable_place(state, member, &context.actor)?;

    let mut violations = Violations::new();
    if command.name.is_none()
        && command.category.is_none()
        && command.address.is_none()
        && command.description.is_none()
    {
        violations.add(
            "place",
            "give at least one of name, category, address or description",
        );
    }
    let name = violations.check(
        "name",
        command.name.as_deref().map(PlaceName::parse).transpose(),
    );
    let category = violations.check(
        "category",
        command.category.as_deref().map(parse_category).transpose(),
    );
    let address = violations.check(
        "address",
        command.address.as_deref().map(Address::parse).transpose(),
    );
    let description = violations.check(
        "description",
        command
            .description
            .as_deref()
            .map(Description::parse)
            .transpose(),
    );
    let (name, category, address, description) =
        violations.finish(|| Some((name?, category?, address?, description?)))?;

    if !place.open {
        return Err(Rejection::new(ErrorCode::Conflict, "the place is closed"));
    }

    // Only what really changes goes into the event, so readers can trust that a present
    // field is news; an update that changes nothing appends nothing.
    let name = name.filter(|name| *name != place.name);
    let category = category.filter(|category| *category != place.category);
    let address = address.filter(|address| *address != place.address);
    let description = description.filter(|description| *description != place.description);
    if name.is_none() && category.is_none() && address.is_none() && description.is_none() {
        return Ok(vec![]);
    }
    Ok(vec![
        PlaceUpdated {
            place_id: command.place_id,
            name: name.map(PlaceName::into_inner),
            category,
            address: address.map(Address::into_inner),
            description: description.map(Description::into_inner),
            updated_by: member,
            updated_at: context.now,
        }
        .into(),
    ])
}

fn close_place(
    state: &Place,
    command: &ClosePlace,
    member: MemberId,
    context: &Context,
) -> Result<Vec<PlaceEvent>, Rejection> {
    let place = manageable_place(state, member, &context.actor)?;
    if !place.open {
        return Err(Rejection::new(
            ErrorCode::Conflict,
            "the place is already closed",
        ));
    }
    Ok(vec![
        PlaceClosed {
            place_id: command.place_id,
            closed_by: member,
            closed_at: context.now,
        }
        .into(),
    ])
}

/// The member behind the command, provided they may act at all.
fn acting_member(context: &Context) -> Result<MemberId, Rejection> {
    let member = context
        .actor
        .member_id
        .ok_or_else(|| Rejection::new(ErrorCode::Unauthenticated, "sign in to manage places"))?;
    if !context.actor_active {
        return Err(Rejection::new(
            ErrorCode::Forbidden,
            "a deactivated member can do nothing",
        ));
    }
    Ok(member)
}

/// The place, provided it exists and the actor may change it: the member who added it, or
/// an admin.
fn manageable_place<'a>(
    state: &'a Place,
    member: MemberId,
    actor: &Actor,
) -> Result<&'a Details, Rejection> {
    let place = state
        .details()
        .ok_or_else(|| Rejection::new(ErrorCode::NotFound, "no such place"))?;
    if place.added_by != member && !actor.has_role(Role::Admin) {
        return Err(Rejection::new(
            ErrorCode::Forbidden,
            "only the member who added the place or an admin may change it",
        ));
    }
    Ok(place)
}
