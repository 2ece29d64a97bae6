//! The members command service: registration, profile changes, deactivation and login checks.
//!
//! # Layout
//!
//! - [`domain`]: the pure decider and its tests.
//! - [`service`]: the command handler around it: the credentials table (email reservation
//!   and password hash, written in the same transaction as the events), argon2id, the avatar's
//!   owner in object storage, and `Authenticate`, which answers without recording anything.
//!
//! # Invariants
//!
//! - Email and password hash never leave this service: no event and no reply carries them.
//! - A member's credentials row and their stream change in one transaction.

pub mod domain;
pub mod service;

pub use service::{AuthSettings, MembersService, MembersSettings};

/// The embedded default settings (`config/default.toml`).
pub const DEFAULT_SETTINGS: &str = include_str!("../config/default.toml");

/// How the host runs this service. Members owns member state itself, so it keeps no local
/// copies.
pub const HOST_OPTIONS: command_handler::host::HostOptions = command_handler::host::HostOptions {
    service: events::members::SERVICE,
    version: env!("CARGO_PKG_VERSION"),
    local_copies: false,
};
