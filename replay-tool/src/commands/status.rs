//! `waypoint status`: the whole system at a glance, degraded parts named.
//!
//! Every part is read concurrently and bounded in time; a part that cannot be read is shown as
//! unreachable (and degraded), never as a crash.

mod breakers;
mod connections;
mod instances;
pub(crate) mod lag;
pub(crate) mod management;
mod queues;
mod render;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use events::Checkpoint;
use serde::Serialize;
use time::OffsetDateTime;

use self::connections::Connections;
use self::management::Management;
use crate::{CliError, Context, Outcome, Output};

/// How often `--watch` redraws.
const WATCH_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Degraded (exit 1): a configured service or projection without a running instance, an instance \
that is not ready, a projection whose oldest unapplied event waits longer than --max-lag, \
messages waiting on a queue nothing consumes, any dead letter, an open gateway breaker, or any \
part that cannot be reached.

Examples:
  waypoint status
  waypoint status --watch
  waypoint status --json | jq '.problems'
  waypoint status --max-lag 5")]
pub struct Args {
    /// Redraw every 2 seconds until Ctrl-C.
    #[arg(long)]
    watch: bool,
    /// Seconds a projection's oldest unapplied event may wait before it counts as degraded.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    max_lag: f64,
}

/// One part of the picture: its rows, and what in it is degraded.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Section<T> {
    pub healthy: bool,
    /// Why the part could not be read at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub problems: Vec<String>,
    pub items: T,
}

impl<T: Default> Section<T> {
    pub fn new(items: T, problems: Vec<String>) -> Self {
        Self {
            healthy: problems.is_empty(),
            error: None,
            problems,
            items,
        }
    }

    pub fn failed(error: impl Into<String>) -> Self {
        let error = error.into();
        Self {
            healthy: false,
            problems: vec![format!("unreachable: {error}")],
            error: Some(error),
            items: T::default(),
        }
    }
}

/// Everything `status` shows, as `--json` prints it.
#[derive(Debug, Serialize)]
pub(crate) struct Snapshot {
    pub healthy: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Every degraded thing, from all sections.
    pub problems: Vec<String>,
    pub instances: Section<Vec<instances::Instance>>,
    pub projections: Section<Vec<lag::SourceLag>>,
    pub queues: Section<Vec<queues::QueueRow>>,
    pub dead_letters: Section<Vec<queues::DeadLetterRow>>,
    pub breakers: Section<Vec<breakers::Breaker>>,
}

/// What `status` keeps between `--watch` rounds.
struct Probe {
    connections: Connections,
    management: Result<Management, String>,
    http: reqwest::Client,
}

pub async fn run(args: Args, context: &Context, output: &mut Output) -> Result<Outcome, CliError> {
    let mut probe = Probe {
        connections: Connections::default(),
        management: Management::new(&context.settings.rabbitmq).map_err(|error| error.problem),
        http: reqwest::Client::new(),
    };
    let clear = args.watch && !output.json_mode() && std::io::stdout().is_terminal();
    loop {
        let snapshot = snapshot(context, &mut probe, args.max_lag).await;
        if clear {
            // Home and clear, so each round replaces the last instead of scrolling.
            output.line("\x1b[2J\x1b[H");
        }
        output.emit(&snapshot, |output| render::human(output, &snapshot));
        let outcome = if snapshot.healthy {
            Outcome::Ok
        } else {
            Outcome::Degraded
        };
        if !args.watch {
            probe.connections.close().await;
            return Ok(outcome);
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                probe.connections.close().await;
                return Ok(outcome);
            }
            () = tokio::time::sleep(WATCH_INTERVAL) => {}
        }
    }
}

async fn snapshot(context: &Context, probe: &mut Probe, max_lag: f64) -> Snapshot {
    probe.connections.refresh(context).await;
    let probe = &*probe;
    let names = context.names();
    let dead_letter_prefix = names.dead_letter_queue("");
    let waypoint_prefix = names.qualify("waypoint.");
    let (instances, listed, bindings) = tokio::join!(
        instances::collect(context, probe.connections.registry(), &probe.http),
        queues::list(&probe.management, &waypoint_prefix),
        projection_bindings(context, &probe.management),
    );
    let subscriptions = lag::subscriptions(bindings, &names.events_exchange());
    let (projections, breakers) = tokio::join!(
        lag::collect(&probe.connections, &subscriptions, max_lag),
        breakers::collect(&instances.items, &probe.http),
    );
    let queues = queues::queues(&listed, &dead_letter_prefix);
    let dead_letters =
        queues::dead_letters(&listed, &dead_letter_prefix, probe.connections.bus()).await;
    let problems: Vec<String> = [
        &instances.problems,
        &projections.problems,
        &queues.problems,
        &dead_letters.problems,
        &breakers.problems,
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect();
    Snapshot {
        healthy: problems.is_empty(),
        at: OffsetDateTime::now_utc(),
        problems,
        instances,
        projections,
        queues,
        dead_letters,
        breakers,
    }
}

/// Each projection queue's bindings; `None` where the broker could not say (or the queue does
/// not exist yet), so that every event counts for its lag.
async fn projection_bindings(
    context: &Context,
    management: &Result<Management, String>,
) -> BTreeMap<String, Option<Vec<management::Binding>>> {
    let names = context.names();
    let asked = context.settings.projections.keys().map(|projection| {
        let queue = names.events_queue(projection);
        async move {
            let bindings = match management {
                Ok(management) => management.bindings(&queue).await.ok(),
                Err(_) => None,
            };
            (
                projection.clone(),
                bindings.filter(|found| !found.is_empty()),
            )
        }
    });
    futures::future::join_all(asked).await.into_iter().collect()
}

/// `<transaction id>.<position>`: how checkpoints are written everywhere in the CLI.
pub(crate) fn checkpoint_text(checkpoint: Checkpoint) -> String {
    format!("{}.{}", checkpoint.transaction_id, checkpoint.position)
}
