//! Removing what a run made on the shared servers, found by the run's names: every database
//! under its prefix (the services', the models', and any a check made beside them), its queues
//! and exchanges, its Redis keys and its bucket.

use std::path::Path;

use anyhow::Result;
use sqlx::{Connection, PgConnection};

use super::RunNames;
use crate::bench::harness::{BenchDatabase, POSTGRES_ADMIN_URL};

pub async fn remove(root: &Path, names: &RunNames) -> Result<()> {
    for database in databases(names).await? {
        BenchDatabase::named(database).drop().await?;
    }
    // Every name the run declared is `<run>.<name>`; reply queues are the broker's own and
    // went with their connections.
    testkit::rabbitmq::delete_prefixed(&format!("{}.", names.run())).await;
    crate::services::delete_redis_keys(&format!("{}*", names.redis_prefix()))?;
    // The local S3 server keeps a bucket as a folder of its data directory.
    let bucket = crate::target_dir(root).join("s3-data").join(names.bucket());
    let _ = std::fs::remove_dir_all(bucket);
    Ok(())
}

/// The run's databases.
pub async fn databases(names: &RunNames) -> Result<Vec<String>> {
    let mut admin = PgConnection::connect(POSTGRES_ADMIN_URL).await?;
    let found =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
            .bind(names.database_prefix())
            .fetch_all(&mut admin)
            .await?;
    admin.close().await?;
    Ok(found)
}
