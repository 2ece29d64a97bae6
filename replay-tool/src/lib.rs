//! The `waypoint` CLI: the operator's view of a running Waypoint and the tools to repair it.
//!
//! # Layout
//!
//! - `settings.rs`: where the system is (databases, broker, Redis), layered like a service's.
//! - `context.rs`: [`Context`], the settings with the connections commands open on demand.
//! - `output.rs`: [`Output`], tables for people, `--json` for scripts, progress bars.
//! - `error.rs`: [`CliError`], what went wrong and what to do.
//! - `commands/`: one module per command: `status`, `events`, `rebuild`, `replay`, `dlq`,
//!   `config`.
//!
//! Exit codes: 0 healthy or done, 1 degraded or failed, 2 usage error (clap's own).

mod commands;
mod context;
mod error;
mod output;
mod settings;

use std::process::ExitCode;

use clap::Parser;
use service_kit::settings::ConfigSources;

pub use commands::Command;
pub use context::Context;
pub use error::CliError;
pub use output::Output;
pub use settings::{BrokerSettings, CliSettings, ConfigSettings, DEFAULT_SETTINGS};

/// Waypoint's operator tool.
#[derive(Debug, Parser)]
#[command(name = "waypoint", version, about, long_about = None)]
pub struct Cli {
    /// Print one JSON document instead of tables, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// How a command ended, as its exit code says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done, or everything is healthy: 0.
    Ok,
    /// Something is degraded or did not complete: 1.
    Degraded,
}

impl From<Outcome> for ExitCode {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Ok => ExitCode::SUCCESS,
            Outcome::Degraded => ExitCode::from(1),
        }
    }
}

/// Runs one parsed command line against `context`, writing to `output`.
pub async fn run(cli: Cli, context: &Context, output: &mut Output) -> Result<Outcome, CliError> {
    commands::run(cli.command, context, output).await
}

/// The whole `main`: parse (usage errors exit 2), load settings, run, map the outcome.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut output = Output::stdout(cli.json);
    let settings: CliSettings =
        match service_kit::settings::load(&ConfigSources::from_env(DEFAULT_SETTINGS)) {
            Ok(settings) => settings,
            Err(error) => {
                let error = CliError::new(error.to_string())
                    .with_hint("check WAYPOINT_CONFIG_DIR's files and the WAYPOINT__* variables");
                eprintln!("{error}");
                return ExitCode::from(1);
            }
        };
    let context = Context::new(settings);
    match run(cli, &context, &mut output).await {
        Ok(outcome) => outcome.into(),
        Err(error) => {
            eprintln!("{error}");
            ExitCode::from(1)
        }
    }
}
