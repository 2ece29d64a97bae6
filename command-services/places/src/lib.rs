//! The places command service: adding, updating and closing places.
//!
//! - [`domain`]: the pure decider and its tests.
//! - [`service`]: the command handler around it: the actor's active flag from the local
//!   copy, the new place's id, the append.

pub mod domain;
pub mod service;

pub use service::PlacesService;

/// The embedded default settings (`config/default.toml`).
pub const DEFAULT_SETTINGS: &str = include_str!("../config/default.toml");

/// How the host runs this service.
pub const HOST_OPTIONS: command_handler::host::HostOptions = command_handler::host::HostOptions {
    service: events::places::SERVICE,
    version: env!("CARGO_PKG_VERSION"),
    local_copies: true,
};
