//! How a command service turns one command into events, exactly once.
//!
//! # Layout
//!
//! - [`Aggregate`], [`Loaded`]: an aggregate's state as the fold of its stream.
//! - [`CommandRunner`]: the per-command transaction: load, decide, write private rows and
//!   append the events together with the command's reply record, retrying version conflicts.
//! - [`CommandService`], [`serve`]: a service's command queue, with the deduplication lookup
//!   before any work and the reply published before the ack.
//! - [`host`]: the process around it: database, relay, bus, local copies, health, discovery.
//! - `replies.rs`: `GET /commands/{id}`, a processed command's stored reply, for the gateway.
//!
//! The business rules live in each service's pure `decide`; everything here is the same for
//! every service, so that the exactly-once argument is made once.

mod aggregate;
mod error;
pub mod host;
mod replies;
mod runner;
mod server;

pub use aggregate::{Aggregate, Loaded};
pub use error::HandlerError;
pub use runner::{CommandMeta, CommandRunner, PrivateWrite};
pub use server::{CommandService, ServeConfig, serve};
