//! The place-directory read model: places to search by name or text, filter by category and
//! sort by rating, review count or age, each with its ratings histogram and review count.
//!
//! # Layout
//! - [`PlaceDirectory`]: the [`ReadModel`]: its tables (`migrations/`), reset and checksum.
//! - `apply`: how each consumed event changes the tables, one module per source.
//! - `http`: the query API, [`router`]: search (`GET /places`) and detail
//!   (`GET /places/{place_id}`).
//!
//! # Choices
//! - Rating and review aggregates are kept up to date in `apply` (one statement per event
//!   moves the copy row and the aggregate together) rather than computed per query: sorting by
//!   average stars or review count then reads an index in order and stops after one page,
//!   whatever the number of ratings. They live in `place_stats`, apart from `places`, so a
//!   rating touches a narrow row and its small indexes, never the text or its GIN index.
//! - Full text uses the `simple` configuration: place names are proper nouns in any language,
//!   which English stemming and stop words would mangle; the name-prefix match finds a place
//!   while its name is still being typed.
//!
//! # Invariants
//! - The state is the same whatever the interleaving of the three sources: ratings and
//!   reviews are kept per member and place and per review, so a rating or a review that comes
//!   before its place is counted the same as one that comes after.
//! - `place_stats` (histogram, review count) always equals what `ratings` and `reviews` hold
//!   for the place: every statement that changes one changes the other.
//! - Queries show only places the places service has added; closed places stay, flagged.

/// The embedded defaults (`config/default.toml`): the lowest layer of this read model's settings.
pub const DEFAULT_SETTINGS: &str = include_str!("../config/default.toml");

mod apply;
mod http;

pub use http::router;

use projection::tables::Table;
use projection::{ApplyError, IncomingEvent, ReadModel};
use sqlx::{PgConnection, PgPool};

/// The place-directory read model.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlaceDirectory;

impl ReadModel for PlaceDirectory {
    const NAME: &'static str = "place-directory";
    const EVENT_TYPES: &'static [&'static str] = &[
        events::places::PlaceAdded::WIRE_NAME,
        events::places::PlaceUpdated::WIRE_NAME,
        events::places::PlaceClosed::WIRE_NAME,
        events::reviews::ReviewWritten::WIRE_NAME,
        events::reviews::ReviewDeleted::WIRE_NAME,
        events::ratings::PlaceRated::WIRE_NAME,
        events::ratings::RatingRemoved::WIRE_NAME,
    ];
    const TABLES: &'static [Table] = &[
        Table::new("places", "place_id"),
        Table::new("place_stats", "place_id"),
        Table::new("ratings", "place_id, member_id"),
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
