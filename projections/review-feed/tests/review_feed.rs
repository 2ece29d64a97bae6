#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The review-feed read model against real PostgreSQL: what each event does, duplicates,
//! poison events, convergence across interleavings, and the query API.

mod review_feed {
    pub mod support;

    mod apply;
    mod convergence;
    mod delivery;
    mod queries;
}
