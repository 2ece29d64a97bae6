//! The members aggregate and its decider: pure, no I/O.
//!
//! What needs I/O is resolved by the runtime before [`decide`] runs and handed in as plain
//! values: the email's uniqueness (its own table), the current password's check (argon2
//! against the stored hash), the avatar photo's ownership (object storage).
//!
//! # Layout
//!
//! - [`Member`]: the state, the fold of one member's events.
//! - [`Email`], [`Password`], [`Nickname`], [`Registration`]: parsed input.
//! - [`MemberDecision`], [`Context`], [`decide`]: the business rules.

mod fields;
mod member;
#[cfg(test)]
mod tests;

use events::members::{
    AvatarChanged, ChangeNickname, MemberDeactivated, MemberEvent, MemberRegistered,
    NicknameChanged,
};
use events::{Actor, ErrorCode, MemberId, PhotoId, Rejection};
use time::OffsetDateTime;
use validation::Violations;

pub use fields::{Email, Nickname, Password, Registration};
pub use member::Member;
use member::{Profile, Status};

/// A members command together with what the runtime found out for it beforehand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberDecision {
    /// Parsed with [`Registration::parse`]; the email's uniqueness is the runtime's to check
    /// (case-insensitively, on [`Email::normalized`]) in the same transaction as the append.
    Register(Registration),
    ChangeNickname(ChangeNickname),
    /// The runtime verified `current_password` against the stored hash (argon2) and parsed the
    /// new password (with the stored email) before deciding. Success yields no event: a
    /// password hash is private, so the runtime stores the new hash in its own table itself.
    ChangePassword {
        current_password_matches: bool,
        new_password: Result<Password, String>,
    },
    /// `photo_owned`: the photo exists in object storage and was uploaded by this member.
    SetAvatar {
        photo_id: PhotoId,
        photo_owned: bool,
    },
    Deactivate,
}

/// The facts `decide` needs besides the state and the command.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    pub actor: Actor,
    pub now: OffsetDateTime,
    /// The aggregate's member: for `Register` the new id (derived from the command id),
    /// otherwise the actor's own id, since members only ever act on themselves.
    pub member_id: MemberId,
}

/// Decides what a command does to one member. Every rule is here; nothing is read or written.
///
/// A successful `ChangePassword` returns no events: a password hash is not public, so the
/// runtime stores the new hash in its own table, and the success reply is all that is public.
pub fn decide(
    state: &Member,
    command: &MemberDecision,
    context: &Context,
) -> Result<Vec<MemberEvent>, Rejection> {
    let member = || acting_member(state, context);
    match command {
        MemberDecision::Register(registration) => register(state, registration, context),
        MemberDecision::ChangeNickname(change) => change_nickname(member()?, change, context),
        MemberDecision::ChangePassword {
            current_password_matches,
            new_password,
        } => {
            member()?;
            let mut violations = Violations::new();
            if !current_password_matches {
                violations.add("current_password", "does not match your current password");
            }
            violations.check("new_password", new_password.clone());
            violations.finish(|| Some(Vec::new()))
        }
        MemberDecision::SetAvatar {
            photo_id,
            photo_owned,
        } => set_avatar(member()?, *photo_id, *photo_owned, context),
        MemberDecision::Deactivate => {
            member()?;
            Ok(vec![
                MemberDeactivated {
                    member_id: context.member_id,
                    deactivated_at: context.now,
                }
                .into(),
            ])
        }
    }
}

/// Registration is anonymous: whoever sends it, the new member is `context.member_id`.
fn register(
    state: &Member,
    registration: &Registration,
    context: &Context,
) -> Result<Vec<MemberEvent>, Rejection> {
    if *state.status() != Status::NotRegistered {
        return Err(Rejection::new(
            ErrorCode::Conflict,
            "the member is already registered",
        ));
    }
    Ok(vec![
        MemberRegistered {
            member_id: context.member_id,
            nickname: registration.nickname.as_str().to_owned(),
            registered_at: context.now,
        }
        .into(),
    ])
}

fn change_nickname(
    profile: &Profile,
    change: &ChangeNickname,
    context: &Context,
) -> Result<Vec<MemberEvent>, Rejection> {
    let nickname =
        Nickname::parse(&change.nickname).map_err(|message| invalid("nickname", message))?;
    if nickname == profile.nickname {
        return Ok(Vec::new());
    }
    Ok(vec![
        NicknameChanged {
            member_id: context.member_id,
            nickname: nickname.as_str().to_owned(),
            changed_at: context.now,
        }
        .into(),
    ])
}

fn set_avatar(
    profile: &Profile,
    photo_id: PhotoId,
    photo_owned: bool,
    context: &Context,
) -> Result<Vec<MemberEvent>, Rejection> {
    if !photo_owned {
        return Err(invalid("photo_id", "must be a photo you uploaded"));
    }
    if profile.avatar == Some(photo_id) {
        return Ok(Vec::new());
    }
    Ok(vec![
        AvatarChanged {
            member_id: context.member_id,
            photo_id,
            changed_at: context.now,
        }
        .into(),
    ])
}

/// The profile of the member acting on themselves, or why they may not act.
fn acting_member<'a>(state: &'a Member, context: &Context) -> Result<&'a Profile, Rejection> {
    let Some(actor_id) = context.actor.member_id else {
        return Err(Rejection::new(
            ErrorCode::Unauthenticated,
            "you must be signed in",
        ));
    };
    let profile = match state.status() {
        Status::NotRegistered => {
            return Err(Rejection::new(ErrorCode::NotFound, "no such member"));
        }
        Status::Deactivated => {
            return Err(Rejection::new(
                ErrorCode::Forbidden,
                "the member is deactivated",
            ));
        }
        Status::Active(profile) => profile,
    };
    // The runtime loads the actor's own stream; a mismatch would be a bug there, and must not
    // let one member change another.
    if actor_id != context.member_id {
        return Err(Rejection::new(
            ErrorCode::Forbidden,
            "members can only change themselves",
        ));
    }
    Ok(profile)
}

fn invalid(field: &str, message: impl Into<String>) -> Rejection {
    let mut violations = Violations::new();
    violations.add(field, message);
    violations.into_rejection()
}
