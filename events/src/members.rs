//! The members service: registration, profiles and credentials.
//!
//! Email and password hash never leave this service, so no event carries them.

mod commands;
mod events;

pub use commands::{
    Authenticate, ChangeNickname, ChangePassword, Deactivate, MemberCommand, Register, SetAvatar,
};
pub use events::{
    AvatarChanged, MemberDeactivated, MemberEvent, MemberRegistered, NicknameChanged,
};

use crate::MemberId;

pub const SERVICE: &str = "members";

/// The stream of one member's events.
pub fn stream_id(member_id: MemberId) -> String {
    format!("member-{member_id}")
}
