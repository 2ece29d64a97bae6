use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{SERVICE, stream_id};
use crate::event::define_events;
use crate::{MemberId, PhotoId};

define_events! {
    /// What the members service tells everyone else.
    pub enum MemberEvent {
        service: SERVICE,
        stream_id: |event| stream_id(event.member_id),
        variants: {
            MemberRegistered { wire_name: "members.MemberRegistered", schema_version: 1 },
            NicknameChanged { wire_name: "members.NicknameChanged", schema_version: 1 },
            AvatarChanged { wire_name: "members.AvatarChanged", schema_version: 1 },
            MemberDeactivated { wire_name: "members.MemberDeactivated", schema_version: 1 },
        }
    }
}

/// A member joined; the nickname is public, the email is not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRegistered {
    pub member_id: MemberId,
    pub nickname: String,
    #[serde(with = "time::serde::rfc3339")]
    pub registered_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicknameChanged {
    pub member_id: MemberId,
    pub nickname: String,
    #[serde(with = "time::serde::rfc3339")]
    pub changed_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvatarChanged {
    pub member_id: MemberId,
    pub photo_id: PhotoId,
    #[serde(with = "time::serde::rfc3339")]
    pub changed_at: OffsetDateTime,
}

/// The member can do nothing any more; read models show them as "deleted member".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberDeactivated {
    pub member_id: MemberId,
    #[serde(with = "time::serde::rfc3339")]
    pub deactivated_at: OffsetDateTime,
}
