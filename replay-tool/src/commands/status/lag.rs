//! Per projection and per source: the source store's head against the projection's
//! checkpoint, in events and in seconds.

use std::collections::{BTreeMap, BTreeSet};

use event_store::EventStore;
use events::Checkpoint;
use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;

use super::connections::{Connections, bounded};
use super::management::{Binding, topic_matches};
use super::{Section, checkpoint_text};

/// One projection's position on one source.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SourceLag {
    pub projection: String,
    pub source: String,
    /// The newest event a commit-order reader can reach in the source store (`xid.position`).
    pub head: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub head_recorded_at: Option<OffsetDateTime>,
    /// The last of the source's events the projection applied (`xid.position`); `None` before
    /// the first.
    pub checkpoint: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub checkpoint_recorded_at: Option<OffsetDateTime>,
    /// Events of the types the projection consumes, committed after its checkpoint.
    pub events_behind: Option<u64>,
    /// How long the oldest of them has been waiting; 0 when none is.
    pub seconds_behind: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// A source store's head, with when its event was recorded.
#[derive(Debug, Clone, Copy)]
struct Head {
    checkpoint: Checkpoint,
    recorded_at: Option<OffsetDateTime>,
}

/// What a projection consumes: the patterns its queue is bound with on the events exchange.
/// `None` when the broker could not be asked; then every event counts.
pub(crate) type Subscriptions = BTreeMap<String, Option<Vec<String>>>;

/// The subscriptions of each projection's queue, from its bindings.
pub(crate) fn subscriptions(
    projection_bindings: BTreeMap<String, Option<Vec<Binding>>>,
    events_exchange: &str,
) -> Subscriptions {
    projection_bindings
        .into_iter()
        .map(|(projection, bindings)| {
            let patterns = bindings
                .map(|bindings| {
                    bindings
                        .into_iter()
                        .filter(|binding| binding.source == events_exchange)
                        .map(|binding| binding.routing_key)
                        .collect::<Vec<_>>()
                })
                .filter(|patterns| !patterns.is_empty());
            (projection, patterns)
        })
        .collect()
}

pub(crate) async fn collect(
    connections: &Connections,
    subscriptions: &Subscriptions,
    max_lag_seconds: f64,
) -> Section<Vec<SourceLag>> {
    let heads: BTreeMap<&str, Result<Head, String>> = futures::future::join_all(
        connections
            .stores
            .iter()
            .map(|(service, store)| async move {
                let head = match store {
                    Ok(store) => head(store).await,
                    Err(error) => Err(error.clone()),
                };
                (service.as_str(), head)
            }),
    )
    .await
    .into_iter()
    .collect();
    let per_projection = connections.projections.iter().map(|(projection, pool)| {
        let patterns = subscriptions.get(projection).cloned().flatten();
        projection_lag(connections, &heads, projection, pool, patterns)
    });
    let rows: Vec<SourceLag> = futures::future::join_all(per_projection)
        .await
        .into_iter()
        .flatten()
        .collect();
    let problems = rows
        .iter()
        .filter_map(|row| {
            let name = match row.source.as_str() {
                "-" => row.projection.clone(),
                source => format!("{} from {source}", row.projection),
            };
            if let Some(problem) = &row.problem {
                return Some(format!("{name}: {problem}"));
            }
            let seconds = row.seconds_behind?;
            (seconds > max_lag_seconds).then(|| {
                format!(
                    "{name}: {} events behind, the oldest waiting {seconds:.0} s",
                    row.events_behind.unwrap_or_default()
                )
            })
        })
        .collect();
    Section::new(rows, problems)
}

async fn projection_lag(
    connections: &Connections,
    heads: &BTreeMap<&str, Result<Head, String>>,
    projection: &str,
    pool: &Result<PgPool, String>,
    patterns: Option<Vec<String>>,
) -> Vec<SourceLag> {
    let row = |source: &str| SourceLag {
        projection: projection.to_owned(),
        source: source.to_owned(),
        head: None,
        head_recorded_at: None,
        checkpoint: None,
        checkpoint_recorded_at: None,
        events_behind: None,
        seconds_behind: None,
        problem: None,
    };
    let checkpoints = match pool {
        Ok(pool) => bounded(::projection::checkpoints::all(pool)).await,
        Err(error) => Err(error.clone()),
    };
    let checkpoints = match checkpoints {
        Ok(checkpoints) => checkpoints,
        Err(error) => {
            return vec![SourceLag {
                problem: Some(error),
                ..row("-")
            }];
        }
    };
    // The sources it is bound to, and any it has applied events of.
    let mut sources: BTreeSet<String> = match &patterns {
        Some(patterns) => patterns
            .iter()
            .filter_map(|pattern| pattern.split('.').next())
            .filter(|source| connections.stores.contains_key(*source))
            .map(str::to_owned)
            .collect(),
        None => connections.stores.keys().cloned().collect(),
    };
    sources.extend(checkpoints.iter().map(|applied| applied.source.clone()));

    let rows = sources.into_iter().map(|source| {
        let applied = checkpoints.iter().find(|applied| applied.source == source);
        let mut lag = SourceLag {
            checkpoint: applied.map(|applied| checkpoint_text(applied.checkpoint)),
            checkpoint_recorded_at: applied.map(|applied| applied.recorded_at),
            ..row(&source)
        };
        let after = applied.map_or(Checkpoint::ORIGIN, |applied| applied.checkpoint);
        let patterns = patterns.as_deref();
        async move {
            let (Some(store), Some(head)) =
                (connections.stores.get(&source), heads.get(source.as_str()))
            else {
                lag.problem = Some(format!("`{source}` is not a configured store"));
                return lag;
            };
            let (store, head) = match (store, head) {
                (Ok(store), Ok(head)) => (store, head),
                (Err(error), _) | (_, Err(error)) => {
                    lag.problem = Some(format!("its source store: {error}"));
                    return lag;
                }
            };
            lag.head = Some(checkpoint_text(head.checkpoint));
            lag.head_recorded_at = head.recorded_at;
            match bounded(behind(store.pool(), after, None, patterns)).await {
                Ok((events, oldest)) => {
                    lag.events_behind = Some(events);
                    lag.seconds_behind = Some(oldest.map_or(0.0, |oldest| {
                        (OffsetDateTime::now_utc() - oldest)
                            .as_seconds_f64()
                            .max(0.0)
                    }));
                }
                Err(error) => lag.problem = Some(format!("its source store: {error}")),
            }
            lag
        }
    });
    futures::future::join_all(rows).await
}

async fn head(store: &EventStore) -> Result<Head, String> {
    let checkpoint = bounded(store.head()).await?;
    if checkpoint == Checkpoint::ORIGIN {
        return Ok(Head {
            checkpoint,
            recorded_at: None,
        });
    }
    let recorded_at = bounded(
        sqlx::query_scalar("SELECT recorded_at FROM events WHERE position = $1")
            .bind(checkpoint.position)
            .fetch_optional(store.pool()),
    )
    .await?;
    Ok(Head {
        checkpoint,
        recorded_at,
    })
}

/// How many events matching `patterns` (all, for `None`) were committed after `after` (and not
/// recorded before `not_before`) and can be read in commit order now, and when the oldest of
/// them was recorded. Counted per type in the database, so that the broker's topic matching is
/// applied exactly, here.
pub(crate) async fn behind(
    pool: &PgPool,
    after: Checkpoint,
    not_before: Option<OffsetDateTime>,
    patterns: Option<&[String]>,
) -> Result<(u64, Option<OffsetDateTime>), sqlx::Error> {
    let per_type: Vec<(String, i64, OffsetDateTime)> = sqlx::query_as(
        "SELECT event_type, count(*), min(recorded_at) FROM events
          WHERE (transaction_id, position) > ($1::text::xid8, $2)
            AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
            AND ($3::timestamptz IS NULL OR recorded_at >= $3)
          GROUP BY event_type",
    )
    .bind(after.transaction_id.to_string())
    .bind(after.position)
    .bind(not_before)
    .fetch_all(pool)
    .await?;
    let consumed = per_type.into_iter().filter(|(event_type, _, _)| {
        patterns.is_none_or(|patterns| {
            patterns
                .iter()
                .any(|pattern| topic_matches(pattern, event_type))
        })
    });
    Ok(
        consumed.fold((0, None), |(total, oldest), (_, count, first)| {
            let oldest = match oldest {
                Some(oldest) if oldest <= first => Some(oldest),
                _ => Some(first),
            };
            (total + u64::try_from(count).unwrap_or_default(), oldest)
        }),
    )
}
