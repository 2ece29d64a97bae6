//! The members service through the real bus, with commands built as the gateway builds them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod members {
    pub mod support;

    mod authentication;
    mod profile;
    mod registration;
    mod startup;
}
