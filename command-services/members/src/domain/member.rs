//! The member aggregate: the fold of one member's public events.

use events::PhotoId;
use events::members::MemberEvent;

use super::fields::Nickname;

/// What the decider needs to know about one member. Email and password hash are not here:
/// they are private and never in events, so the runtime keeps them in its own table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Member {
    status: Status,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(super) enum Status {
    #[default]
    NotRegistered,
    Active(Profile),
    /// Final: a deactivated member can do nothing any more, so nothing else is kept.
    Deactivated,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Profile {
    pub(super) nickname: Nickname,
    pub(super) avatar: Option<PhotoId>,
}

impl Member {
    /// Applies what happened. It never fails: an event that cannot follow the current state
    /// (which `decide` never emits) leaves the state as it is rather than stop a replay.
    pub fn evolve(self, event: &MemberEvent) -> Self {
        let status = match (self.status, event) {
            (Status::NotRegistered, MemberEvent::MemberRegistered(registered)) => {
                Status::Active(Profile {
                    nickname: Nickname::from_recorded(&registered.nickname),
                    avatar: None,
                })
            }
            (Status::Active(profile), MemberEvent::NicknameChanged(changed)) => {
                Status::Active(Profile {
                    nickname: Nickname::from_recorded(&changed.nickname),
                    ..profile
                })
            }
            (Status::Active(profile), MemberEvent::AvatarChanged(changed)) => {
                Status::Active(Profile {
                    avatar: Some(changed.photo_id),
                    ..profile
                })
            }
            (Status::Active(_), MemberEvent::MemberDeactivated(_)) => Status::Deactivated,
            (status, _) => status,
        };
        Self { status }
    }

    /// Whether `Authenticate` may accept this member's credentials: registered and not
    /// deactivated. The password check itself is the runtime's (argon2 against its table).
    pub fn can_log_in(&self) -> bool {
        matches!(self.status, Status::Active(_))
    }

    pub(super) fn status(&self) -> &Status {
        &self.status
    }
}
