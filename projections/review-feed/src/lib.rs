//! The review-feed read model: a place's reviews (newest or most stars first), a member's
//! reviews and single reviews, each with its author, place, photos and the author's stars.
//!
//! # Layout
//! - [`ReviewFeed`]: the [`ReadModel`]: its tables (`migrations/`), reset and checksum.
//! - `apply`: how each consumed event changes the tables, one module per source.
//! - [`read`]: the queries as functions over the pool, and the JSON shape of a review.
//! - [`http`]: the query API, [`router`].
//!
//! # Invariants
//! - The state is the same whatever the interleaving of the four sources. Each source's data
//!   lives in its own copy table (`authors`, `places`, `stars`), written by that source only.
//!   Nicknames, avatars and place names are joined at query time, so they need no fan-out.
//!   A review's copy of its author's stars is taken from `stars` when the review arrives and
//!   updated by every rating event after it, so it always equals `stars`.
//! - `reviews` holds live reviews only: a deleted review is gone from every query.
//! - Every event is one SQL statement.

/// The embedded defaults (`config/default.toml`): the lowest layer of this read model's settings.
pub const DEFAULT_SETTINGS: &str = include_str!("../config/default.toml");

mod apply;
pub mod http;
pub mod read;

pub use http::router;

use projection::tables::Table;
use projection::{ApplyError, IncomingEvent, ReadModel};
use sqlx::{PgConnection, PgPool};

/// The review-feed read model.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReviewFeed;

impl ReadModel for ReviewFeed {
    const NAME: &'static str = "review-feed";
    const EVENT_TYPES: &'static [&'static str] = &[
        events::reviews::ReviewWritten::WIRE_NAME,
        events::reviews::ReviewEdited::WIRE_NAME,
        events::reviews::ReviewDeleted::WIRE_NAME,
        events::members::MemberRegistered::WIRE_NAME,
        events::members::NicknameChanged::WIRE_NAME,
        events::members::AvatarChanged::WIRE_NAME,
        events::members::MemberDeactivated::WIRE_NAME,
        events::places::PlaceAdded::WIRE_NAME,
        events::places::PlaceUpdated::WIRE_NAME,
        events::ratings::PlaceRated::WIRE_NAME,
        events::ratings::RatingRemoved::WIRE_NAME,
    ];
    const TABLES: &'static [Table] = &[
        Table::new("authors", "member_id"),
        Table::new("places", "place_id"),
        Table::new("stars", "member_id, place_id"),
        Table::new("reviews", "review_id"),
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
