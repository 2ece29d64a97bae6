//! The process-wide Prometheus recorder behind the `metrics` macros.
//!
//! Services record with `metrics::counter!`, `metrics::gauge!` and `metrics::histogram!`.
//! Latencies are recorded in seconds under names ending in `_seconds` (the Prometheus
//! convention); those render as Prometheus histograms with [`LATENCY_BUCKETS`]. Other
//! histograms render as summaries.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Bucket bounds in seconds for latencies from a millisecond to ten seconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Histograms whose name ends with this get [`LATENCY_BUCKETS`].
pub const LATENCY_SUFFIX: &str = "_seconds";

/// Without a scrape, unrendered histogram samples pile up; upkeep folds them in. This is the
/// exporter's own default period.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Renders what the installed recorder holds. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MetricsHandle {
    prometheus: PrometheusHandle,
}

impl MetricsHandle {
    /// The Prometheus text exposition of every metric recorded so far.
    pub fn render(&self) -> String {
        self.prometheus.render()
    }
}

static INSTALLED: OnceLock<MetricsHandle> = OnceLock::new();

/// Installs the Prometheus recorder for the whole process on the first call; every call
/// returns the same handle (services in one process, and tests, call it many times).
pub fn install() -> MetricsHandle {
    INSTALLED.get_or_init(install_once).clone()
}

fn install_once() -> MetricsHandle {
    let builder = match PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix(LATENCY_SUFFIX.to_owned()), LATENCY_BUCKETS)
    {
        Ok(builder) => builder,
        // Only an empty bucket list fails, which LATENCY_BUCKETS is not; summaries beat a panic.
        Err(error) => {
            tracing::warn!(%error, "latency buckets refused; histograms render as summaries");
            PrometheusBuilder::new()
        }
    };
    let recorder = builder.build_recorder();
    let prometheus = recorder.handle();
    if let Err(error) = ::metrics::set_global_recorder(recorder) {
        // Someone else installed a recorder first: ours then renders nothing, which is worth a
        // warning but not a crash.
        tracing::warn!(%error, "a metrics recorder was already installed; /metrics stays empty");
    }
    let upkeep = prometheus.clone();
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "could not start metrics upkeep; scrapes still fold samples in");
    }
    MetricsHandle { prometheus }
}
