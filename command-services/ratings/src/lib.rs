//! The ratings command service. Ratings: one star rating per member and place.
//!
//! - [`domain`]: the pure decider and its tests.
//! - [`service`]: the command handler around it: the actor's active flag and the place's
//!   status from the local copies, the actor's rating stream, the append.

pub mod domain;
pub mod service;

pub use service::RatingsService;

/// The embedded default settings (`config/default.toml`).
pub const DEFAULT_SETTINGS: &str = include_str!("../config/default.toml");

/// How the host runs this service.
pub const HOST_OPTIONS: command_handler::host::HostOptions = command_handler::host::HostOptions {
    service: events::ratings::SERVICE,
    version: env!("CARGO_PKG_VERSION"),
    local_copies: true,
};
