//! Read models under test: workloads of events across the four sources, real source stores,
//! and the convergence check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod convergence;
pub mod http;
pub mod model;
pub mod workload;

pub use convergence::{Converged, converge, settings, wait_until_readable};
pub use workload::{AnyEvent, Workload};
