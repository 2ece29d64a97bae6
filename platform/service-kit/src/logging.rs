//! Structured logs on stderr: JSON lines for machines, or compact text for a terminal, with a
//! filter that can be replaced while the process runs ([`set_filter`]), which is how the
//! dynamic configuration's `log_filter` takes effect without a restart.
//!
//! A JSON line written inside a sampled trace carries its `trace_id` and `span_id` (hex), so
//! a line leads to its trace and a trace to its lines. The subscriber is installed by
//! [`crate::telemetry::Telemetry::init`].

use std::sync::OnceLock;

use opentelemetry::trace::TraceContextExt;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Json, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

/// The filter a service starts with unless `RUST_LOG` says otherwise.
pub const DEFAULT_FILTER: &str = "info";

/// The handle on the installed subscriber's filter; set by the installation that made it.
static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// A filter directive that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LogFilterError {
    #[error("an empty log filter would silence everything; use e.g. `info` or `warn`")]
    Empty,
    #[error("not a valid log filter: {0}")]
    Invalid(String),
    #[error("the log filter could not be replaced: {0}")]
    Reload(String),
}

/// Installs the global subscriber once with logs and trace contexts that propagate, but
/// exports no spans; later calls (tests, several services in one process) keep the first.
/// `RUST_LOG` overrides `default_filter` until [`set_filter`] replaces it. A service's `main`
/// uses [`crate::telemetry::Telemetry::init`] instead, which exports as its settings say.
pub fn init(default_filter: &str) {
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    // Already installed is what a second call expects; nothing to report.
    let _ = crate::telemetry::install(provider, default_filter);
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogFormat {
    Json,
    Text,
}

impl LogFormat {
    /// `WAYPOINT_LOG_FORMAT=text` switches from JSON to human-readable lines.
    pub(crate) fn from_env() -> Self {
        if std::env::var("WAYPOINT_LOG_FORMAT").is_ok_and(|format| format == "text") {
            Self::Text
        } else {
            Self::Json
        }
    }
}

/// `RUST_LOG` if it is set and valid, `default_filter` otherwise.
pub(crate) fn env_filter(default_filter: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter))
}

/// The log lines' layer, writing to `writer`.
pub(crate) fn layer<S, W>(format: LogFormat, writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer().with_writer(writer);
    match format {
        LogFormat::Json => layer
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .map_event_format(WithTraceIds)
            .boxed(),
        LogFormat::Text => layer.compact().boxed(),
    }
}

/// Makes `handle` the one [`set_filter`] replaces; the first installation keeps it.
pub(crate) fn set_filter_handle(handle: reload::Handle<EnvFilter, Registry>) {
    let _ = FILTER.set(handle);
}

/// Parses `directives` as `RUST_LOG` would (`info,gateway=debug`), refusing anything it would
/// have to ignore.
pub fn parse_filter(directives: &str) -> Result<EnvFilter, LogFilterError> {
    if directives.trim().is_empty() {
        return Err(LogFilterError::Empty);
    }
    EnvFilter::builder()
        .parse(directives)
        .map_err(|error| LogFilterError::Invalid(error.to_string()))
}

/// Replaces the filter of the installed subscriber's logs, from the next event on. (Which
/// spans are traced does not depend on it.)
///
/// Without such a subscriber (a test that installed none, or one of its own) there is nothing
/// to filter: the directives are still checked, and a valid filter counts as applied.
pub fn set_filter(directives: &str) -> Result<(), LogFilterError> {
    let filter = parse_filter(directives)?;
    match FILTER.get() {
        Some(handle) => handle
            .reload(filter)
            .map_err(|error| LogFilterError::Reload(error.to_string())),
        None => Ok(()),
    }
}

/// tracing-subscriber's JSON lines with the current trace's ids added.
struct WithTraceIds(Format<Json>);

impl<S> FormatEvent<S, JsonFields> for WithTraceIds
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        // Entering a traced span makes its context the current OpenTelemetry context.
        let current = opentelemetry::Context::current();
        let span = current.span();
        let ids = span.span_context();
        if !(ids.is_valid() && ids.is_sampled()) {
            return self.0.format_event(context, writer, event);
        }
        let mut line = String::new();
        self.0
            .format_event(context, Writer::new(&mut line), event)?;
        // The JSON formatter writes one object and a newline: the ids go before its brace.
        match line.trim_end().strip_suffix('}') {
            Some(object) => writeln!(
                writer,
                r#"{object},"trace_id":"{}","span_id":"{}"}}"#,
                ids.trace_id(),
                ids.span_id()
            ),
            None => writer.write_str(&line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_checked_before_use() {
        assert!(parse_filter("info,gateway=debug").is_ok());
        assert!(parse_filter("warn").is_ok());
        assert!(matches!(parse_filter("  "), Err(LogFilterError::Empty)));
        assert!(matches!(
            parse_filter("gateway=loud"),
            Err(LogFilterError::Invalid(_))
        ));
        assert!(set_filter("info,[{").is_err());
        assert!(set_filter("debug").is_ok());
    }
}
