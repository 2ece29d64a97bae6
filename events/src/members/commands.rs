use serde::{Deserialize, Serialize};

use super::SERVICE;
use crate::command::define_commands;
use crate::{PhotoId, Secret};

define_commands! {
    /// What the members service can be asked to do. Every command but `Register` and
    /// `Authenticate` acts on the actor's own member.
    pub enum MemberCommand {
        service: SERVICE,
        variants: {
            Register { wire_name: "members.Register" },
            ChangeNickname { wire_name: "members.ChangeNickname" },
            ChangePassword { wire_name: "members.ChangePassword" },
            SetAvatar { wire_name: "members.SetAvatar" },
            Deactivate { wire_name: "members.Deactivate" },
            Authenticate { wire_name: "members.Authenticate" },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Register {
    pub email: String,
    pub password: Secret,
    pub nickname: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeNickname {
    pub nickname: String,
}

/// Needs the current password too, so a hijacked session cannot lock the owner out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangePassword {
    pub current_password: Secret,
    pub new_password: Secret,
}

/// The photo was already uploaded through the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAvatar {
    pub photo_id: PhotoId,
}

// Braces, not a unit struct: the payload must be `{}` like every other, not `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deactivate {}

/// A login check; a success reply carries the member and roles for the gateway's session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authenticate {
    pub email: String,
    pub password: Secret,
}
