//! Applying a batch of events to a read model: one transaction, checkpoints included.

use std::collections::HashMap;

use events::Checkpoint;
use service_kit::telemetry;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use tracing::{Instrument, Span, info_span};
use uuid::Uuid;

use crate::checkpoints::{self, xid_to_db};
use crate::{ApplyError, IncomingEvent, ReadModel};

/// What a batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    pub applied: usize,
    /// Already covered by their source's checkpoint: duplicates and redeliveries.
    pub skipped: usize,
    /// Set aside as poison, with why: recorded, and the model is degraded.
    pub poisoned: Vec<(Uuid, String)>,
}

/// Applies `events` to `model` in one transaction, moving each source's checkpoint in the
/// same transaction. Events a checkpoint already covers are skipped. An event the model
/// cannot apply rolls the attempt back; the batch is then applied again without it, and it
/// is recorded as poisoned instead, so one bad event never blocks the rest. Batches on one
/// generation are applied one at a time, whoever applies them.
///
/// Events of one source must come in that source's commit order.
pub async fn apply_batch<M: ReadModel>(
    pool: &PgPool,
    model: &M,
    events: &[IncomingEvent],
) -> Result<BatchOutcome, sqlx::Error> {
    apply(pool, model, events, None).await
}

/// [`apply_batch`] for events delivered from the model's queue, each applied in a
/// `projection.apply` span: a child of the relay's span that published it (`traceparents[i]`
/// is event `i`'s message header) linked to the append that recorded it (the event's own
/// `traceparent`). A catch-up or a rebuild applies without spans: a million events of history
/// are nobody's request.
pub(crate) async fn apply_delivered<M: ReadModel>(
    pool: &PgPool,
    model: &M,
    events: &[IncomingEvent],
    traceparents: &[Option<&str>],
) -> Result<BatchOutcome, sqlx::Error> {
    apply(pool, model, events, Some(traceparents)).await
}

async fn apply<M: ReadModel>(
    pool: &PgPool,
    model: &M,
    events: &[IncomingEvent],
    traceparents: Option<&[Option<&str>]>,
) -> Result<BatchOutcome, sqlx::Error> {
    let mut poison: HashMap<Uuid, String> = HashMap::new();
    loop {
        let mut tx = pool.begin().await?;
        match attempt(&mut tx, model, events, &poison, traceparents).await? {
            Attempt::Done(outcome) => {
                tx.commit().await?;
                return Ok(outcome);
            }
            Attempt::Poisoned { event_id, reason } => {
                tx.rollback().await?;
                tracing::error!(model = M::NAME, %event_id, %reason, "poison event set aside");
                poison.insert(event_id, reason);
            }
        }
    }
}

enum Attempt {
    Done(BatchOutcome),
    Poisoned { event_id: Uuid, reason: String },
}

async fn attempt<M: ReadModel>(
    conn: &mut PgConnection,
    model: &M,
    events: &[IncomingEvent],
    poison: &HashMap<Uuid, String>,
    traceparents: Option<&[Option<&str>]>,
) -> Result<Attempt, sqlx::Error> {
    // One writer per generation at a time: a catch-up and the live consumer (or two hosts
    // catching up the same generation during a switch) would otherwise both read the same
    // checkpoint and apply the same events. Taken before the checkpoints are read, so this
    // transaction sees whatever the previous holder committed.
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtext('waypoint.projection.apply.' || current_schema()))",
    )
    .execute(&mut *conn)
    .await?;
    let mut applied_up_to = checkpoints::load(conn).await?;
    let mut advanced: HashMap<&str, (Checkpoint, OffsetDateTime)> = HashMap::new();
    let mut outcome = BatchOutcome::default();
    for (index, event) in events.iter().enumerate() {
        let covered = applied_up_to
            .get(&event.source)
            .is_some_and(|checkpoint| *checkpoint >= event.checkpoint);
        if covered {
            outcome.skipped += 1;
            continue;
        }
        if let Some(reason) = poison.get(&event.event_id) {
            record_poison(conn, event, reason).await?;
            outcome.poisoned.push((event.event_id, reason.clone()));
        } else {
            let applied = match traceparents {
                Some(traceparents) => {
                    let delivery = traceparents.get(index).copied().flatten();
                    let span = apply_span::<M>(event, delivery);
                    model.apply(conn, event).instrument(span).await
                }
                None => model.apply(conn, event).await,
            };
            match applied {
                Ok(()) => outcome.applied += 1,
                Err(ApplyError::Poison(reason)) => {
                    return Ok(Attempt::Poisoned {
                        event_id: event.event_id,
                        reason,
                    });
                }
                Err(ApplyError::Database(error)) => return Err(error),
            }
        }
        applied_up_to.insert(event.source.clone(), event.checkpoint);
        advanced.insert(&event.source, (event.checkpoint, event.recorded_at));
    }
    for (source, (checkpoint, recorded_at)) in advanced {
        checkpoints::advance(conn, source, checkpoint, recorded_at).await?;
    }
    Ok(Attempt::Done(outcome))
}

/// `event`'s `projection.apply` span, continuing the trace of its `delivery`.
fn apply_span<M: ReadModel>(event: &IncomingEvent, delivery: Option<&str>) -> Span {
    let span = info_span!(
        "projection.apply",
        otel.kind = "consumer",
        model = M::NAME,
        source = %event.source,
        event_type = %event.event_type,
        event_id = %event.event_id,
    );
    telemetry::set_parent(&span, delivery);
    telemetry::add_link(&span, event.traceparent.as_deref());
    span
}

async fn record_poison(
    conn: &mut PgConnection,
    event: &IncomingEvent,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO projection_poisoned
             (event_id, source, event_type, transaction_id, position, reason)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event.event_id)
    .bind(&event.source)
    .bind(&event.event_type)
    .bind(xid_to_db(event.checkpoint.transaction_id))
    .bind(event.checkpoint.position)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a message on a model's queue that is not a recorded event at all (no checkpoint,
/// perhaps no id), so that the model reports itself degraded for it as for any poison event.
/// Its source is the first part of its routing key.
pub async fn record_unreadable(
    pool: &PgPool,
    message_id: Option<&str>,
    routing_key: &str,
    reason: &str,
) -> Result<(), sqlx::Error> {
    let event_id = message_id
        .and_then(|id| Uuid::parse_str(id).ok())
        .unwrap_or_else(Uuid::now_v7);
    let source = routing_key.split('.').next().unwrap_or_default();
    sqlx::query(
        "INSERT INTO projection_poisoned
             (event_id, source, event_type, transaction_id, position, reason)
         VALUES ($1, $2, $3, 0, 0, $4)
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event_id)
    .bind(source)
    .bind(routing_key)
    .bind(reason)
    .execute(pool)
    .await?;
    Ok(())
}

/// How many poison events are unresolved: more than none means degraded.
pub async fn poisoned_count(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM projection_poisoned")
        .fetch_one(pool)
        .await
}
