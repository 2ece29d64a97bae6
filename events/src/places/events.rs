use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Category, SERVICE, stream_id};
use crate::event::define_events;
use crate::{MemberId, PlaceId};

define_events! {
    /// What the places service tells everyone else.
    pub enum PlaceEvent {
        service: SERVICE,
        stream_id: |event| stream_id(event.place_id),
        variants: {
            PlaceAdded { wire_name: "places.PlaceAdded", schema_version: 1 },
            PlaceUpdated { wire_name: "places.PlaceUpdated", schema_version: 1 },
            PlaceClosed { wire_name: "places.PlaceClosed", schema_version: 1 },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaceAdded {
    pub place_id: PlaceId,
    pub name: String,
    pub category: Category,
    pub address: String,
    pub description: String,
    pub added_by: MemberId,
    #[serde(with = "time::serde::rfc3339")]
    pub added_at: OffsetDateTime,
}

/// Only the fields that changed are present; an absent field keeps its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaceUpdated {
    pub place_id: PlaceId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub updated_by: MemberId,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// The place stays visible with its reviews, but takes no new reviews or ratings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaceClosed {
    pub place_id: PlaceId,
    pub closed_by: MemberId,
    #[serde(with = "time::serde::rfc3339")]
    pub closed_at: OffsetDateTime,
}
