//! The gateway against real Redis, RabbitMQ, PostgreSQL and S3, with the services it talks to
//! running in-process. Every test has its own prefixes, databases, bucket and port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod auth;
mod bad_input;
mod commands;
mod limits;
mod members_top;
mod openapi;
mod photos;
mod proxy;
