//! A host's side of a blue/green switch: it follows which generation is active (woken by
//! `NOTIFY`, polling every second in case a notification is lost) and, when another one is,
//! switches to it without a gap and without applying an event twice:
//!
//! 1. connect to the new generation and migrate it (idempotent: the rebuild did it already);
//! 2. catch it up from the source stores while the old one still serves and consumes;
//! 3. pause the live consumer between batches: from here on nothing reaches the old generation;
//! 4. catch the new one up again, to the commit horizon. Everything the old generation
//!    acknowledged was committed below that horizon, so the new one now holds all of it;
//! 5. swap the queries' pool and router and the consumer's pool in one step, and resume. Queue
//!    messages the catch-up already covered are skipped by the new generation's checkpoints.
//!
//! Each host reports the generation it serves, so the CLI can tell when every running
//! instance has switched.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use event_store::EventStore;
use message_bus::CancellationToken;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tracing::{info, warn};

use crate::ReadModel;
use crate::catchup::{catch_up, catch_up_quietly};
use crate::generations::{self, Generation, GenerationError};
use crate::serving::{Active, Serving};

/// How often the active generation is looked up when no notification comes.
const POLL: Duration = Duration::from_secs(1);

/// Builds the model's query router on a generation's pool.
pub(crate) type RouterFactory = Arc<dyn Fn(PgPool) -> Router + Send + Sync>;

pub(crate) struct Follower<M> {
    pub model: Arc<M>,
    /// The model's database with no generation chosen: the bookkeeping tables, `LISTEN`.
    pub base: PgPool,
    pub sources: Vec<EventStore>,
    pub serving: Serving,
    pub router: RouterFactory,
    pub max_connections: u32,
    pub instance_id: String,
}

impl<M: ReadModel> Follower<M> {
    /// Follows until `stop`; a switch under way when it comes is abandoned (the old generation
    /// keeps serving until the process ends).
    pub async fn run(self, stop: CancellationToken) {
        let mut listener = self.listen().await;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                followed = self.follow() => {
                    if let Err(error) = followed {
                        warn!(model = M::NAME, %error, "could not follow the active generation");
                    }
                }
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(POLL) => {}
                notified = notification(&mut listener) => {
                    if let Err(error) = notified {
                        warn!(model = M::NAME, %error, "lost the switch notifications; polling");
                        listener = None;
                    }
                }
            }
            if listener.is_none() {
                listener = self.listen().await;
            }
        }
        if let Err(error) = generations::forget_instance(&self.base, &self.instance_id).await {
            warn!(%error, "could not remove this instance from the generation report");
        }
    }

    async fn listen(&self) -> Option<PgListener> {
        let listening = async {
            let mut listener = PgListener::connect_with(&self.base).await?;
            listener.listen(generations::CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listening.await {
            Ok(listener) => Some(listener),
            Err(error) => {
                warn!(model = M::NAME, %error, "cannot listen for switches; polling");
                None
            }
        }
    }

    /// Switches if another generation is active, then reports the one served.
    async fn follow(&self) -> Result<(), GenerationError> {
        let active = generations::active(&self.base).await?;
        if active.number != self.serving.current().generation.number {
            self.switch_to(active).await?;
        }
        let serving = self.serving.current().generation.number;
        generations::report_serving(&self.base, &self.instance_id, serving).await?;
        Ok(())
    }

    async fn switch_to(&self, generation: Generation) -> Result<(), GenerationError> {
        let from = self.serving.current().generation.number;
        info!(
            model = M::NAME,
            from,
            to = generation.number,
            "switching generations"
        );
        let pool = generations::connect(&self.base, &generation, self.max_connections).await?;
        crate::migrate(&pool).await?;
        self.model.migrate(&pool).await?;
        catch_up(&pool, self.model.as_ref(), &self.sources).await?;

        let paused = self.serving.pause().await;
        let last = catch_up_quietly(&pool, self.model.as_ref(), &self.sources).await?;
        let router = (self.router)(pool.clone());
        let number = generation.number;
        self.serving.swap(Active {
            generation,
            pool,
            router,
        });
        drop(paused);

        metrics::gauge!("waypoint_projection_generation", "projection" => M::NAME)
            .set(f64::from(number));
        info!(
            model = M::NAME,
            from,
            to = number,
            events_while_paused = last,
            "switched generations"
        );
        Ok(())
    }
}

/// The next notification, or never when there is no listener.
async fn notification(listener: &mut Option<PgListener>) -> Result<(), sqlx::Error> {
    match listener {
        Some(listener) => listener.recv().await.map(|_| ()),
        None => std::future::pending().await,
    }
}
