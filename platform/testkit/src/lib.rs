//! Isolated, real infrastructure for integration tests.
//!
//! # Layout
//! - [`database`]: a fresh PostgreSQL database per test.
//! - [`rabbitmq`]: broker addresses, per-test name prefixes and the management API.
//! - [`poll`]: waiting for a condition with a deadline instead of sleeping.
//!
//! Every test gets its own database and its own `t_<uuid>` prefix for exchange and queue names,
//! so tests run in parallel against the same servers without seeing each other.
//!
//! The addresses come from `WAYPOINT_TEST_POSTGRES_URL`, `WAYPOINT_TEST_AMQP_URL`,
//! `WAYPOINT_TEST_RABBITMQ_MANAGEMENT_URL` and `WAYPOINT_TEST_REDIS_URL`, defaulting to the local
//! servers `cargo xtask test` starts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod database;
pub mod poll;
pub mod rabbitmq;

/// The Redis the tests use: `WAYPOINT_TEST_REDIS_URL`, or the local server.
pub fn redis_url() -> String {
    std::env::var("WAYPOINT_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A short unique token for naming per-test resources.
pub fn unique_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}
