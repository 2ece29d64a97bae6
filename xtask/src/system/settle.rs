//! Waiting until the read models have caught up with the stores: between phases of a bench,
//! so one phase's backlog does not load the next, and before a run's final checks.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use events::{Checkpoint, ConsistencyToken};
use projection::checkpoints;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use super::programs::Program;
use super::{RunNames, System};
use crate::bench::harness::BenchDatabase;

const POLL: Duration = Duration::from_millis(20);

/// Waits until every read model of the run has applied every event its sources hold now that
/// it consumes; fails after `deadline`, naming the model and the source still behind.
pub async fn projections_caught_up(system: &System, deadline: Duration) -> Result<()> {
    let started = Instant::now();
    for spec in system.specs() {
        let Program::Projection {
            name,
            sources,
            event_types,
        } = &spec.program
        else {
            continue;
        };
        let model = connect(system.names(), name).await?;
        for source in sources {
            let store = connect(system.names(), source).await?;
            let last = last_of(&store, event_types).await?;
            store.close().await;
            let Some(last) = last else {
                continue;
            };
            let token = ConsistencyToken::new(source.as_str(), last);
            while !checkpoints::covers(&model, &token).await? {
                if started.elapsed() > deadline {
                    bail!(
                        "{name} had not applied {source}'s events up to {token} after {deadline:?}"
                    );
                }
                tokio::time::sleep(POLL).await;
            }
        }
        model.close().await;
    }
    Ok(())
}

/// A small pool on the run's database of a service or model.
pub async fn connect(names: &RunNames, part: &str) -> Result<PgPool> {
    let database = BenchDatabase::named(names.database(part));
    PgPoolOptions::new()
        .max_connections(2)
        .connect(&database.url)
        .await
        .with_context(|| format!("connecting to {}", database.name))
}

/// The commit-order checkpoint of the last event of `types` in a store.
async fn last_of(store: &PgPool, types: &[&str]) -> Result<Option<Checkpoint>> {
    let types: Vec<String> = types.iter().map(|t| (*t).to_owned()).collect();
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT transaction_id::text, position FROM events WHERE event_type = ANY($1)
          ORDER BY transaction_id DESC, position DESC LIMIT 1",
    )
    .bind(&types)
    .fetch_optional(store)
    .await?;
    row.map(|(transaction_id, position)| Ok(Checkpoint::new(transaction_id.parse()?, position)))
        .transpose()
}
