//! The ratings service through the real bus, with commands built as the gateway builds them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ratings {
    pub mod broker_stats;
    pub mod held_appends;
    pub mod support;

    mod commands;
    mod instances;
    mod places_and_members;
    mod validation;
}
