use serde::{Deserialize, Serialize};

use super::SERVICE;
use crate::PlaceId;
use crate::command::define_commands;

define_commands! {
    /// What the places service can be asked to do.
    pub enum PlaceCommand {
        service: SERVICE,
        variants: {
            AddPlace { wire_name: "places.AddPlace" },
            UpdatePlace { wire_name: "places.UpdatePlace" },
            ClosePlace { wire_name: "places.ClosePlace" },
        }
    }
}

/// `category` is a plain string so that an unknown one becomes a field error when the service
/// parses it into a [`Category`](super::Category), not an undecodable command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddPlace {
    pub name: String,
    pub category: String,
    pub address: String,
    pub description: String,
}

/// Absent fields stay as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdatePlace {
    pub place_id: PlaceId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosePlace {
    pub place_id: PlaceId,
}
