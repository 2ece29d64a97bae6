//! Integration tests against the real broker. Each test has its own `t_<hex>` names and its own
//! connection name, and removes its exchanges and queues at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod batches;
mod connection;
mod poison;
mod round_trip;
mod rpc;
mod support;
