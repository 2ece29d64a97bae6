//! The member-profile read model: each member's public profile (nickname, avatar, joined
//! time, deactivated flag) with how many live reviews they wrote, how many places they rated
//! and the average stars they gave.
//!
//! # Layout
//! - [`MemberProfile`]: the [`ReadModel`]: its tables (`migrations/`), reset and checksum.
//! - `apply`: how each consumed event changes the tables, one module per source.
//! - [`profile`]: a member's profile as the API shows it, and the read that builds it.
//! - [`http`]: the query API, [`router`].
//!
//! # Invariants
//! - The state is the same whatever the interleaving of the three sources: reviews and
//!   ratings are kept as rows of their own, never as counters on the member, so one that comes
//!   before its author's registration counts the same as one that comes after.
//! - A profile exists for queries only once the member's registration has arrived; the
//!   reviews and ratings that came earlier count from then on.
//! - A deactivated member's nickname and avatar are kept but never shown.

/// The embedded defaults (`config/default.toml`): the lowest layer of this read model's settings.
pub const DEFAULT_SETTINGS: &str = include_str!("../config/default.toml");

mod apply;
pub mod http;
pub mod profile;

pub use http::router;

use projection::tables::Table;
use projection::{ApplyError, IncomingEvent, ReadModel};
use sqlx::{PgConnection, PgPool};

/// The member-profile read model.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemberProfile;

impl ReadModel for MemberProfile {
    const NAME: &'static str = "member-profile";
    // Edits change neither who wrote a review nor whether it is live, so they are not needed.
    const EVENT_TYPES: &'static [&'static str] = &[
        events::members::MemberRegistered::WIRE_NAME,
        events::members::NicknameChanged::WIRE_NAME,
        events::members::AvatarChanged::WIRE_NAME,
        events::members::MemberDeactivated::WIRE_NAME,
        events::reviews::ReviewWritten::WIRE_NAME,
        events::reviews::ReviewDeleted::WIRE_NAME,
        events::ratings::PlaceRated::WIRE_NAME,
        events::ratings::RatingRemoved::WIRE_NAME,
    ];
    const TABLES: &'static [Table] = &[
        Table::new("members", "member_id"),
        Table::new("reviews", "review_id"),
        Table::new("ratings", "member_id, place_id"),
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
