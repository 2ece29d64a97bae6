//! The whole system under test comes from `system-testkit`, shared with the CLI's tests.

pub use system_testkit::*;
