//! Waypoint's event store: one PostgreSQL database per command service, and the relay that
//! publishes its events to RabbitMQ.
//!
//! # Layout
//! - [`store`]: [`EventStore`] — append (optimistic concurrency and command deduplication in
//!   one statement), load a stream, and read everything in commit order without gaps.
//! - [`model`]: what goes in ([`AppendRequest`], [`NewEvent`]) and what comes out
//!   ([`RecordedEvent`]).
//! - [`relay`]: [`Relay`] — exactly one active publisher per store, confirms before checkpoint.
//! - [`error`]: typed failures; a version clash is [`AppendError::Conflict`].
//!
//! # Commit order
//! Positions come from a sequence, and sequences do not commit in order: position 8 can
//! become visible before position 7. A reader that remembers "the last position I saw" skips
//! 7 forever. Every event also stores its writing transaction's id (`xid8`), and readers go by
//! `(transaction id, position)`, reading only transactions below the oldest one still running
//! (`pg_snapshot_xmin(pg_current_snapshot())`). Everything that can still commit sorts after
//! everything read, so a checkpoint of that pair never skips an event.

mod commit_signal;
pub mod error;
pub mod model;
pub mod relay;
pub mod store;

pub use error::{AppendError, StoreError};
pub use model::{AppendRequest, Appended, EventMetadata, ExpectedVersion, NewEvent, RecordedEvent};
pub use relay::{Relay, RelayConfig, RelayError};
pub use store::EventStore;
