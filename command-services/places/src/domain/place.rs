//! `Place`: the fold of one place's stream.

use events::MemberId;
use events::places::{Category, PlaceEvent};

use super::fields::{Address, Description, PlaceName};

/// What `decide` needs to know about one place. The default is a place that does not exist
/// yet: the state of an empty stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Place {
    details: Option<Details>,
}

/// A place that has been added. Kept apart from [`Place`] so that "added" is one `Option`
/// rather than a flag every field would have to be read together with.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Details {
    pub(super) name: PlaceName,
    pub(super) category: Category,
    pub(super) address: Address,
    pub(super) description: Description,
    pub(super) added_by: MemberId,
    pub(super) open: bool,
}

impl Place {
    /// Applies one recorded event. Never fails and never validates: the event already
    /// happened. An event that cannot apply (an update before the place was added) leaves the
    /// state as it is rather than inventing a place.
    pub fn evolve(self, event: &PlaceEvent) -> Self {
        match event {
            PlaceEvent::PlaceAdded(added) => Self {
                details: Some(Details {
                    name: PlaceName::from_recorded(&added.name),
                    category: added.category,
                    address: Address::from_recorded(&added.address),
                    description: Description::from_recorded(&added.description),
                    added_by: added.added_by,
                    open: true,
                }),
            },
            PlaceEvent::PlaceUpdated(updated) => self.map_details(|details| Details {
                name: updated
                    .name
                    .as_deref()
                    .map_or(details.name, PlaceName::from_recorded),
                category: updated.category.unwrap_or(details.category),
                address: updated
                    .address
                    .as_deref()
                    .map_or(details.address, Address::from_recorded),
                description: updated
                    .description
                    .as_deref()
                    .map_or(details.description, Description::from_recorded),
                ..details
            }),
            PlaceEvent::PlaceClosed(_) => self.map_details(|details| Details {
                open: false,
                ..details
            }),
        }
    }

    fn map_details(self, change: impl FnOnce(Details) -> Details) -> Self {
        Self {
            details: self.details.map(change),
        }
    }

    /// Whether the place has been added.
    pub fn exists(&self) -> bool {
        self.details.is_some()
    }

    /// Whether the place exists and has not been closed: only an open place takes new
    /// reviews, ratings and updates.
    pub fn is_open(&self) -> bool {
        self.details.as_ref().is_some_and(|details| details.open)
    }

    /// Who added the place; `None` while it does not exist.
    pub fn added_by(&self) -> Option<MemberId> {
        self.details.as_ref().map(|details| details.added_by)
    }

    pub fn name(&self) -> Option<&PlaceName> {
        self.details.as_ref().map(|details| &details.name)
    }

    pub fn category(&self) -> Option<Category> {
        self.details.as_ref().map(|details| details.category)
    }

    pub fn address(&self) -> Option<&Address> {
        self.details.as_ref().map(|details| &details.address)
    }

    pub fn description(&self) -> Option<&Description> {
        self.details.as_ref().map(|details| &details.description)
    }

    pub(super) fn details(&self) -> Option<&Details> {
        self.details.as_ref()
    }
}
