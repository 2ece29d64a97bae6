//! Integration tests of the event store and relay against real PostgreSQL and RabbitMQ.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod event_store {
    pub mod support;

    pub mod relaying;

    mod append;
    mod read_all;
    mod relay;
}
