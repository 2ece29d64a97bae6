//! Waking the relay: LISTEN/NOTIFY for speed, a poll interval for safety.

use crate::commit_signal::CHANNEL;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::warn;

pub(super) struct Wakeup {
    /// `None` while LISTEN is unavailable; polling alone still makes progress.
    listener: Option<PgListener>,
    poll_interval: Duration,
}

impl std::fmt::Debug for Wakeup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wakeup")
            .field("listening", &self.listener.is_some())
            .field("poll_interval", &self.poll_interval)
            .finish()
    }
}

impl Wakeup {
    pub(super) async fn listen(pool: &PgPool, poll_interval: Duration) -> Self {
        let listener = match PgListener::connect_with(pool).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => Some(listener),
                Err(error) => {
                    warn!(%error, "LISTEN failed; relay falls back to polling");
                    None
                }
            },
            Err(error) => {
                warn!(%error, "LISTEN connection failed; relay falls back to polling");
                None
            }
        };
        Self {
            listener,
            poll_interval,
        }
    }

    /// Returns after a notification or `limit` (at most the poll interval); true if shutdown
    /// came first.
    pub(super) async fn wait_at_most(
        &mut self,
        limit: Duration,
        shutdown: &CancellationToken,
    ) -> bool {
        let poll = tokio::time::sleep(limit.min(self.poll_interval));
        let notified = async {
            match self.listener.as_mut() {
                // `Ok(None)` means the listener lost its connection (and notifications with
                // it); waking up to read is the right answer either way.
                Some(listener) => {
                    if let Err(error) = listener.try_recv().await {
                        warn!(%error, "LISTEN connection failed");
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => true,
            () = poll => false,
            () = notified => false,
        }
    }
}
