use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What kind of place it is. Closed: a new category is a contract change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Restaurant,
    Cafe,
    Bar,
    Museum,
    Park,
    Hotel,
    Shop,
    Other,
}

impl Category {
    pub const ALL: [Self; 8] = [
        Self::Restaurant,
        Self::Cafe,
        Self::Bar,
        Self::Museum,
        Self::Park,
        Self::Hotel,
        Self::Shop,
        Self::Other,
    ];

    /// The wire name, also fit for a database column or a query parameter.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Restaurant => "restaurant",
            Self::Cafe => "cafe",
            Self::Bar => "bar",
            Self::Museum => "museum",
            Self::Park => "park",
            Self::Hotel => "hotel",
            Self::Shop => "shop",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = UnknownCategory;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|category| category.as_str() == s)
            .ok_or_else(|| UnknownCategory(s.to_owned()))
    }
}

/// The string names no [`Category`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCategory(pub String);

impl fmt::Display for UnknownCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown place category `{}`", self.0)
    }
}

impl std::error::Error for UnknownCategory {}
