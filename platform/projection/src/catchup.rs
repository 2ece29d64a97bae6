//! Catching up from the source event stores directly, with the reader the CLI uses
//! (`EventStore::read_all`): how a new or reset model gets its history without anyone
//! republishing it.

use event_store::{EventStore, StoreError};
use events::Checkpoint;
use sqlx::PgPool;
use tracing::info;

use crate::{ReadModel, apply_batch, checkpoints};

impl CatchUpError {
    /// Names the source in a store error.
    pub fn from_store(name: &str) -> impl FnOnce(StoreError) -> Self + '_ {
        move |error| Self::Source {
            name: name.to_owned(),
            error,
        }
    }
}

/// Events read from a source per round, applied as one batch.
const PAGE: i64 = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum CatchUpError {
    #[error("reading source {name}: {error}")]
    Source { name: String, error: StoreError },
    #[error("applying: {0}")]
    Apply(#[from] sqlx::Error),
}

/// Applies each source's events past the model's checkpoint, up to the source's live edge
/// at the time of reading (the commit horizon: nothing that can still commit before it is
/// missed). Returns the number of events applied.
///
/// Called after the model's queue exists, so whatever commits later is in the queue, and the
/// queue's copies of events applied here are skipped by the checkpoint: no gap, no double
/// apply.
pub async fn catch_up<M: ReadModel>(
    pool: &PgPool,
    model: &M,
    sources: &[EventStore],
) -> Result<u64, CatchUpError> {
    let mut applied = 0_u64;
    for source in sources {
        let name = source.source().to_owned();
        let mut conn = pool.acquire().await?;
        let mut after = checkpoints::load(&mut conn)
            .await?
            .get(&name)
            .copied()
            .unwrap_or(Checkpoint::ORIGIN);
        drop(conn);
        loop {
            let page = source
                .read_all(after, PAGE)
                .await
                .map_err(CatchUpError::from_store(&name))?;
            let Some(last) = page.last() else {
                break;
            };
            after = last.checkpoint;
            let wanted: Vec<_> = page
                .into_iter()
                .filter(|event| M::EVENT_TYPES.contains(&event.event_type.as_str()))
                .collect();
            applied += apply_batch(pool, model, &wanted).await?.applied as u64;
        }
        info!(model = M::NAME, source = %name, "caught up");
    }
    if applied > 0 {
        // The tables grew from whatever the planner last saw, perhaps nothing: fresh statistics
        // keep the live path's statements on their indexes from the first event on.
        sqlx::query("ANALYZE").execute(pool).await?;
    }
    Ok(applied)
}
