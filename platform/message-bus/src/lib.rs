//! Waypoint's RabbitMQ layer: the topology, a connection that recovers by itself, publishing
//! with confirms, a consumer runner that retries and dead-letters, and command request/reply.
//!
//! # Layout
//! - [`topology`]: exchange and queue names ([`BusNames`]) and what is declared on every
//!   connection ([`Topology`]).
//! - [`connection`]: [`Bus`], the supervised connection that reconnects with backoff and
//!   re-declares the topology; channels come from its current generation.
//! - [`publisher`]: [`Publisher`], pipelined persistent publishing with broker confirms.
//! - [`consumer`]: [`run_consumer`], ack-after-handling with retries at the queue's tail and a
//!   dead-letter queue after `max_attempts`.
//! - [`rpc`]: [`CommandClient`] (direct reply-to) and [`serve_commands`].
//! - [`message`]: [`OutgoingMessage`], [`IncomingMessage`] and the header names.
//! - [`error`]: one error type per job.
//!
//! # Invariants
//! - Every message is persistent JSON and carries `message-id`, `correlation-id` and (when known)
//!   `traceparent`, as AMQP properties where those exist and as headers.
//! - A message is acked only after its handler returned `Ok`; a failed message is acked only
//!   after its retry or dead-letter copy is confirmed. Nothing is dropped; duplicates are possible
//!   (at-least-once), so handlers deduplicate by message id.
//! - Connection loss surfaces as [`PublishError::ConnectionLost`] for unconfirmed publishes and
//!   is otherwise invisible: consumers resume, publishers and clients open new channels.

pub mod connection;
pub mod consumer;
pub mod error;
pub mod message;
pub mod publisher;
pub mod rpc;
pub mod topology;

pub use connection::{Bus, BusChannel, BusConfig, ConnectOptions};
pub use consumer::{BatchHandled, ConsumerConfig, run_batch_consumer, run_consumer};
pub use error::{BusError, ConsumerError, HandlingError, PublishError, RpcError};
pub use message::{IncomingMessage, OutgoingMessage, headers};
pub use publisher::{Confirmed, PendingConfirm, Publisher};
pub use rpc::{CommandClient, DIRECT_REPLY_TO, RpcOutcome, serve_commands};
pub use topology::{BusNames, ExchangeType, QueueKind, Topology};

/// The AMQP client underneath, for the types that appear in this API ([`lapin::Channel`],
/// [`lapin::types::FieldTable`]).
pub use lapin;
/// The shutdown signal the runners take.
pub use tokio_util::sync::CancellationToken;
