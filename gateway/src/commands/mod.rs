//! Commands: built into the envelope with the caller as actor, sent over the bus, and the
//! reply mapped to HTTP. No reply in time means 202 Accepted: the command is durably queued
//! and will run; `GET /api/v1/commands/{id}` follows it.
//!
//! # Layout
//!
//! - `context.rs`: [`CommandContext`], what a request brings to its command (actor, command
//!   id from `Idempotency-Key`, traceparent).
//! - `dispatch.rs`: [`Dispatcher`], sending (in a `command.publish` span, whose trace context
//!   the envelope carries) and waiting, and [`Dispatched`], the answer.
//! - `status.rs`: accepted commands remembered in Redis, and their status route.

mod context;
mod dispatch;
mod status;

pub use context::CommandContext;
pub use dispatch::{Dispatched, Dispatcher};
pub use status::StatusStore;
pub use status::router;
