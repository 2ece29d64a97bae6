//! A model in a database of its own, as every model test starts.

use projection::{BatchOutcome, IncomingEvent, ReadModel, apply_batch};
use sqlx::PgPool;
use testkit::database::TestDatabase;

/// A fresh database with the runner's tables and `model`'s, empty.
pub async fn fresh<M: ReadModel>(model: &M) -> PgPool {
    let pool = TestDatabase::create().await.pool(4).await;
    projection::migrate(&pool).await.unwrap();
    model.migrate(&pool).await.unwrap();
    pool
}

/// Applies `events` as the runner does, live or in a rebuild.
pub async fn apply<M: ReadModel>(
    pool: &PgPool,
    model: &M,
    events: &[IncomingEvent],
) -> BatchOutcome {
    apply_batch(pool, model, events).await.unwrap()
}

/// `model`'s digest of what `pool` holds.
pub async fn checksum<M: ReadModel>(model: &M, pool: &PgPool) -> String {
    let mut conn = pool.acquire().await.unwrap();
    model.checksum(&mut conn).await.unwrap()
}
