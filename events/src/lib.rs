//! Waypoint's shared language: the public contracts that cross a service boundary.
//!
//! Everything here is plain data with serde; the crate does no I/O and depends only on serde,
//! uuid and time, so every service can share it without inheriting anyone's runtime.
//!
//! # Layout
//!
//! - [`members`], [`places`], [`reviews`], [`ratings`]: one module per service with its
//!   `SERVICE` name, its public event enum, its command enum and its stream ids.
//! - [`Event`] and [`Command`]: what generic code (relay, projections, gateway, command
//!   dispatch) needs from those enums: wire names, schema versions, decoding.
//! - [`CommandEnvelope`], [`Actor`]: a command on its way to a service, and who sent it.
//! - [`CommandReply`]: what a command service answers.
//! - [`RecordedEvent`]: an event as its store recorded it: the relay's message body.
//! - [`Checkpoint`], [`ConsistencyToken`]: positions in an event store's commit order, and the
//!   read-your-writes token handed to clients.
//! - Typed ids: [`MemberId`], [`PlaceId`], [`ReviewId`], [`PhotoId`], [`CommandId`].
//!
//! # Wire format
//!
//! A payload is the JSON of the variant's struct alone; its wire name (`<service>.<Type>`)
//! and, for events, its schema version travel beside it (AMQP routing key and headers, event
//! store columns, `command_type`). That is why the enums implement `Serialize` but not
//! `Deserialize`: decoding needs the wire name, see [`Event::decode`] and
//! [`Command::decode`].

mod checkpoint;
mod command;
mod consistency;
mod envelope;
mod event;
mod ids;
mod recorded;
mod reply;
mod secret;

pub mod members;
pub mod places;
pub mod ratings;
pub mod reviews;

pub use checkpoint::Checkpoint;
pub use command::{Command, CommandDecodeError};
pub use consistency::{ConsistencyToken, ParseConsistencyTokenError};
pub use envelope::{Actor, CommandEnvelope, Role};
pub use event::{DecodeError, Event};
pub use ids::{CommandId, MemberId, PhotoId, PlaceId, ReviewId};
pub use recorded::RecordedEvent;
pub use reply::{AuthenticatedMember, CommandReply, ErrorCode, FieldError, Rejection, Success};
pub use secret::Secret;
