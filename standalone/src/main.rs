//! `waypoint-standalone`: all of Waypoint in one process, on this machine's default ports.

use std::io::Write;
use std::process::ExitCode;

use message_bus::CancellationToken;
use service_kit::settings::ConfigSources;
use service_kit::telemetry::Telemetry;
use standalone::Standalone;
use standalone::settings::{DEFAULT_SETTINGS, StandaloneSettings};

#[tokio::main]
async fn main() -> ExitCode {
    let sources = ConfigSources::from_env(DEFAULT_SETTINGS);
    let settings = match StandaloneSettings::load(&sources) {
        Ok(settings) => settings,
        Err(error) => {
            // Before logging is set up, which needs these settings.
            eprintln!("Waypoint did not start: {error}");
            return ExitCode::FAILURE;
        }
    };
    let telemetry = Telemetry::init("waypoint-standalone", &settings.telemetry);
    let code = run(sources).await;
    telemetry.shutdown();
    code
}

async fn run(sources: ConfigSources) -> ExitCode {
    let system = match Standalone::start(sources).await {
        Ok(system) => system,
        Err(error) => {
            tracing::error!(%error, "Waypoint did not start");
            return ExitCode::FAILURE;
        }
    };
    // The banner is for the person at the terminal; logs stay on stderr.
    let _ = std::io::stdout().write_all(standalone::banner(&system).as_bytes());
    let signalled = CancellationToken::new();
    service_kit::shutdown::cancel_on_signal(signalled.clone());
    let crashed = tokio::select! {
        () = signalled.cancelled() => false,
        () = system.crashed() => true,
    };
    system.stop().await;
    if crashed {
        tracing::error!("a part stopped by itself; everything else was stopped too");
        return ExitCode::FAILURE;
    }
    tracing::info!("stopped");
    ExitCode::SUCCESS
}
