//! Waypoint as a whole, as separate processes on this machine: what `cargo xtask bench system`
//! measures and `cargo xtask chaos` breaks.
//!
//! # Layout
//! - [`names`]: one run's names on the shared servers (databases, broker prefix, Redis prefix,
//!   bucket), all derived from a label and a random id.
//! - [`programs`]: the nine programs and the variables that put each on the run's names and a
//!   port of its own.
//! - [`launcher`]: [`System`], the processes: started one by one and timed to ready, killed
//!   (SIGKILL) and restarted, their memory and CPU time; then everything removed, even after
//!   a failure.
//! - [`settle`]: waiting until the read models have caught up with the stores.
//! - [`teardown`]: what removing a run's leftovers means.
//!
//! A run's logs stay in `target/system/<run>/`, one file per process.

pub mod launcher;
pub mod names;
pub mod programs;
pub mod settle;
pub mod teardown;

pub use launcher::{Options, System};
pub use names::RunNames;
pub use programs::{Build, ProcessSpec, Program, build, whole_system};
