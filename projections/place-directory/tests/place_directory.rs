#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The place-directory read model against real PostgreSQL: what each event does, duplicates,
//! poison events, convergence across interleavings, and the query API.

mod place_directory {
    pub mod support;

    mod apply;
    mod convergence;
    mod queries;
}
