//! Waking relays after a commit: one `NOTIFY` for a burst of appends.
//!
//! A trigger could notify, but `NOTIFY` takes a cluster-wide lock at commit and holds it
//! through the WAL flush, which serialises every appending transaction (measured here: 2.6×
//! fewer inserts per second). So the store notifies itself, after the commit, from one task per
//! store handle: appends that land while a notification is in flight share the next one.
//! Notifications are also spaced at least [`MIN_SPACING`] apart: each costs the server a
//! round trip and a transaction, and under a heavy append load those would take a visible share
//! of the CPU that appends need, while a relay that is busy publishing gains nothing from them.
//! A notification lost to a crash only delays the relay until its next poll.

use sqlx::PgPool;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::debug;

/// The channel relays LISTEN on.
pub(crate) const CHANNEL: &str = "waypoint_events_appended";

/// At most this often per store handle: at most 2 ms of extra relay latency.
const MIN_SPACING: Duration = Duration::from_millis(2);

#[derive(Debug, Clone)]
pub(crate) struct CommitSignal {
    pending: mpsc::Sender<()>,
}

impl CommitSignal {
    /// Starts the notifying task; it ends when the last handle is dropped.
    pub(crate) fn spawn(pool: PgPool) -> Self {
        // Capacity one: a second signal while one is pending adds nothing.
        let (pending, mut signals) = mpsc::channel::<()>(1);
        tokio::spawn(async move {
            while signals.recv().await.is_some() {
                if let Err(error) = sqlx::query("SELECT pg_notify($1, '')")
                    .bind(CHANNEL)
                    .execute(&pool)
                    .await
                {
                    debug!(%error, "could not notify relays; they will poll");
                }
                tokio::time::sleep(MIN_SPACING).await;
            }
        });
        Self { pending }
    }

    pub(crate) fn raise(&self) {
        // Full means a notification is already due, which covers this commit too.
        let _ = self.pending.try_send(());
    }
}
