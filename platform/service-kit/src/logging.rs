//! Structured logs on stderr: JSON lines for machines, or compact text for a terminal.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls (tests, several services in one process)
/// keep the first. `RUST_LOG` overrides `default_filter`; `WAYPOINT_LOG_FORMAT=text` switches
/// from JSON to human-readable lines.
pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let text = std::env::var("WAYPOINT_LOG_FORMAT").is_ok_and(|format| format == "text");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // An error only means a subscriber is already installed, which is what we want.
    let _ = if text {
        builder.compact().try_init()
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    };
}
