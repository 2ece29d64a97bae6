//! Blue/green rebuilds, as `waypoint rebuild` runs them: build the next generation from the
//! source stores beside the one that serves, then make it active; roll back to the previous
//! one; drop retired ones. Hosts follow the switch by themselves (see `follower`); when none
//! runs, activation here is the whole switch, and a host that starts later serves the active
//! generation.

use std::time::{Duration, Instant};

use event_store::EventStore;
use serde::Serialize;
use sqlx::PgPool;

use crate::ReadModel;
use crate::catchup::{catch_up, catch_up_observed, pending};
use crate::generations::{
    self, Activation, Generation, GenerationError, Instance, RebuildLock, State,
};

/// How often [`Rebuild::wait_until_served`] looks.
const WAIT_STEP: Duration = Duration::from_millis(100);

/// What a long catch-up reports as it goes.
pub trait Progress: Send {
    /// How many of the model's events are ahead.
    fn total(&mut self, events: u64);
    /// How many more were done.
    fn advance(&mut self, events: u64);
}

/// No progress report.
impl Progress for () {
    fn total(&mut self, _events: u64) {}
    fn advance(&mut self, _events: u64) {}
}

/// A generation filled from the stores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Built {
    pub generation: Generation,
    /// The model's events read from the stores.
    pub events: u64,
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
}

impl Built {
    pub fn events_per_second(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.events as f64 / seconds
        } else {
            0.0
        }
    }
}

fn seconds<S: serde::Serializer>(elapsed: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(elapsed.as_secs_f64())
}

/// Which running instances serve what, once every one serves the awaited generation or the
/// wait ran out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Served {
    pub instances: Vec<Instance>,
    /// Every running instance serves the awaited generation (true when none runs).
    pub complete: bool,
}

/// One model's generations, held exclusively: two rebuilds of a model never interleave.
pub struct Rebuild<'m, M> {
    base: PgPool,
    model: &'m M,
    sources: Vec<EventStore>,
    max_connections: u32,
    lock: RebuildLock,
}

impl<M: ReadModel> std::fmt::Debug for Rebuild<'_, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rebuild")
            .field("model", &M::NAME)
            .field("sources", &self.sources.len())
            .finish_non_exhaustive()
    }
}

impl<'m, M: ReadModel> Rebuild<'m, M> {
    /// Takes the model's rebuild lock on `base` (its database), or answers
    /// [`GenerationError::Busy`]. `sources` are the stores its events come from.
    pub async fn begin(
        base: PgPool,
        model: &'m M,
        sources: Vec<EventStore>,
        max_connections: u32,
    ) -> Result<Self, GenerationError> {
        generations::ensure(&base).await?;
        let lock = RebuildLock::acquire(&base).await?;
        Ok(Self {
            base,
            model,
            sources,
            max_connections,
            lock,
        })
    }

    /// Every generation, oldest first.
    pub async fn generations(&self) -> Result<Vec<Generation>, GenerationError> {
        Ok(generations::list(&self.base).await?)
    }

    /// Builds the next generation from the stores, while the active one keeps serving and
    /// consuming. A generation an earlier, interrupted rebuild left behind is dropped first.
    pub async fn build(&self, progress: &mut dyn Progress) -> Result<Built, GenerationError> {
        for abandoned in generations::drop_abandoned(&self.base).await? {
            tracing::info!(
                model = M::NAME,
                generation = abandoned.number,
                "dropped a generation an interrupted rebuild left behind"
            );
        }
        let generation = generations::create_next(&self.base).await?;
        self.fill(generation, progress).await
    }

    /// Catches `generation` up from the stores, from wherever it stands.
    async fn fill(
        &self,
        generation: Generation,
        progress: &mut dyn Progress,
    ) -> Result<Built, GenerationError> {
        let pool = self.connect(&generation).await?;
        progress.total(pending::<M>(&pool, &self.sources).await?);
        let started = Instant::now();
        let mut events = 0_u64;
        catch_up_observed(&pool, self.model, &self.sources, &mut |done| {
            events += done;
            progress.advance(done);
        })
        .await?;
        let elapsed = started.elapsed();
        pool.close().await;
        Ok(Built {
            generation,
            events,
            elapsed,
        })
    }

    /// Catches `generation` up to the commit horizon and makes it active. Running hosts switch
    /// to it by themselves (each with a final catch-up of its own while its consumer pauses).
    pub async fn activate(&self, generation: &Generation) -> Result<Activation, GenerationError> {
        let pool = self.connect(generation).await?;
        catch_up(&pool, self.model, &self.sources).await?;
        pool.close().await;
        generations::activate(&self.base, generation.number).await
    }

    /// Makes the generation that served before the active one active again. It is stale, so it
    /// is caught up from the stores first, exactly like a new one.
    pub async fn rollback(
        &self,
        progress: &mut dyn Progress,
    ) -> Result<(Built, Activation), GenerationError> {
        let previous = generations::list(&self.base)
            .await?
            .into_iter()
            .filter(|generation| generation.state == State::Retired)
            .max_by_key(|generation| (generation.retired_at, generation.number))
            .ok_or(GenerationError::NothingToRollBack)?;
        let built = self.fill(previous, progress).await?;
        let activation = self.activate(&built.generation).await?;
        Ok((built, activation))
    }

    /// Drops every retired generation (never the active one).
    pub async fn drop_old(&self) -> Result<Vec<Generation>, GenerationError> {
        generations::drop_retired(&self.base).await
    }

    /// Waits up to `within` until every running instance serves `generation`.
    pub async fn wait_until_served(
        &self,
        generation: i32,
        within: Duration,
    ) -> Result<Served, GenerationError> {
        let deadline = Instant::now() + within;
        loop {
            let instances = generations::instances(&self.base).await?;
            let complete = instances
                .iter()
                .all(|instance| instance.generation == generation);
            if complete || Instant::now() >= deadline {
                return Ok(Served {
                    instances,
                    complete,
                });
            }
            tokio::time::sleep(WAIT_STEP).await;
        }
    }

    /// Releases the lock.
    pub async fn finish(self) {
        self.lock.release().await;
    }

    async fn connect(&self, generation: &Generation) -> Result<PgPool, GenerationError> {
        let pool = generations::connect(&self.base, generation, self.max_connections).await?;
        crate::migrate(&pool).await?;
        self.model.migrate(&pool).await?;
        Ok(pool)
    }
}
