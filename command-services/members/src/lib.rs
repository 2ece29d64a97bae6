//! The members command service. Members: registration, profile changes, deactivation and login checks.

pub mod domain;
