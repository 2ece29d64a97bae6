//! One module per command.

mod config;
mod dlq;
mod events;
mod rebuild;
mod replay;
mod status;

use clap::Subcommand;

use crate::{CliError, Context, Outcome, Output};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The whole system at a glance; exits 1 when anything is degraded.
    Status(status::Args),
    /// A stream's history, or a service's events.
    Events(events::Args),
    /// Rebuild a projection blue/green from the source stores.
    Rebuild(rebuild::Args),
    /// Republish a service's history to one projection or queue only.
    Replay(replay::Args),
    /// Dead letters: list, show, requeue, drop.
    Dlq(dlq::Args),
    /// The dynamic configuration: get, set, apply, history, diff.
    Config(config::Args),
}

pub async fn run(
    command: Command,
    context: &Context,
    output: &mut Output,
) -> Result<Outcome, CliError> {
    match command {
        Command::Status(args) => status::run(args, context, output).await,
        Command::Events(args) => events::run(args, context, output).await,
        Command::Rebuild(args) => rebuild::run(args, context, output).await,
        Command::Replay(args) => replay::run(args, context, output).await,
        Command::Dlq(args) => dlq::run(args, context, output).await,
        Command::Config(args) => config::run(args, context, output).await,
    }
}
