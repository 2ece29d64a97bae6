use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$attr:meta])* $Id:ident) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $Id(Uuid);

        impl $Id {
            /// A fresh UUIDv7: time-ordered, so ids created together sit together in indexes.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $Id {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl From<$Id> for Uuid {
            fn from(id: $Id) -> Self {
                id.0
            }
        }

        impl fmt::Display for $Id {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $Id {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map(Self)
            }
        }
    };
}

uuid_id!(
    /// A member (a registered user).
    MemberId
);
uuid_id!(
    /// A place that can be reviewed and rated.
    PlaceId
);
uuid_id!(
    /// A review of a place by a member.
    ReviewId
);
uuid_id!(
    /// An uploaded photo in object storage.
    PhotoId
);
uuid_id!(
    /// A command; the gateway derives it from `Idempotency-Key` so a retry is the same command.
    CommandId
);
