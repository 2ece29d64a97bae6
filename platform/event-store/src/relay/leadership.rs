//! One active relay per store: a session-level advisory lock on a dedicated connection.
//!
//! The lock lives exactly as long as the connection. The active relay reads and writes its
//! checkpoint on that same connection, so if the connection dies it cannot go on publishing
//! as if it still led; a standby blocked in `pg_advisory_lock` takes over at once.

use sqlx::{ConnectOptions, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

/// A held leadership: the connection that owns the lock.
#[derive(Debug)]
pub(super) struct Lease {
    connection: PgConnection,
}

impl Lease {
    pub(super) fn connection(&mut self) -> &mut PgConnection {
        &mut self.connection
    }
}

/// Waits until this relay is the active one; `None` if shutdown came first.
pub(super) async fn acquire(
    pool: &PgPool,
    relay: &str,
    shutdown: &CancellationToken,
) -> Result<Option<Lease>, sqlx::Error> {
    let options = pool
        .connect_options()
        .as_ref()
        .clone()
        .application_name(&format!("waypoint-relay {relay}"));
    let mut connection = options.connect().await?;
    let locked =
        sqlx::query("SELECT pg_advisory_lock(hashtextextended('waypoint.relay:' || $1, 0))")
            .bind(relay)
            .execute(&mut connection);
    tokio::select! {
        () = shutdown.cancelled() => return Ok(None),
        result = locked => result?,
    };
    Ok(Some(Lease { connection }))
}
