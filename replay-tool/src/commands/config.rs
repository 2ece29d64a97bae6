//! `waypoint config`: the dynamic configuration, versioned in PostgreSQL, broadcast to every
//! instance on `waypoint.config`.

mod change;
mod convergence;
mod show;

use clap::Subcommand;
use dynamic_config::{ConfigError, ConfigStore};

use crate::{CliError, Context, Outcome, Output};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
The dynamic configuration is one document: log_filter, rate_limit.*, breaker.*,
commands.reply_timeout_ms and features.*. Every change is validated whole, stored as a new
version and broadcast; each instance applies it and reports the version it runs.

Examples:
  waypoint config get
  waypoint config get rate_limit
  waypoint config set rate_limit.per_ip_burst 200 --wait
  waypoint config set log_filter 'info,gateway=debug' -m 'chasing a 502'
  waypoint config apply ops/waypoint-dynamic.toml
  waypoint config history
  waypoint config diff 3 5")]
pub struct Args {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// The current version and its document, or one dotted key of it.
    Get(show::GetArgs),
    /// Set one dotted key: validated, stored as a new version, broadcast.
    Set(change::SetArgs),
    /// Make a whole dynamic-config TOML file the configuration (unchanged: no new version).
    Apply(change::ApplyArgs),
    /// The versions, newest first: who, when, why, and which keys changed.
    History(show::HistoryArgs),
    /// The keys that differ between two versions, old → new.
    Diff(show::DiffArgs),
}

pub async fn run(args: Args, context: &Context, output: &mut Output) -> Result<Outcome, CliError> {
    let store = open_store(context).await?;
    match args.command {
        ConfigCommand::Get(args) => show::get(args, &store, context, output).await,
        ConfigCommand::Set(args) => change::set(args, &store, context, output).await,
        ConfigCommand::Apply(args) => change::apply(args, &store, context, output).await,
        ConfigCommand::History(args) => show::history(args, &store, context, output).await,
        ConfigCommand::Diff(args) => show::diff(args, &store, context, output).await,
    }
}

/// The versions' database, created, migrated and seeded with version 1 on first use.
pub(crate) async fn open_store(context: &Context) -> Result<ConfigStore, CliError> {
    ConfigStore::open(
        &context.settings.postgres,
        &context.settings.config.database,
    )
    .await
    .map_err(|error| cli_error(context, error))
}

/// What the operator can act on, for each way the configuration can fail.
fn cli_error(context: &Context, error: ConfigError) -> CliError {
    let database = &context.settings.config.database;
    match error {
        ConfigError::Database(_) | ConfigError::Sql(_) | ConfigError::Migrate(_) => {
            CliError::database(&format!("the configuration database {database}"), error)
        }
        ConfigError::Redis(error) => CliError::redis(error),
        ConfigError::Publish(error) => CliError::broker(error),
        ConfigError::NoSuchVersion(_) => CliError::new(error.to_string())
            .with_hint("`waypoint config history` lists the versions"),
        ConfigError::Refused(_) | ConfigError::Corrupt { .. } | ConfigError::Encoding(_) => {
            CliError::new(error.to_string())
        }
    }
}
