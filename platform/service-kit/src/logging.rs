//! Structured logs on stderr: JSON lines for machines, or compact text for a terminal, with a
//! filter that can be replaced while the process runs ([`set_filter`]), which is how the
//! dynamic configuration's `log_filter` takes effect without a restart.

use std::sync::OnceLock;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// The handle on the installed subscriber's filter; set by the [`init`] that installed it.
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

/// Installs the global subscriber once; later calls (tests, several services in one process)
/// keep the first. `RUST_LOG` overrides `default_filter` until [`set_filter`] replaces it;
/// `WAYPOINT_LOG_FORMAT=text` switches from JSON to human-readable lines.
pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let text = std::env::var("WAYPOINT_LOG_FORMAT").is_ok_and(|format| format == "text");
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let installed = if text {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .compact()
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_writer(std::io::stderr),
            )
            .try_init()
    };
    // An error only means a subscriber is already installed, which is what we want; its own
    // handle (if it was ours) stays the one `set_filter` uses.
    if installed.is_ok() {
        let _ = FILTER.set(handle);
    }
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

/// Replaces the filter of the subscriber [`init`] installed, from the next event on.
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
