//! What the broker reports about each instance (a host names its broker connection after its
//! instance id). Its statistics are sampled every few seconds, so tests poll until the state
//! they are holding still shows up.

use testkit::poll;
use testkit::rabbitmq::unacked_on_connections_named;

use super::support::DEADLINE;

/// Waits until the broker reports `count` unacked messages on the instance.
pub async fn wait_for_unacked(instance_id: &str, count: u64) {
    poll::until(
        &format!("the broker to report {count} unacked messages on {instance_id}"),
        DEADLINE,
        || async { (unacked_on_connections_named(instance_id).await == count).then_some(()) },
    )
    .await;
}
