//! Logs and traces: the one global `tracing` subscriber of a process, and OpenTelemetry.
//!
//! [`Telemetry::init`] installs a subscriber with two layers:
//! - the log lines of [`crate::logging`], filtered by `RUST_LOG` or the dynamic configuration;
//! - `tracing-opentelemetry`, which turns spans into OpenTelemetry spans. A tracer provider is
//!   always installed, so every traced span has a trace id and a span id that travel in
//!   `traceparent` headers and show in the JSON logs; only with an OTLP endpoint configured are
//!   the spans also exported (OTLP over HTTP, in batches, with `service.name` = the service).
//!
//! Only spans that declare their kind (`otel.kind = "server"`, `"producer"`, ...) are traced:
//! a command's causal chain from the gateway's request to each projection. The other spans (a
//! consumer's session, a connection's supervisor) live for hours and would hold a trace open
//! that long; they give log lines their context and nothing else.
//!
//! [`propagation`] carries span contexts across processes as W3C `traceparent` strings.

mod propagation;

pub use propagation::{add_link, set_parent, traceparent, untraced_child};

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use serde::Deserialize;
use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::filter::{FilterFn, LevelFilter};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Filter, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry, reload};

use crate::logging::{self, LogFormat};

/// Where the OTLP/HTTP exporter sends spans, below the configured endpoint.
const TRACES_PATH: &str = "/v1/traces";
/// How long one export may take before it is given up: a collector that is away must not
/// hold back the batches behind it.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);
/// The instrumentation scope of every span.
const TRACER: &str = "waypoint";

/// The `[telemetry]` section of a service's settings; a missing section means the defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct TelemetrySettings {
    /// The OTLP/HTTP collector's base URL, e.g. `http://jaeger:4318` (spans go to its
    /// `/v1/traces`). Empty: nothing is exported, though trace contexts still propagate.
    pub otlp_endpoint: String,
    /// The share of new traces recorded, 0.0 to 1.0. A trace continued from a caller keeps
    /// the caller's decision.
    pub sample_ratio: f64,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            otlp_endpoint: String::new(),
            sample_ratio: 1.0,
        }
    }
}

/// The global subscriber is installed already: the first one stays.
#[derive(Debug, thiserror::Error)]
#[error("a global tracing subscriber is installed already")]
pub struct AlreadyInstalled;

/// The installed tracer provider; [`Telemetry::shutdown`] sends what it still holds.
#[derive(Debug)]
#[must_use = "call `shutdown` on the way out, or spans still buffered are lost"]
pub struct Telemetry {
    /// None when another subscriber was installed first: that one's owner flushes it.
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// What a service's `main` calls with its settings: logs on stderr and traces, exported
    /// when `settings` name an endpoint. A second call in one process (several services in
    /// one binary) keeps the first subscriber.
    pub fn init(service: &str, settings: &TelemetrySettings) -> Self {
        let (provider, unusable_endpoint) = tracer_provider(service, settings);
        let telemetry =
            install(provider, logging::DEFAULT_FILTER).unwrap_or(Self { provider: None });
        if let Some(error) = unusable_endpoint {
            tracing::warn!(
                endpoint = %settings.otlp_endpoint,
                %error,
                "traces cannot be exported to this endpoint; they are recorded but not sent"
            );
        }
        telemetry
    }

    /// Installs the same subscriber around a given provider: tests pass one that exports to
    /// memory.
    pub fn install(provider: SdkTracerProvider) -> Result<Self, AlreadyInstalled> {
        install(provider, logging::DEFAULT_FILTER)
    }

    /// Exports the spans still buffered and stops exporting.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "the last spans could not be exported");
        }
    }
}

/// Builds the provider `settings` ask for, and why its exporter could not be made, if so.
fn tracer_provider(
    service: &str,
    settings: &TelemetrySettings,
) -> (
    SdkTracerProvider,
    Option<opentelemetry_otlp::ExporterBuildError>,
) {
    let builder = SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            settings.sample_ratio,
        ))))
        .with_resource(
            Resource::builder()
                .with_service_name(service.to_owned())
                .build(),
        );
    let endpoint = settings.otlp_endpoint.trim_end_matches('/');
    if endpoint.is_empty() {
        return (builder.build(), None);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{endpoint}{TRACES_PATH}"))
        .with_timeout(EXPORT_TIMEOUT)
        .build();
    match exporter {
        Ok(exporter) => (builder.with_batch_exporter(exporter).build(), None),
        Err(error) => (builder.build(), Some(error)),
    }
}

/// Installs the global subscriber: log lines on stderr filtered by `default_filter` (or
/// `RUST_LOG`) through a filter [`logging::set_filter`] can replace, and the traced spans
/// through `provider`.
pub(crate) fn install(
    provider: SdkTracerProvider,
    default_filter: &str,
) -> Result<Telemetry, AlreadyInstalled> {
    let (filter, handle) = reload::Layer::new(logging::env_filter(default_filter));
    let installed =
        subscriber(&provider, filter, LogFormat::from_env(), std::io::stderr).try_init();
    match installed {
        Ok(()) => {
            logging::set_filter_handle(handle);
            Ok(Telemetry {
                provider: Some(provider),
            })
        }
        Err(_) => {
            // Ours would never see a span; stop its processors rather than leave them idle.
            let _ = provider.shutdown();
            Err(AlreadyInstalled)
        }
    }
}

/// The subscriber: log lines through `log_filter` to `writer`, traced spans to `provider`.
fn subscriber<F, W>(
    provider: &SdkTracerProvider,
    log_filter: F,
    format: LogFormat,
    writer: W,
) -> impl Subscriber + Send + Sync + for<'span> LookupSpan<'span>
where
    F: Filter<Registry> + Send + Sync + 'static,
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let logs = logging::layer(format, writer).with_filter(log_filter);
    let traces = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(TRACER))
        .with_filter(FilterFn::new(traced).with_max_level_hint(LevelFilter::INFO));
    tracing_subscriber::registry().with(logs).with(traces)
}

/// What the OpenTelemetry layer sees, down to `info`: spans that declare their kind, and the
/// log events in them (as span events).
fn traced(metadata: &Metadata<'_>) -> bool {
    *metadata.level() <= Level::INFO
        && (metadata.is_event() || metadata.fields().field("otel.kind").is_some())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use opentelemetry_sdk::trace::InMemorySpanExporter;
    use serde_json::Value;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Settings {
        #[serde(default)]
        telemetry: TelemetrySettings,
    }

    #[test]
    fn settings_without_a_telemetry_section_export_nothing_and_sample_everything() {
        let settings: Settings =
            crate::settings::load(&crate::settings::ConfigSources::new("")).unwrap();
        assert_eq!(settings.telemetry, TelemetrySettings::default());
        assert!(settings.telemetry.otlp_endpoint.is_empty());
        assert!((settings.telemetry.sample_ratio - 1.0).abs() < f64::EPSILON);

        let partial: Settings = crate::settings::load(&crate::settings::ConfigSources::new(
            "[telemetry]\notlp_endpoint = \"http://jaeger:4318\"",
        ))
        .unwrap();
        assert_eq!(partial.telemetry.otlp_endpoint, "http://jaeger:4318");
        assert!((partial.telemetry.sample_ratio - 1.0).abs() < f64::EPSILON);
    }

    /// Log lines written into memory, one JSON object each.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Lines {
        fn parsed(&self) -> Vec<Value> {
            let bytes = self.0.lock().unwrap().clone();
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(|line| serde_json::from_str(line).unwrap())
                .collect()
        }
    }

    #[test]
    fn json_lines_in_a_traced_span_carry_its_ids() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = subscriber(&provider, LevelFilter::INFO, LogFormat::Json, move || {
            writer.clone()
        });
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("outside any span");
            tracing::info_span!("session").in_scope(|| {
                tracing::info!("in a span that is not traced");
                tracing::info_span!("command.handle", otel.kind = "consumer").in_scope(|| {
                    tracing::info!(answer = 42, "in a traced span");
                });
            });
        });

        let spans = exporter.get_finished_spans().unwrap();
        let names: Vec<&str> = spans.iter().map(|span| span.name.as_ref()).collect();
        assert_eq!(
            names,
            ["command.handle"],
            "only spans with a kind are traced"
        );
        let traced = &spans[0].span_context;

        let lines = lines.parsed();
        assert_eq!(lines.len(), 3, "{lines:?}");
        for untraced in &lines[..2] {
            assert!(untraced.get("trace_id").is_none(), "{untraced}");
            assert!(untraced.get("span_id").is_none(), "{untraced}");
        }
        let line = &lines[2];
        assert_eq!(line["message"], "in a traced span");
        assert_eq!(line["answer"], 42, "the event's own fields stay");
        assert_eq!(line["span"]["name"], "command.handle");
        assert_eq!(line["trace_id"], traced.trace_id().to_string());
        assert_eq!(line["span_id"], traced.span_id().to_string());
        assert_eq!(line["trace_id"].as_str().map(str::len), Some(32));
        assert_eq!(line["span_id"].as_str().map(str::len), Some(16));
    }
}
