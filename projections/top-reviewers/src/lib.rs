//! The top-reviewers read model: members ranked by how many live reviews they wrote, then by
//! the average stars those reviews received, then by member id.
//!
//! A review's stars are its author's own rating of the reviewed place (the ratings service's,
//! as the review feed shows them). Only reviews whose author rates the place count toward the
//! average; a member none of whose reviews has stars has no average and ranks after those who
//! have one with as many reviews.
//!
//! # Layout
//! - [`TopReviewers`]: the [`ReadModel`]: its tables (`migrations/`), reset and checksum.
//! - `apply`: how each consumed event changes the tables, one module per source.
//! - [`ranking`]: the ranking as the API shows it, and the read that builds it.
//! - [`http`]: the query API, [`router`].
//!
//! # Invariants
//! - The state is the same whatever the interleaving of the three sources. A member's review
//!   of a place and their rating of it share one `contributions` row, written by reviews
//!   events (the review) and ratings events (the stars) only, so it ends the same in every
//!   order. Each event changes its member's counters by exactly what it changes in that row,
//!   so the counters equal the aggregate of the member's contributions after every event.
//! - Every event is one SQL statement.
//! - The ranking is one scan of the `members_ranking` index, `limit` rows long.
//! - A deactivated member stays ranked as a "deleted member": their reviews are still live
//!   and still shown elsewhere; their nickname is kept but never shown.

/// The embedded defaults (`config/default.toml`): the lowest layer of this read model's settings.
pub const DEFAULT_SETTINGS: &str = include_str!("../config/default.toml");

mod apply;
pub mod http;
pub mod ranking;

pub use http::router;

use projection::tables::Table;
use projection::{ApplyError, IncomingEvent, ReadModel};
use sqlx::{PgConnection, PgPool};

/// The top-reviewers read model.
#[derive(Debug, Clone, Copy, Default)]
pub struct TopReviewers;

impl ReadModel for TopReviewers {
    const NAME: &'static str = "top-reviewers";
    // Edits change neither who wrote a review nor whether it is live, and avatars are not
    // shown, so neither is needed. Places do not matter: a closed place keeps its reviews.
    const EVENT_TYPES: &'static [&'static str] = &[
        events::members::MemberRegistered::WIRE_NAME,
        events::members::NicknameChanged::WIRE_NAME,
        events::members::MemberDeactivated::WIRE_NAME,
        events::reviews::ReviewWritten::WIRE_NAME,
        events::reviews::ReviewDeleted::WIRE_NAME,
        events::ratings::PlaceRated::WIRE_NAME,
        events::ratings::RatingRemoved::WIRE_NAME,
    ];
    const TABLES: &'static [Table] = &[
        Table::new("members", "member_id"),
        Table::new("contributions", "member_id, place_id"),
    ];

    async fn migrate(&self, pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
        let mut migrator = sqlx::migrate!("./migrations");
        // The runner keeps its checkpoint tables' migrations in the same database.
        migrator.set_ignore_missing(true);
        migrator.run(pool).await
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        event: &IncomingEvent,
    ) -> Result<(), ApplyError> {
        apply::apply(conn, event).await
    }
}
