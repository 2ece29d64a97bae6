//! `waypoint replay`: a service's history, republished to one queue only.
//!
//! The events go through the default exchange with the queue's name as routing key, so no
//! other queue can receive them, as the very messages the relay sends (same body, message id =
//! event id, correlation id, trace context), with the original exchange and routing key in the
//! headers the consumer runner reads. Consumers skip what their checkpoints cover, so
//! replaying is safe; a new consumer builds itself from it.

use std::time::Instant;

use event_store::EventStore;
use event_store::relay::event_message;
use events::Checkpoint;
use indicatif::ProgressBar;
use message_bus::{OutgoingMessage, Publisher, Topology, headers};
use serde::Serialize;

use super::events::since::{self, Since, Start};
use super::status::checkpoint_text;
use super::status::lag::behind;
use super::status::management::{Management, topic_matches};
use crate::{CliError, Context, Outcome, Output};

/// Events read, sent, and confirmed together.
const BATCH: i64 = 1_000;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Only the events the queue is bound for on waypoint.events are sent (all of them to a queue \
with no such binding), in the store's commit order, up to the store's head when the replay \
starts.

Examples:
  waypoint replay --source reviews --to top-reviewers
  waypoint replay --source members --to review-feed --from 2025-06-01T00:00:00Z
  waypoint replay --source places --to waypoint.events.place-directory --from 812.4031")]
pub struct Args {
    /// The command service whose store is replayed.
    #[arg(long, value_name = "SERVICE")]
    source: String,
    /// The one queue that receives the events: a projection's name (its queue
    /// `waypoint.events.<name>`) or a queue's name.
    #[arg(long, value_name = "PROJECTION|QUEUE")]
    to: String,
    /// Where to start: an RFC 3339 time, a checkpoint `<xid>.<position>` (exclusive), a
    /// consistency token (exclusive) or a position number (inclusive) [default: the beginning].
    #[arg(long, value_name = "TIME|POSITION", value_parser = since::parse)]
    from: Option<Since>,
}

#[derive(Debug, Serialize)]
struct Replayed {
    source: String,
    queue: String,
    /// The patterns the queue is bound with on the events exchange; `None`: every event.
    bound_to: Option<Vec<String>>,
    /// Replayed after this checkpoint ...
    after: String,
    /// ... up to and including this one (the store's head when the replay started).
    until: String,
    published: u64,
    /// Events of types the queue is not bound for, left out.
    left_out: u64,
    seconds: f64,
    events_per_second: f64,
}

/// What one replay sends, and where.
struct Plan {
    queue: String,
    events_exchange: String,
    /// The queue's binding patterns on the events exchange; `None`: every event.
    patterns: Option<Vec<String>>,
    start: Start,
    /// The store's head when the replay started: where it ends.
    head: Checkpoint,
}

impl Plan {
    fn is_bound(&self, event_type: &str) -> bool {
        self.patterns.as_ref().is_none_or(|patterns| {
            patterns
                .iter()
                .any(|pattern| topic_matches(pattern, event_type))
        })
    }
}

/// How far a replay got.
#[derive(Debug, Clone, Copy)]
struct Progress {
    /// Everything up to here is confirmed by the broker.
    confirmed: Checkpoint,
    published: u64,
    left_out: u64,
}

pub async fn run(args: Args, context: &Context, output: &mut Output) -> Result<Outcome, CliError> {
    let management = Management::new(&context.settings.rabbitmq)?;
    let names = context.names();
    let queue = find_queue(&management, context, &args.to).await?;
    let events_exchange = names.events_exchange();
    let patterns = Some(
        management
            .bindings(&queue)
            .await?
            .into_iter()
            .filter(|binding| binding.source == events_exchange)
            .map(|binding| binding.routing_key)
            .collect::<Vec<_>>(),
    )
    .filter(|patterns| !patterns.is_empty());

    let store = context.store(&args.source).await?;
    let start = match &args.from {
        Some(from) => since::resolve(store.pool(), &args.source, from).await?,
        None => Start::ORIGIN,
    };
    let database = |error: &dyn std::fmt::Display| {
        CliError::database(&format!("the {} store", args.source), error)
    };
    let head = store.head().await.map_err(|error| database(&error))?;
    let plan = Plan {
        queue,
        events_exchange,
        patterns,
        start,
        head,
    };
    let (total, _) = behind(
        store.pool(),
        start.after,
        start.not_before,
        plan.patterns.as_deref(),
    )
    .await
    .map_err(|error| database(&error))?;

    let bus = context.bus(Topology::new(names)).await?;
    let bar = output.progress(total, &format!("{} → {}", args.source, plan.queue));
    let started = Instant::now();
    let mut progress = Progress {
        confirmed: start.after,
        published: 0,
        left_out: 0,
    };
    let sent = send(
        &store,
        &Publisher::new(bus.clone()),
        &plan,
        &bar,
        &mut progress,
    )
    .await;
    bar.finish_and_clear();
    bus.shutdown().await;
    sent.map_err(|error| CliError {
        problem: format!(
            "{} (replayed up to {} before it failed)",
            error.problem,
            checkpoint_text(progress.confirmed)
        ),
        hint: error.hint,
    })?;

    let seconds = started.elapsed().as_secs_f64();
    let report = Replayed {
        source: args.source,
        queue: plan.queue,
        bound_to: plan.patterns,
        after: checkpoint_text(start.after),
        until: checkpoint_text(head.max(start.after)),
        published: progress.published,
        left_out: progress.left_out,
        seconds,
        events_per_second: if seconds > 0.0 {
            progress.published as f64 / seconds
        } else {
            0.0
        },
    };
    output.emit(&report, |output| {
        output.line(&format!(
            "Replayed {} events of {} to {} in {:.1} s ({:.0} events/s), from {} to {}.",
            report.published,
            report.source,
            report.queue,
            report.seconds,
            report.events_per_second,
            report.after,
            report.until,
        ));
        if report.left_out > 0 {
            output.line(&format!(
                "{} events of types the queue is not bound for were left out.",
                report.left_out
            ));
        }
    });
    Ok(Outcome::Ok)
}

/// Reads the store in commit order from the plan's start to its head and sends what the queue
/// is bound for, a batch at a time: every confirm of a batch is awaited before the next is read,
/// so `progress.confirmed` is always safe to resume from.
async fn send(
    store: &EventStore,
    publisher: &Publisher,
    plan: &Plan,
    bar: &ProgressBar,
    progress: &mut Progress,
) -> Result<(), CliError> {
    while progress.confirmed < plan.head {
        let batch = store
            .read_all(progress.confirmed, BATCH)
            .await
            .map_err(|error| CliError::database("the source store", error))?;
        let Some(last) = batch.last().map(|event| event.checkpoint) else {
            break;
        };
        let mut confirms = Vec::with_capacity(batch.len());
        let mut left_out = 0;
        for event in batch.iter().filter(|event| event.checkpoint <= plan.head) {
            let too_early = plan
                .start
                .not_before
                .is_some_and(|not_before| event.recorded_at < not_before);
            if too_early {
                continue;
            }
            if !plan.is_bound(&event.event_type) {
                left_out += 1;
                continue;
            }
            let message = event_message(event, &plan.events_exchange)
                .map_err(|error| CliError::new(error.to_string()))?;
            let message = to_queue(message, &plan.queue);
            confirms.push(publisher.send(message).await.map_err(CliError::broker)?);
        }
        let sent = confirms.len() as u64;
        for confirm in confirms {
            if confirm.await.map_err(CliError::broker)?.returned {
                return Err(CliError::new(format!(
                    "the queue {} disappeared during the replay",
                    plan.queue
                ))
                .with_hint("declare it again, then replay from the checkpoint shown"));
            }
        }
        bar.inc(sent);
        *progress = Progress {
            confirmed: last.min(plan.head),
            published: progress.published + sent,
            left_out: progress.left_out + left_out,
        };
    }
    Ok(())
}

/// The queue `to` names: a projection's (or service's) events queue, or a queue by name with
/// or without the configured prefix.
async fn find_queue(
    management: &Management,
    context: &Context,
    to: &str,
) -> Result<String, CliError> {
    let names = context.names();
    let mut candidates = vec![names.events_queue(to), names.qualify(to), to.to_owned()];
    candidates.dedup();
    for candidate in &candidates {
        if management.queue(candidate).await?.is_some() {
            return Ok(candidate.clone());
        }
    }
    Err(CliError::new(format!(
        "no queue for `{to}` (looked for {})",
        candidates.join(", ")
    ))
    .with_hint(
        "start the projection once so it declares its queue, or declare the queue and \
                 bind it to waypoint.events",
    ))
}

/// The relay's message, sent straight to `queue` through the default exchange. The headers
/// keep the exchange and routing key the relay would have used, which is what a consumer sees
/// as the message's routing key.
fn to_queue(message: OutgoingMessage, queue: &str) -> OutgoingMessage {
    let exchange = message.exchange.clone();
    let routing_key = message.routing_key.clone();
    OutgoingMessage {
        exchange: String::new(),
        routing_key: queue.to_owned(),
        ..message
    }
    .with_header(headers::ORIGINAL_EXCHANGE, exchange)
    .with_header(headers::ORIGINAL_ROUTING_KEY, routing_key)
}
