//! Catching up from the source event stores directly, with the reader the CLI uses
//! (`EventStore::read_all`): how a new or reset model gets its history without anyone
//! republishing it.

use event_store::{EventStore, StoreError};
use events::Checkpoint;
use sqlx::{AssertSqlSafe, PgPool};
use time::OffsetDateTime;
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
    catch_up_observed(pool, model, sources, &mut |_| {}).await
}

/// [`catch_up`], telling `progress` how many of the model's events each page brought (applied
/// or found already covered), for a progress bar.
pub async fn catch_up_observed<M: ReadModel>(
    pool: &PgPool,
    model: &M,
    sources: &[EventStore],
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<u64, CatchUpError> {
    let applied = apply_history(pool, model, sources, progress).await?;
    if applied > 0 {
        // The tables grew from whatever the planner last saw, perhaps nothing: fresh statistics
        // keep the live path's statements on their indexes from the first event on.
        analyze(pool).await?;
    }
    Ok(applied)
}

/// [`catch_up`] without the closing `ANALYZE`: for the last few events of a generation that
/// is about to take over, while the live consumer waits.
pub(crate) async fn catch_up_quietly<M: ReadModel>(
    pool: &PgPool,
    model: &M,
    sources: &[EventStore],
) -> Result<u64, CatchUpError> {
    apply_history(pool, model, sources, &mut |_| {}).await
}

async fn apply_history<M: ReadModel>(
    pool: &PgPool,
    model: &M,
    sources: &[EventStore],
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<u64, CatchUpError> {
    let mut applied = 0_u64;
    for source in sources {
        let name = source.source().to_owned();
        let mut after = checkpoint_of(pool, &name).await?;
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
            progress(wanted.len() as u64);
        }
        info!(model = M::NAME, source = %name, "caught up");
    }
    Ok(applied)
}

async fn checkpoint_of(pool: &PgPool, source: &str) -> Result<Checkpoint, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    Ok(checkpoints::load(&mut conn)
        .await?
        .get(source)
        .copied()
        .unwrap_or(Checkpoint::ORIGIN))
}

/// Refreshes the planner's statistics of the tables the pool's connections look in (their
/// generation's schema), not of every generation in the database.
async fn analyze(pool: &PgPool) -> Result<(), sqlx::Error> {
    let tables: Option<String> = sqlx::query_scalar(
        "SELECT string_agg(format('%I.%I', schemaname, tablename), ', ')
           FROM pg_tables WHERE schemaname = current_schema()",
    )
    .fetch_one(pool)
    .await?;
    if let Some(tables) = tables {
        // The names come from the catalogue, quoted by `format('%I')`.
        sqlx::query(AssertSqlSafe(format!("ANALYZE {tables}")))
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// How many of the model's events the sources hold past the model's checkpoints: what a
/// catch-up from here has ahead of it.
pub async fn pending<M: ReadModel>(
    pool: &PgPool,
    sources: &[EventStore],
) -> Result<u64, CatchUpError> {
    let types: Vec<String> = M::EVENT_TYPES.iter().map(|t| (*t).to_owned()).collect();
    let mut total = 0_u64;
    for source in sources {
        let after = checkpoint_of(pool, source.source()).await?;
        let (behind, _) = behind(source, after, &types).await?;
        total += u64::try_from(behind).unwrap_or_default();
    }
    Ok(total)
}

/// How many events of `types` `source` committed after `after`, and when the oldest of them
/// was recorded.
pub(crate) async fn behind(
    source: &EventStore,
    after: Checkpoint,
    types: &[String],
) -> Result<(i64, Option<OffsetDateTime>), sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*), min(recorded_at) FROM events
          WHERE (transaction_id, position) > ($1::text::xid8, $2)
            AND event_type = ANY($3)",
    )
    .bind(after.transaction_id.to_string())
    .bind(after.position)
    .bind(types)
    .fetch_one(source.pool())
    .await
}
