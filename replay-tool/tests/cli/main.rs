//! The `waypoint` CLI against a running system: the services in-process, the CLI's commands
//! run as `main` runs them, with their output captured.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod adding;
mod config;
mod dlq;
mod events;
mod rebuild;
mod replay;
mod status;
mod support;
