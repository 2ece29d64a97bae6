//! Where each upstream's instances are: read from the Redis registry in the background (the
//! requests only read the list last written), or, in DNS mode, one address per service that
//! the cluster balances behind.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use service_kit::discovery::{InstanceInfo, Registry};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::balancer::Instance;
use super::upstream::Upstream;

/// DNS mode: each upstream is the one address configured for it.
pub(crate) fn from_dns<'a>(
    upstreams: impl IntoIterator<Item = &'a Arc<Upstream>>,
    dns: &BTreeMap<String, String>,
) {
    for upstream in upstreams {
        match dns.get(upstream.name()) {
            Some(address) => upstream.set_instances(vec![Instance {
                id: upstream.name().to_owned(),
                address: address.trim_end_matches('/').to_owned(),
            }]),
            None => tracing::warn!(
                upstream = upstream.name(),
                "no address in [upstreams.dns]: its requests will be answered unavailable"
            ),
        }
    }
}

/// Reads every upstream's live instances once. A registry that cannot answer leaves the
/// lists as they were: the instances known last are the best guess.
pub(crate) async fn refresh(registry: &Registry, upstreams: &[Arc<Upstream>]) {
    let reads = upstreams.iter().map(|upstream| async move {
        match registry.instances(upstream.name()).await {
            Ok(instances) => upstream.set_instances(instances.into_iter().map(instance).collect()),
            Err(error) => tracing::warn!(
                upstream = upstream.name(),
                %error,
                "discovery could not be read; keeping the instances known last"
            ),
        }
    });
    futures::future::join_all(reads).await;
}

/// Refreshes the lists every `every` until the returned guard is dropped.
pub(crate) fn keep_refreshing(
    registry: Registry,
    upstreams: Vec<Arc<Upstream>>,
    every: Duration,
) -> DropGuard {
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate, and the proxy has just read the lists.
        ticks.tick().await;
        loop {
            tokio::select! {
                () = stopped.cancelled() => return,
                _ = ticks.tick() => refresh(&registry, &upstreams).await,
            }
        }
    });
    stop.drop_guard()
}

fn instance(info: InstanceInfo) -> Instance {
    Instance {
        address: info.address.trim_end_matches('/').to_owned(),
        id: info.instance_id,
    }
}
