//! `waypoint dlq`: dead letters, with why they failed and how often; requeued to the queue
//! they failed in once the cause is fixed, or dropped.
//!
//! A dead letter is a message the consumer runner gave up on: it carries the runner's headers
//! (`x-waypoint-attempts`, `x-waypoint-error`, `x-waypoint-original-queue`,
//! `x-waypoint-dead-lettered-at`, and the routing key it was first published with). A requeued
//! copy keeps its message id, body and properties, loses the failure headers (so it gets every
//! attempt again), and is confirmed by the broker before the dead letter is removed.

pub(crate) mod session;

use message_bus::{BusNames, IncomingMessage, headers};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use self::session::{Fetched, Session};
use super::events::abbreviate;
use super::status::management::Management;
use crate::{CliError, Context, Outcome, Output};

/// Reason characters a table cell shows; `--json` shows them all.
const REASON_WIDTH: usize = 80;
const PAYLOAD_WIDTH: usize = 60;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
A dead-letter queue is named by its source (`projection.review-feed`, `local-copies.reviews`, \
`commands.places`) or by its full name (`waypoint.dead-letters.projection.review-feed`).

Examples:
  waypoint dlq list
  waypoint dlq show projection.review-feed --limit 5
  waypoint dlq requeue local-copies.reviews --all
  waypoint dlq drop projection.review-feed 0195f1a2-8c1e-7d33-b0a4-3f5e2c9d8a71")]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Every dead-letter queue and how many messages it holds.
    #[command(after_help = "Examples:\n  waypoint dlq list\n  waypoint dlq list --json")]
    List,
    /// The dead letters of one queue: message id, where and why they failed, how often.
    #[command(after_help = "\
Examples:
  waypoint dlq show projection.review-feed
  waypoint dlq show commands.places --limit 5 --json")]
    Show {
        /// The dead-letter queue: its source or its full name.
        queue: String,
        /// Show at most this many (they stay in the queue).
        #[arg(long, value_name = "N", default_value_t = 20)]
        limit: u32,
    },
    /// Republish dead letters to the queue they failed in, then remove them.
    #[command(override_usage = "waypoint dlq requeue <QUEUE> <MESSAGE_ID | --all>")]
    #[command(after_help = "\
Fix the cause first (a missing table, a bug fixed in a new build): a message that fails again \
comes back here after its attempts. A read model skips events its checkpoints cover, so an \
event it set aside is not applied by a requeue: rebuild the model with the fixed build \
(`waypoint rebuild <projection>`), then drop the dead letter.

Examples:
  waypoint dlq requeue local-copies.reviews --all
  waypoint dlq requeue projection.review-feed 0195f1a2-8c1e-7d33-b0a4-3f5e2c9d8a71")]
    Requeue(Pick),
    /// Delete dead letters for good.
    #[command(override_usage = "waypoint dlq drop <QUEUE> <MESSAGE_ID | --all>")]
    #[command(after_help = "\
Dropping a read model's dead letter also resolves its poison record, so the model stops \
reporting itself degraded for it.

Examples:
  waypoint dlq drop projection.review-feed 0195f1a2-8c1e-7d33-b0a4-3f5e2c9d8a71
  waypoint dlq drop commands.places --all")]
    Drop(Pick),
}

/// Which dead letters of a queue: one by its message id, or all.
#[derive(Debug, clap::Args)]
#[command(group(
    clap::ArgGroup::new("which")
        .required(true)
        .args(["message_id", "all"])
))]
struct Pick {
    /// The dead-letter queue: its source or its full name.
    queue: String,
    /// The message id of the one dead letter (see `waypoint dlq show`).
    message_id: Option<String>,
    /// Every message in the queue now.
    #[arg(long)]
    all: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Settle {
    Requeue,
    Drop,
}

pub async fn run(args: Args, context: &Context, output: &mut Output) -> Result<Outcome, CliError> {
    match args.action {
        Action::List => list(context, output).await,
        Action::Show { queue, limit } => show(context, output, &queue, limit).await,
        Action::Requeue(pick) => settle(context, output, &pick, Settle::Requeue).await,
        Action::Drop(pick) => settle(context, output, &pick, Settle::Drop).await,
    }
}

#[derive(Debug, Serialize)]
struct QueueCount {
    queue: String,
    source: String,
    messages: u32,
}

async fn list(context: &Context, output: &mut Output) -> Result<Outcome, CliError> {
    let names = context.names();
    let prefix = names.dead_letter_queue("");
    let listed = Management::new(&context.settings.rabbitmq)?
        .queues(&prefix)
        .await?;
    // The management API's counts lag by its statistics interval; ask the queues themselves.
    let session = Session::open(context).await?;
    let mut queues = Vec::with_capacity(listed.len());
    for queue in listed {
        let Some(messages) = session.depth(&queue.name).await? else {
            continue;
        };
        queues.push(QueueCount {
            source: queue.name[prefix.len()..].to_owned(),
            queue: queue.name,
            messages,
        });
    }
    session.close().await;
    output.emit(&serde_json::json!({ "queues": queues }), |output| {
        if queues.is_empty() {
            output.line("No dead-letter queues.");
            return;
        }
        let rows = queues.iter().map(|queue| {
            vec![
                queue.source.clone(),
                queue.queue.clone(),
                queue.messages.to_string(),
            ]
        });
        output.table("Dead letters", &["source", "queue", "messages"], rows);
    });
    Ok(Outcome::Ok)
}

/// One dead letter as shown.
#[derive(Debug, Serialize)]
struct DeadLetter {
    message_id: Option<String>,
    correlation_id: Option<String>,
    /// The queue it failed in, where `requeue` sends it.
    failed_in: Option<String>,
    /// The routing key it was first published with (an event's type, a command's service).
    routing_key: String,
    /// How many times handling it failed.
    attempts: Option<u32>,
    /// Why the last attempt failed.
    reason: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    dead_lettered_at: Option<OffsetDateTime>,
    /// The body: JSON when it is JSON, else its text.
    payload: Value,
}

impl DeadLetter {
    fn of(fetched: &Fetched, failed_in: Option<String>) -> Self {
        let message = &fetched.message;
        let payload = serde_json::from_slice(&message.payload).unwrap_or_else(|_| {
            Value::String(String::from_utf8_lossy(&message.payload).into_owned())
        });
        Self {
            message_id: message.message_id.clone(),
            correlation_id: message.correlation_id.clone(),
            failed_in,
            routing_key: message.routing_key.clone(),
            attempts: message
                .header(headers::ATTEMPTS)
                .and_then(|attempts| attempts.parse().ok()),
            reason: message.header(headers::ERROR),
            dead_lettered_at: message
                .header(headers::DEAD_LETTERED_AT)
                .and_then(|millis| millis.parse::<i128>().ok())
                .and_then(|millis| {
                    OffsetDateTime::from_unix_timestamp_nanos(millis * 1_000_000).ok()
                }),
            payload,
        }
    }
}

#[derive(Debug, Serialize)]
struct Shown {
    queue: String,
    /// How many the queue holds.
    messages: u32,
    dead_letters: Vec<DeadLetter>,
}

async fn show(
    context: &Context,
    output: &mut Output,
    queue: &str,
    limit: u32,
) -> Result<Outcome, CliError> {
    let session = Session::open(context).await?;
    let shown = async {
        let names = context.names();
        let (queue, messages) = resolve(&session, &names, queue).await?;
        let mut dead_letters = Vec::new();
        for _ in 0..messages.min(limit) {
            let Some(fetched) = session.fetch(&queue).await? else {
                break;
            };
            dead_letters.push(DeadLetter::of(
                &fetched,
                failed_in(&fetched.message, &names, &queue),
            ));
        }
        Ok::<_, CliError>(Shown {
            queue,
            messages,
            dead_letters,
        })
    }
    .await;
    // Hands every message back, in its place.
    session.close().await;
    let shown = shown?;
    output.emit(&shown, |output| {
        if shown.dead_letters.is_empty() {
            output.line(&format!("{} is empty.", shown.queue));
            return;
        }
        let rows = shown.dead_letters.iter().map(|letter| {
            let dead_lettered_at = letter
                .dead_lettered_at
                .and_then(|at| at.format(&Rfc3339).ok())
                .unwrap_or_else(|| "-".to_owned());
            vec![
                letter.message_id.clone().unwrap_or_else(|| "-".to_owned()),
                letter.failed_in.clone().unwrap_or_else(|| "?".to_owned()),
                letter.routing_key.clone(),
                letter
                    .attempts
                    .map_or_else(|| "-".to_owned(), |attempts| attempts.to_string()),
                dead_lettered_at,
                abbreviate(letter.reason.as_deref().unwrap_or("-"), REASON_WIDTH),
                abbreviate(&letter.payload.to_string(), PAYLOAD_WIDTH),
            ]
        });
        let title = format!(
            "{} ({} of {} messages)",
            shown.queue,
            shown.dead_letters.len(),
            shown.messages
        );
        output.table(
            &title,
            &[
                "message id",
                "failed in",
                "routing key",
                "attempts",
                "dead-lettered",
                "reason",
                "payload",
            ],
            rows,
        );
    });
    Ok(Outcome::Ok)
}

#[derive(Debug, Serialize)]
struct Settled {
    queue: String,
    action: Settle,
    /// Each message settled, with where it was requeued to.
    messages: Vec<SettledMessage>,
    /// Poison records of a read model that the dropped dead letters resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    poison_resolved: Option<u64>,
}

#[derive(Debug, Serialize)]
struct SettledMessage {
    message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    requeued_to: Option<String>,
}

async fn settle(
    context: &Context,
    output: &mut Output,
    pick: &Pick,
    action: Settle,
) -> Result<Outcome, CliError> {
    let session = Session::open(context).await?;
    let names = context.names();
    let mut settled = Settled {
        queue: pick.queue.clone(),
        action,
        messages: Vec::new(),
        poison_resolved: None,
    };
    let outcome = settle_in(&session, &names, pick, &mut settled).await;
    // Hands back every message that was looked at and not settled.
    session.close().await;
    if let Err(error) = outcome {
        let problem = match settled.messages.len() {
            0 => error.problem,
            done => format!("{} ({done} settled before that)", error.problem),
        };
        return Err(CliError {
            problem,
            hint: error.hint,
        });
    }
    if let Some(message_id) = &pick.message_id
        && settled.messages.is_empty()
    {
        return Err(CliError::new(format!(
            "no dead letter with message id {message_id} in {}",
            settled.queue
        ))
        .with_hint(format!("`waypoint dlq show {}` lists them", pick.queue)));
    }
    if action == Settle::Drop {
        settled.poison_resolved = resolve_poison(context, &settled).await?;
    }
    output.emit(&settled, |output| {
        let verb = match settled.action {
            Settle::Requeue => "Requeued",
            Settle::Drop => "Dropped",
        };
        output.line(&format!(
            "{verb} {} dead letter(s) from {}.",
            settled.messages.len(),
            settled.queue
        ));
        for message in &settled.messages {
            let id = message.message_id.as_deref().unwrap_or("(no id)");
            match &message.requeued_to {
                Some(queue) => output.line(&format!("  {id} → {queue}")),
                None => output.line(&format!("  {id}")),
            }
        }
        if let Some(resolved) = settled.poison_resolved {
            output.line(&format!(
                "{resolved} poison record(s) of the read model resolved with them."
            ));
        }
    });
    Ok(Outcome::Ok)
}

/// A read model that set an event aside reports itself degraded until the event is resolved;
/// dropping its dead letter is that resolution, so the record goes with it. `None` when the
/// queue is not a configured read model's.
async fn resolve_poison(context: &Context, settled: &Settled) -> Result<Option<u64>, CliError> {
    let prefix = context.names().dead_letter_queue("projection.");
    let Some(projection) = settled.queue.strip_prefix(&prefix) else {
        return Ok(None);
    };
    let Ok(database) = context.projection_database(projection) else {
        return Ok(None);
    };
    let event_ids: Vec<Uuid> = settled
        .messages
        .iter()
        .filter_map(|message| message.message_id.as_deref()?.parse().ok())
        .collect();
    if event_ids.is_empty() {
        return Ok(Some(0));
    }
    let failed = |error: &dyn std::fmt::Display| {
        CliError::new(format!(
            "the dead letters are dropped, but {projection}'s poison records could not be \
             resolved: {error}"
        ))
        .with_hint(format!(
            "run `DELETE FROM projection_poisoned` for those event ids in {database}"
        ))
    };
    let pool = context
        .pool(database)
        .await
        .map_err(|error| failed(&error.problem))?;
    // A plain connection sees the active generation's tables (its schema is the database's
    // default search path).
    let resolved = sqlx::query("DELETE FROM projection_poisoned WHERE event_id = ANY($1)")
        .bind(&event_ids)
        .execute(&pool)
        .await
        .map_err(|error| failed(&error))?
        .rows_affected();
    pool.close().await;
    Ok(Some(resolved))
}

/// Goes through the messages the queue holds now (not those that fail again meanwhile and
/// come back), settling the picked ones; the others are held and handed back at the end.
async fn settle_in(
    session: &Session,
    names: &BusNames,
    pick: &Pick,
    settled: &mut Settled,
) -> Result<(), CliError> {
    let (queue, messages) = resolve(session, names, &pick.queue).await?;
    settled.queue.clone_from(&queue);
    for _ in 0..messages {
        let Some(fetched) = session.fetch(&queue).await? else {
            break;
        };
        let picked = pick.all || fetched.message.message_id == pick.message_id;
        if !picked {
            continue;
        }
        let requeued_to = match settled.action {
            Settle::Requeue => {
                let target = failed_in(&fetched.message, names, &queue).ok_or_else(|| {
                    CliError::new(format!(
                        "cannot tell which queue message {} failed in",
                        fetched.message.message_id.as_deref().unwrap_or("(no id)")
                    ))
                    .with_hint("drop it, or publish its payload again yourself")
                })?;
                session.republish(&fetched, &target).await?;
                Some(target)
            }
            Settle::Drop => None,
        };
        session.ack(&fetched).await?;
        settled.messages.push(SettledMessage {
            message_id: fetched.message.message_id.clone(),
            requeued_to,
        });
        if !pick.all {
            break;
        }
    }
    Ok(())
}

/// The dead-letter queue `name` means, and how many messages it holds.
async fn resolve(
    session: &Session,
    names: &BusNames,
    name: &str,
) -> Result<(String, u32), CliError> {
    let mut candidates = vec![
        names.dead_letter_queue(name),
        names.qualify(name),
        name.to_owned(),
    ];
    candidates.dedup();
    for candidate in &candidates {
        if let Some(messages) = session.depth(candidate).await? {
            return Ok((candidate.clone(), messages));
        }
    }
    Err(CliError::new(format!(
        "no dead-letter queue `{name}` (looked for {})",
        candidates.join(", ")
    ))
    .with_hint("`waypoint dlq list` shows them"))
}

/// The queue a dead letter failed in: as the runner recorded it, or else as its dead-letter
/// queue's name says (`projection.<p>` and `local-copies.<s>` consume `waypoint.events.<name>`,
/// `commands.<s>` consumes `waypoint.commands.<s>`).
fn failed_in(
    message: &IncomingMessage,
    names: &BusNames,
    dead_letter_queue: &str,
) -> Option<String> {
    if let Some(queue) = message.header(headers::ORIGINAL_QUEUE) {
        return Some(queue);
    }
    let source = dead_letter_queue.strip_prefix(&names.dead_letter_queue(""))?;
    let (kind, name) = source.split_once('.')?;
    match kind {
        "projection" | "local-copies" => Some(names.events_queue(name)),
        "commands" => Some(names.command_queue(name)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use message_bus::lapin::types::FieldTable;

    fn message(headers: &[(&str, &str)]) -> IncomingMessage {
        let mut table = FieldTable::default();
        for (name, value) in headers {
            table.insert(
                (*name).into(),
                message_bus::lapin::types::AMQPValue::LongString((*value).into()),
            );
        }
        IncomingMessage {
            payload: Vec::new(),
            exchange: String::new(),
            routing_key: String::new(),
            queue: String::new(),
            message_id: None,
            correlation_id: None,
            traceparent: None,
            headers: table,
            attempt: 1,
            reply_to: None,
            redelivered: false,
        }
    }

    #[test]
    fn the_recorded_queue_wins_and_names_are_the_fallback() {
        let names = BusNames::with_prefix("t_x");
        let dlq = |source: &str| names.dead_letter_queue(source);
        assert_eq!(
            failed_in(
                &message(&[(headers::ORIGINAL_QUEUE, "somewhere")]),
                &names,
                &dlq("projection.review-feed")
            )
            .as_deref(),
            Some("somewhere")
        );
        assert_eq!(
            failed_in(&message(&[]), &names, &dlq("projection.review-feed")).as_deref(),
            Some("t_x.waypoint.events.review-feed")
        );
        assert_eq!(
            failed_in(&message(&[]), &names, &dlq("local-copies.reviews")).as_deref(),
            Some("t_x.waypoint.events.reviews")
        );
        assert_eq!(
            failed_in(&message(&[]), &names, &dlq("commands.places")).as_deref(),
            Some("t_x.waypoint.commands.places")
        );
        assert_eq!(failed_in(&message(&[]), &names, &dlq("mystery")), None);
    }
}
