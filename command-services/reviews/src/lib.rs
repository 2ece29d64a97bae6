//! The reviews command service. Reviews: writing, editing and deleting reviews of places.
//!
//! # Layout
//!
//! - [`domain`]: the pure decider and its tests.
//! - [`service`]: the command handler around it: the actor's active flag and the place's
//!   status from the local copies, the photos' owners from object storage, the append.
//! - `reservations`: one review per member per place, as rows written in the same
//!   transaction as the review's events.
//! - [`photos`]: the service's photo settings and the owner check of a command's photos.

pub mod domain;
pub mod photos;
mod reservations;
pub mod service;

pub use photos::ReviewsSettings;
pub use service::ReviewsService;

/// The embedded default settings (`config/default.toml`).
pub const DEFAULT_SETTINGS: &str = include_str!("../config/default.toml");

/// How the host runs this service.
pub const HOST_OPTIONS: command_handler::host::HostOptions = command_handler::host::HostOptions {
    service: events::reviews::SERVICE,
    version: env!("CARGO_PKG_VERSION"),
    local_copies: true,
};
