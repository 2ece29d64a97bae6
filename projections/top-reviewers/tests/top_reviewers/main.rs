//! The top-reviewers read model against a real PostgreSQL, one fresh database per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod convergence;
mod delivery;
mod events;
mod http;
mod support;
