//! Queues and dead letters, from the management API.

use serde::Serialize;

use message_bus::Bus;

use super::Section;
use super::management::{Management, QueueInfo};
use crate::commands::dlq::session::queue_depth;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct QueueRow {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub messages: u64,
    pub consumers: u64,
    /// Per second, as the broker last sampled them.
    pub publish_rate: f64,
    pub deliver_rate: f64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct DeadLetterRow {
    pub queue: String,
    /// Where its messages failed: `projection.review-feed`, `commands.places`, ...
    pub source: String,
    pub messages: u64,
}

/// Every Waypoint queue; degraded when messages wait on one that nothing consumes. Dead-letter
/// queues are never consumed and are reported apart.
pub(crate) fn queues(
    listed: &Result<Vec<QueueInfo>, String>,
    dead_letter_prefix: &str,
) -> Section<Vec<QueueRow>> {
    let listed = match listed {
        Ok(listed) => listed,
        Err(error) => return Section::failed(error.clone()),
    };
    let rows: Vec<QueueRow> = listed
        .iter()
        .filter(|queue| !queue.name.starts_with(dead_letter_prefix))
        .map(|queue| QueueRow {
            name: queue.name.clone(),
            kind: queue.kind.clone(),
            messages: queue.messages,
            consumers: queue.consumers,
            publish_rate: queue.publish_rate(),
            deliver_rate: queue.deliver_rate(),
        })
        .collect();
    let problems = rows
        .iter()
        .filter(|queue| queue.messages > 0 && queue.consumers == 0)
        .map(|queue| {
            format!(
                "{}: {} messages wait and nothing consumes them",
                queue.name, queue.messages
            )
        })
        .collect();
    Section::new(rows, problems)
}

/// The dead-letter queues; any message in one is degraded. Counted over AMQP when the broker
/// can be reached that way, so a dead letter just dropped or just arrived shows at once.
pub(crate) async fn dead_letters(
    listed: &Result<Vec<QueueInfo>, String>,
    dead_letter_prefix: &str,
    bus: Option<&Bus>,
) -> Section<Vec<DeadLetterRow>> {
    let listed = match listed {
        Ok(listed) => listed,
        Err(error) => return Section::failed(error.clone()),
    };
    let counted = listed.iter().filter_map(|queue| {
        let source = queue.name.strip_prefix(dead_letter_prefix)?;
        Some(async move {
            let exact = match bus {
                Some(bus) => queue_depth(bus, &queue.name).await.ok(),
                None => None,
            };
            let messages = match exact {
                Some(Some(messages)) => u64::from(messages),
                // Deleted since it was listed.
                Some(None) => return None,
                None => queue.messages,
            };
            Some(DeadLetterRow {
                queue: queue.name.clone(),
                source: source.to_owned(),
                messages,
            })
        })
    });
    let rows: Vec<DeadLetterRow> = futures::future::join_all(counted)
        .await
        .into_iter()
        .flatten()
        .collect();
    let problems = rows
        .iter()
        .filter(|row| row.messages > 0)
        .map(|row| {
            format!(
                "{}: {} dead letters (see `waypoint dlq show {}`)",
                row.queue, row.messages, row.source
            )
        })
        .collect();
    Section::new(rows, problems)
}

/// Every queue under the configured prefix, or why the broker could not be asked.
pub(crate) async fn list(
    management: &Result<Management, String>,
    prefix: &str,
) -> Result<Vec<QueueInfo>, String> {
    match management {
        Ok(management) => management
            .queues(prefix)
            .await
            .map_err(|error| error.problem),
        Err(error) => Err(error.clone()),
    }
}
